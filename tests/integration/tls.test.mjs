// webrtc2d over TLS: a loopback listener with `tls: true` and no configured
// certificate gets a generated self-signed one (docs/operations.md), speaks
// TLS 1.3 only, and carries the same protocol as plain ws.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { DOMAIN, WAIT_MS, freePort, mintToken, rawMember, sleep, startDaemon, uniqueUser } from './lib.mjs';

/** Opens a wss session and returns {ws, welcome, next(type)}. */
function wssSession(port, user, device) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/signal`, { rejectUnauthorized: false, handshakeTimeout: WAIT_MS });
    const queue = [];
    const waiters = [];
    ws.on('message', (m) => {
      const raw = m.toString();
      queue.push(raw);
      while (waiters.length) waiters.shift()();
      if (raw.includes('"welcome"')) resolve(session);
    });
    ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', v: 1, token: mintToken(user), device })));
    ws.once('error', reject);
    const session = {
      ws,
      async next(type) {
        const deadline = Date.now() + WAIT_MS;
        for (;;) {
          const i = queue.findIndex((r) => JSON.parse(r).type === type);
          if (i >= 0) return queue.splice(i, 1)[0];
          if (Date.now() > deadline) throw new Error(`no ${type} within ${WAIT_MS} ms`);
          await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
        }
      },
    };
  });
}

describe('TLS listener', () => {
  let d;
  let tlsPort;
  before(async () => {
    tlsPort = await freePort();
    d = await startDaemon({ tlsPort });
  });
  after(async () => d?.stop());

  test('a self-signed certificate is generated, its key private, and a warning logged', () => {
    assert.ok(fs.existsSync(`${d.dir}/var/tls/cert.pem`));
    assert.equal(fs.statSync(`${d.dir}/var/tls/key.pem`).mode & 0o077, 0, 'key.pem is not readable by others');
    assert.match(d.logTail(50), /SELF-SIGNED/);
  });

  test('wss: hello, welcome, and a 60 KiB signal relayed byte for byte', async () => {
    const a = uniqueUser('tlsa');
    const b = uniqueUser('tlsb');
    const alice = await wssSession(tlsPort, a, 'laptop');
    const bob = await wssSession(tlsPort, b, 'phone');
    const data = `{"sdp":"${'v=0\\r\\n a=candidate é 🎉 '.repeat(2200)}"}`;
    alice.ws.send(`{"type":"signal","to":"${b}@${DOMAIN}","data":${data}}`);
    const got = await bob.next('signal');
    assert.equal(rawMember(got, 'data'), data);
    assert.equal(JSON.parse(got).fromDevice, 'laptop');
    alice.ws.close();
    bob.ws.close();
  });

  test('TLS 1.2 is refused with a protocol_version alert', async () => {
    const err = await new Promise((resolve) => {
      const s = tls.connect({ port: tlsPort, host: '127.0.0.1', maxVersion: 'TLSv1.2', rejectUnauthorized: false });
      s.once('secureConnect', () => { s.destroy(); resolve(null); });
      s.once('error', resolve);
    });
    assert.ok(err, 'a TLS 1.2 handshake must fail');
    assert.match(String(err.message), /protocol version|alert number 70/i);
  });

  test('https /healthz answers 200; plain HTTP on the TLS port gets no HTTP answer', async () => {
    const status = await new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: tlsPort, path: '/healthz', rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject);
    });
    assert.equal(status, 200);
    const answer = await new Promise((resolve) => {
      let got = '';
      const s = net.connect(tlsPort, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('data', (b) => { got += b.toString('latin1'); });
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      setTimeout(() => s.destroy(), WAIT_MS);
    });
    assert.ok(!answer.startsWith('HTTP/'), 'the TLS port must not speak plain HTTP');
    await sleep(50);
    d.assertAlive();
  });
});
