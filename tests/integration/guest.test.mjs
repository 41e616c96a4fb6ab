// Guest sign-in (docs/protocol.md "HTTP API", docs/security-auth.md "Guest
// sign-in"): POST /auth/guest?name=NAME hands out the token `webrtc2d token`
// would mint, GET /api/info says whether it is on. On in the embedded
// default, off with a config file unless the file (or the environment)
// turns it on.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  AUDIENCE, Client, DOMAIN, WAIT_MS, closeAll, connect, daemonEnv, httpGet, nowS, rawHttp,
  renderConfig, runDaemonCli, sleep, startDaemon, uniqueUser,
} from './lib.mjs';

const daemons = [];
after(async () => { await Promise.all(daemons.map((d) => d.stop())); });

async function start(opts) {
  const d = await startDaemon(opts);
  daemons.push(d);
  return d;
}

/** POST /auth/guest with `query` (already encoded); resolves {status, headers, json}. */
async function post(d, query, { headers = {} } = {}) {
  const r = await httpGet(d.port, `/auth/guest${query}`, { method: 'POST', headers });
  const isJson = r.headers['content-type'] === 'application/json' && r.body.length;
  return { ...r, json: isJson ? JSON.parse(r.body.toString('utf8')) : null };
}

/**
 * post(), but waits out the server-wide rate limit (20 a second), which the
 * tests other than the one about it must not trip over.
 */
async function guest(d, query, opts) {
  for (let i = 0; i < 50; i++) {
    const r = await post(d, query, opts);
    if (r.status !== 429) return r;
    await sleep(100);
  }
  throw new Error('still rate-limited after 5 s');
}

function claims(token) {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
}

async function info(d) {
  const r = await httpGet(d.port, '/api/info');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['cache-control'], 'no-store');
  return JSON.parse(r.body.toString('utf8'));
}

function assertError(r, status, code) {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status} ${r.body}`);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.deepEqual(Object.keys(r.json), ['error', 'message']);
  assert.equal(r.json.error, code);
  assert.match(r.json.message, /^[A-Z].+\.$/);
}

describe('embedded default (no config file)', () => {
  let d;
  test('starts with guest sign-in on', async () => {
    d = await start({ noConfig: true });
    assert.deepEqual(await info(d), { v: 1, domain: DOMAIN, guestTokens: true });
  });

  test('issues the token `webrtc2d token` would, and hello accepts it', async () => {
    const name = uniqueUser('g');
    const t0 = nowS();
    const r = await guest(d, `?name=${name}`);
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.deepEqual(Object.keys(r.json), ['token', 'peer', 'expires']);
    assert.equal(r.json.peer, `${name}@${DOMAIN}`);
    assert.ok(r.json.expires >= t0 + 43200 && r.json.expires <= nowS() + 43200, `expires ${r.json.expires}`);
    const g = claims(r.json.token);
    assert.equal(g.payload.sub, name);
    assert.equal(g.payload.exp, r.json.expires);
    assert.equal(g.payload.exp - g.payload.iat, 43200);

    // The CLI, with the same (generated) key and the same ttl.
    const cli = runDaemonCli(['token', '--user', name, '--ttl', '43200'], { cwd: d.dir });
    assert.equal(cli.status, 0, cli.stderr);
    const c = claims(cli.stdout.trim());
    assert.deepEqual(c.header, g.header);
    assert.deepEqual(Object.keys(c.payload).sort(), Object.keys(g.payload).sort());
    assert.equal(c.payload.exp - c.payload.iat, 43200);

    const a = await connect(d, name, { token: r.json.token });
    assert.equal(a.welcome.peer, r.json.peer);
    await closeAll(a);
  });

  test('logs neither the name nor the token at info level', async () => {
    const name = uniqueUser('secretname');
    const r = await guest(d, `?name=${name}`);
    assert.equal(r.status, 200);
    await sleep(100);
    const log = d.log.join('');
    assert.ok(!log.includes(name), 'the guest name is in the log');
    assert.ok(!log.includes(r.json.token.split('.')[2]), 'the token is in the log');
  });
});

describe('with a config file', () => {
  let on;   // guest_tokens: true in the file
  let off;  // nothing said: off

  test('off unless the file asks: 404 guest-disabled, info says false', async () => {
    off = await start();
    assert.deepEqual(await info(off), { v: 1, domain: DOMAIN, guestTokens: false });
    assertError(await post(off, `?name=${uniqueUser()}`), 404, 'guest-disabled');
    // HEAD works on the info too.
    const h = await httpGet(off.port, '/api/info', { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.body.length, 0);
  });

  test('the environment turns it off over the file', async () => {
    const d = await start({ auth: ['guest_tokens: true'], env: { WEBRTC2_AUTH_GUEST_TOKENS: 'false' } });
    assert.equal((await info(d)).guestTokens, false);
    assertError(await post(d, `?name=${uniqueUser()}`), 404, 'guest-disabled');
  });

  test('guest_tokens: true: a token with the configured audience that hello accepts', async () => {
    on = await start({ auth: ['guest_tokens: true'] });
    assert.deepEqual(await info(on), { v: 1, domain: DOMAIN, guestTokens: true });
    const name = uniqueUser('g');
    const r = await guest(on, `?name=${name}`);
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(claims(r.json.token).payload.aud, AUDIENCE);
    const a = await connect(on, name, { token: r.json.token });
    await closeAll(a);
  });

  test('bad names: 400 bad-name', async () => {
    const cases = [
      '', '?', '?name', '?name=', '?nam=x', `?name=${'a'.repeat(65)}`, '?name=.x', '?name=%2Ex',
      '?name=a%20b', '?name=a+b', '?name=%zz', '?name=%4', '?name=a%00', '?name=%C3%A9',
      '?name=a%40localhost', '?name=a/b', '?name=a&name=b',
    ];
    for (const q of cases) {
      const r = await guest(on, q);
      assert.ok(r.status === 400, `${JSON.stringify(q)}: ${r.status} ${r.body}`);
      assertError(r, 400, 'bad-name');
    }
    // 64 bytes and percent-encoded letters are fine.
    assert.equal((await guest(on, `?name=${'b'.repeat(60)}${crypto.randomBytes(2).toString('hex')}`)).status, 200);
    const name = uniqueUser('pct');
    const r = await guest(on, `?x=1&name=${[...name].map((ch) => `%${ch.charCodeAt(0).toString(16)}`).join('')}&y=2`);
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json.peer, `${name}@${DOMAIN}`);
  });

  test('409 name-taken while the user is online, 200 again once they left', async () => {
    const name = uniqueUser('online');
    const a = await connect(on, name);
    assertError(await guest(on, `?name=${name}`), 409, 'name-taken');
    // Names are case-sensitive, as users are.
    assert.equal((await guest(on, `?name=${name.toUpperCase()}`)).status, 200);
    await closeAll(a);
    const deadline = Date.now() + WAIT_MS;
    let r;
    do {
      r = await guest(on, `?name=${name}`);
      if (r.status === 200) break;
      await sleep(30);
    } while (Date.now() < deadline);
    assert.equal(r.status, 200, r.body.toString());
  });

  test('405 for other methods, with Allow: POST', async () => {
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE']) {
      const r = await httpGet(on.port, `/auth/guest?name=${uniqueUser()}`, { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'POST');
      if (method !== 'HEAD') assertError({ ...r, json: JSON.parse(r.body) }, 405, 'method-not-allowed');
    }
    // POST anywhere else is still refused as before.
    const r = await httpGet(on.port, '/api/info', { method: 'POST' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'GET, HEAD');
  });

  test('413 for a request with a body; Content-Length: 0 is fine', async () => {
    const name = uniqueUser();
    const withBody = Buffer.from(`POST /auth/guest?name=${name} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello`);
    const r = await rawHttp(on.port, withBody);
    assert.equal(r.status, 413);
    assert.equal(JSON.parse(r.body).error, 'body-not-accepted');
    const chunked = Buffer.from(`POST /auth/guest?name=${name} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    assert.equal((await rawHttp(on.port, chunked)).status, 413);
    const empty = await guest(on, `?name=${name}`, { headers: { 'Content-Length': '0' } });
    assert.equal(empty.status, 200);
  });

  test('SIGHUP turns it off and on again', async () => {
    fs.writeFileSync(on.configPath, renderConfig({ dir: on.dir, port: on.port }));
    on.signal('SIGHUP');
    const deadline = Date.now() + WAIT_MS;
    while ((await info(on)).guestTokens && Date.now() < deadline) await sleep(30);
    assertError(await post(on, `?name=${uniqueUser()}`), 404, 'guest-disabled');
    fs.writeFileSync(on.configPath, renderConfig({ dir: on.dir, port: on.port, auth: ['guest_tokens: true'] }));
    on.signal('SIGHUP');
    while (!(await info(on)).guestTokens && Date.now() < deadline + WAIT_MS) await sleep(30);
    assert.equal((await guest(on, `?name=${uniqueUser()}`)).status, 200);
    on.assertAlive();
  });
});

describe('ttl and rate limit (enabled from the environment)', () => {
  let d;

  test('guest_token_ttl is the lifetime: expires, session closed 4002, hello then refused', async () => {
    d = await start({ env: { WEBRTC2_AUTH_GUEST_TOKENS: 'true', WEBRTC2_AUTH_GUEST_TOKEN_TTL: '2' } });
    const name = uniqueUser('short');
    const t0 = nowS();
    const r = await guest(d, `?name=${name}`);
    assert.equal(r.status, 200, r.body.toString());
    assert.ok(r.json.expires >= t0 + 2 && r.json.expires <= nowS() + 2, `expires ${r.json.expires}`);
    assert.equal(claims(r.json.token).payload.exp, r.json.expires);
    const a = await connect(d, name, { token: r.json.token });
    const closed = await a.waitClose(3000 + WAIT_MS);
    assert.equal(closed.code, 4002);
    const b = await Client.open(d.url);
    b.send({ type: 'hello', v: 1, token: r.json.token });
    const e = await b.nextError('unauthorized');
    assert.match(e.message, /expired/i);
    await closeAll(b);
  });

  test('429 rate-limited after a burst, then served again', async () => {
    let limited = null;
    let served = 0;
    for (let i = 0; i < 200 && !limited; i++) {
      const r = await post(d, `?name=${uniqueUser('burst')}`);
      if (r.status === 429) limited = r;
      else if (r.status === 200) served++;
      else assert.fail(`unexpected ${r.status} ${r.body}`);
    }
    assert.ok(limited, 'no 429 within 200 requests');
    assert.ok(served >= 20, `only ${served} served before the limit`);
    assertError(limited, 429, 'rate-limited');
    assert.equal(limited.headers['retry-after'], '1');
    await sleep(1100);
    assert.equal((await post(d, `?name=${uniqueUser()}`)).status, 200);
  });
});

describe('a config that cannot sign', () => {
  test('guest_tokens with public keys only: check-config and start-up fail with the line', async () => {
    const dir = fs.mkdtempSync(path.join(daemonEnv().TMPDIR ?? '/tmp', 'w2-guest-'));
    try {
      const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      fs.writeFileSync(path.join(dir, 'idp.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
      const cfg = path.join(dir, 'webrtc2d.yaml');
      fs.writeFileSync(cfg, [
        `state_dir: ${JSON.stringify(path.join(dir, 'var'))}`,
        'auth:',
        '  keys:',
        '    - alg: ES256',
        '      public_key_file: idp.pem',
        '  guest_tokens: true',
        '',
      ].join('\n'));
      const want = /line 6: auth\.guest_tokens: needs a key the daemon can sign with/;
      const check = runDaemonCli(['check-config', cfg]);
      assert.equal(check.status, 1);
      assert.match(check.stderr, want);
      const run = runDaemonCli(['--config', cfg]);
      assert.equal(run.status, 1);
      assert.match(run.stderr, want);
      // Turned on from the environment instead: refused the same way.
      fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('  guest_tokens: true\n', ''));
      assert.equal(runDaemonCli(['check-config', cfg]).status, 0);
      const env = runDaemonCli(['--config', cfg], { env: daemonEnv({ WEBRTC2_AUTH_GUEST_TOKENS: 'true' }) });
      assert.equal(env.status, 1);
      assert.match(env.stderr, /WEBRTC2_AUTH_GUEST_TOKENS: needs a key the daemon can sign with/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
