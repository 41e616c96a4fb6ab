// HTTP on the signaling port: /healthz, /metrics, static files, and the
// daemon's signal handling (docs/protocol.md "HTTP endpoints on the same
// port", "Close codes"; docs/architecture.md "Shutdown and reload").

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  Client, DOMAIN, RawClient, SECRET_FILE_CONTENT, WAIT_MS, WEB_FILES, closeAll, connect, httpGet,
  parseMetrics, rawHttp, scrape, sleep, startDaemon, uniqueUser,
} from './lib.mjs';

let d;
before(async () => { d = await startDaemon(); });
afterEach(() => { d.assertAlive(); });
after(async () => { await d?.stop(); });

/** A value of one series; fails if the series is absent. */
function series(m, name) {
  assert.ok(m.has(name), `/metrics has no series ${name}; it has: ${[...m.keys()].join(', ')}`);
  return m.get(name);
}

/**
 * One keep-alive HTTP connection: request() sends a GET and resolves the
 * next response (Content-Length framed), or null if the server closed.
 */
function keepAlive(port) {
  const sock = net.connect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  let closed = false;
  let wake = () => {};
  sock.on('data', (b) => { buf = Buffer.concat([buf, b]); wake(); });
  sock.on('close', () => { closed = true; wake(); });
  sock.on('error', () => { closed = true; wake(); });
  const ready = new Promise((r) => sock.once('connect', r));
  return {
    sock,
    async request(target) {
      await ready;
      if (closed) return null;
      sock.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end >= 0) {
          const head = buf.subarray(0, end).toString('latin1');
          const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
          if (buf.length >= end + 4 + len) {
            const body = buf.subarray(end + 4, end + 4 + len).toString();
            buf = buf.subarray(end + 4 + len);
            return { status: Number(head.slice(9, 12)), head, body };
          }
        }
        if (closed) return null;
        if (Date.now() > deadline) throw new Error(`no answer to ${target} on a kept-alive connection`);
        await new Promise((r) => { wake = r; setTimeout(r, 50); });
      }
    },
    close() { sock.destroy(); },
  };
}

describe('healthz and metrics', () => {
  test('GET /healthz answers 200 ok', async () => {
    const r = await httpGet(d.port, '/healthz');
    assert.equal(r.status, 200);
    assert.match(r.body.toString(), /^ok\b/i);
  });

  test('HEAD /healthz answers 200 without a body', async () => {
    const r = await httpGet(d.port, '/healthz', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
  });

  test('GET /metrics is Prometheus text', async () => {
    const r = await httpGet(d.port, '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] ?? '', /^text\/plain/);
    const text = r.body.toString();
    const m = parseMetrics(text); // throws on a malformed sample line
    assert.ok(m.size > 5);
    for (const name of ['webrtc2_connections', 'webrtc2_sessions', 'webrtc2_messages_in_total', 'webrtc2_messages_out_total']) {
      series(m, name);
      assert.match(text, new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'));
    }
    assert.match(text, /^webrtc2_errors_total\{code="bad-json"\} \d+$/m, 'errors by code');
    assert.match(text, /^webrtc2_bytes_queued \d+$/m, 'bytes queued');
  });

  test('counters move when a client connects, sends, errs and leaves', async () => {
    const m0 = await scrape(d);
    const c = await connect(d, uniqueUser('m'));
    for (let i = 0; i < 5; i++) await c.roundTrip();
    c.send('{bad');
    await c.nextError('bad-json');
    const m1 = await scrape(d);
    assert.equal(series(m1, 'webrtc2_connections') - series(m0, 'webrtc2_connections'), 1, 'one more open connection');
    assert.equal(series(m1, 'webrtc2_sessions') - series(m0, 'webrtc2_sessions'), 1, 'one more session');
    assert.equal(series(m1, 'webrtc2_sessions_total') - series(m0, 'webrtc2_sessions_total'), 1);
    assert.ok(series(m1, 'webrtc2_connections_total') - series(m0, 'webrtc2_connections_total') >= 2, 'the WebSocket and the scrape');
    const inDiff = series(m1, 'webrtc2_messages_in_total') - series(m0, 'webrtc2_messages_in_total');
    const outDiff = series(m1, 'webrtc2_messages_out_total') - series(m0, 'webrtc2_messages_out_total');
    assert.ok(inDiff >= 7, `hello + 5 pings + 1 bad frame in, counted ${inDiff}`);
    assert.ok(outDiff >= 7, `welcome + 5 pongs + 1 error out, counted ${outDiff}`);
    const errKey = 'webrtc2_errors_total{code="bad-json"}';
    assert.equal(series(m1, errKey) - series(m0, errKey), 1);
    assert.ok(series(m1, 'webrtc2_bytes_in_total') > series(m0, 'webrtc2_bytes_in_total'));
    assert.ok(series(m1, 'webrtc2_bytes_out_total') > series(m0, 'webrtc2_bytes_out_total'));
    await c.close();
    let m2;
    for (let i = 0; i < 20; i++) {
      m2 = await scrape(d);
      if (series(m2, 'webrtc2_sessions') === series(m0, 'webrtc2_sessions')) break;
      await sleep(50);
    }
    assert.equal(series(m2, 'webrtc2_sessions'), series(m0, 'webrtc2_sessions'), 'the session is gone');
    assert.equal(series(m2, 'webrtc2_connections'), series(m0, 'webrtc2_connections'), 'the connection is gone');
  });

  test('the rooms gauge follows joins and leaves', async () => {
    const m0 = await scrape(d);
    const c = await connect(d, uniqueUser('rm'));
    c.send({ type: 'join', room: 'metrics-room' });
    await c.next('joined');
    const m1 = await scrape(d);
    assert.equal(series(m1, 'webrtc2_rooms') - series(m0, 'webrtc2_rooms'), 1);
    c.send({ type: 'leave', room: 'metrics-room' });
    await c.next('left');
    const m2 = await scrape(d);
    assert.equal(series(m2, 'webrtc2_rooms'), series(m0, 'webrtc2_rooms'));
    await c.close();
  });
});

describe('static files', () => {
  const types = {
    'index.html': /^text\/html\b/,
    'app.js': /^text\/javascript\b/,
    'style.css': /^text\/css\b/,
    'data.json': /^application\/json\b/,
    'icon.svg': /^image\/svg\+xml\b/,
    'mod.wasm': /^application\/wasm$/,
  };
  for (const [name, type] of Object.entries(types)) {
    test(`GET /${name}: content, type and caching headers`, async () => {
      const r = await httpGet(d.port, `/${name}`);
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'] ?? '', type);
      assert.deepEqual(r.body, Buffer.from(WEB_FILES[name]));
      assert.equal(Number(r.headers['content-length']), Buffer.byteLength(WEB_FILES[name]));
      const cc = r.headers['cache-control'] ?? '';
      if (name.endsWith('.html')) {
        assert.match(cc, /\bno-cache\b/, `HTML is revalidated: ${cc}`);
      } else {
        assert.match(cc, /\bmax-age=\d+/, `cacheable: ${cc}`);
        assert.ok(r.headers.etag, 'ETag for validation');
      }
    });
  }

  test('If-None-Match with the ETag answers 304 without a body; another ETag answers 200', async () => {
    for (const name of ['app.js', 'style.css', 'mod.wasm']) {
      const r = await httpGet(d.port, `/${name}`);
      const etag = r.headers.etag;
      assert.ok(etag);
      const r304 = await httpGet(d.port, `/${name}`, { headers: { 'If-None-Match': etag } });
      assert.equal(r304.status, 304);
      assert.equal(r304.body.length, 0);
      assert.equal(r304.headers.etag, etag);
      const rList = await httpGet(d.port, `/${name}`, { headers: { 'If-None-Match': `"nope", ${etag}` } });
      assert.equal(rList.status, 304, 'an ETag in a list matches');
      const r200 = await httpGet(d.port, `/${name}`, { headers: { 'If-None-Match': '"something-else"' } });
      assert.equal(r200.status, 200);
    }
  });

  test('the ETag changes when the file changes', async () => {
    const p = `${d.dir}/web/changing.js`;
    fs.writeFileSync(p, 'let v = 1;\n');
    const a = await httpGet(d.port, '/changing.js');
    await sleep(1100); // mtime granularity of some file systems
    fs.writeFileSync(p, 'let v = 22;\n');
    const b = await httpGet(d.port, '/changing.js');
    assert.equal(b.body.toString(), 'let v = 22;\n');
    assert.notEqual(a.headers.etag, b.headers.etag);
    const r = await httpGet(d.port, '/changing.js', { headers: { 'If-None-Match': a.headers.etag } });
    assert.equal(r.status, 200, 'the old ETag no longer validates');
  });

  test('GET / serves index.html', async () => {
    const r = await httpGet(d.port, '/');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] ?? '', /^text\/html\b/);
    assert.equal(r.body.toString(), WEB_FILES['index.html']);
  });

  test('a file in a subdirectory, and a query string is ignored', async () => {
    const r = await httpGet(d.port, '/sub/page.html?x=1&y=%2e%2e');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), WEB_FILES['sub/page.html']);
  });

  test('a percent-encoded name is decoded', async () => {
    fs.writeFileSync(`${d.dir}/web/with space.txt`, 'spaced\n');
    const r = await httpGet(d.port, '/with%20space.txt');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'spaced\n');
  });

  test('HEAD answers the headers of GET without a body', async () => {
    const r = await httpGet(d.port, '/app.js', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(WEB_FILES['app.js']));
    assert.match(r.headers['content-type'] ?? '', /^text\/javascript\b/);
  });

  test('a missing file answers 404', async () => {
    for (const t of ['/missing.html', '/sub/missing.js', '/missing/deeper/file.css']) {
      const r = await httpGet(d.port, t);
      assert.equal(r.status, 404, t);
    }
  });

  const traversal = [
    '/../secret.txt',
    '/../../../../../../../../etc/passwd',
    '/sub/../../secret.txt',
    '/./../secret.txt',
    '//../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E/secret.txt',
    '/.%2e/secret.txt',
    '/%2e%2e%2fsecret.txt',
    '/..%2fsecret.txt',
    '/..%2Fsecret.txt',
    '/sub/..%2f..%2fsecret.txt',
    '/sub/%2e%2e/%2e%2e/secret.txt',
    '/%252e%252e/secret.txt',
    '/..%5csecret.txt',
    '/..\\secret.txt',
    '/%c0%ae%c0%ae/secret.txt',
    '/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/index.html%00.js',
    '/index.html%00',
    '/%00../secret.txt',
    '../secret.txt',
    '/secret.txt',
  ];
  for (const target of traversal) {
    test(`path traversal stays inside the web root: ${target}`, async () => {
      const r = await rawHttp(d.port, Buffer.from(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'));
      const body = r.body.toString('latin1');
      assert.ok(!body.includes(SECRET_FILE_CONTENT), `served the file outside the web root (status ${r.status})`);
      assert.ok(!/root:.*:0:0:/.test(body), `served /etc/passwd (status ${r.status})`);
      assert.ok(r.status === 0 || (r.status >= 400 && r.status < 500), `status ${r.status}`);
      d.assertAlive();
    });
  }

  test('a raw NUL byte in the request target does not serve a file', async () => {
    const r = await rawHttp(d.port, Buffer.from('GET /index.html\x00.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1'));
    assert.ok(r.status === 0 || r.status >= 400, `status ${r.status}`);
    d.assertAlive();
  });

  test('a symlink out of the web root is not followed', async () => {
    fs.symlinkSync('../secret.txt', `${d.dir}/web/escape.txt`);
    const r = await httpGet(d.port, '/escape.txt');
    assert.ok(!r.body.toString().includes(SECRET_FILE_CONTENT), `served through a symlink (status ${r.status})`);
  });

  test('methods other than GET and HEAD answer 405 with Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      for (const target of ['/index.html', '/healthz', '/metrics', '/signal']) {
        const body = method === 'POST' || method === 'PUT' ? 'x=1' : '';
        const r = await rawHttp(d.port, Buffer.from(`${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`));
        assert.equal(r.status, 405, `${method} ${target}`);
        assert.match(r.headers.allow ?? '', /\bGET\b/, `${method} ${target}: Allow header`);
      }
    }
  });

  test('a request announcing a body is answered at once, not after the body', async () => {
    // 100 MB announced, 3 bytes sent: the answer must not wait for the rest.
    const t0 = Date.now();
    const post = await rawHttp(d.port, Buffer.from('POST /signal HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nabc'));
    assert.equal(post.status, 405);
    const get = await rawHttp(d.port, Buffer.from('GET /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello'));
    assert.equal(get.status, 413, 'a GET with a body is refused');
    const chunked = await rawHttp(d.port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'));
    assert.equal(chunked.status, 413, 'a chunked body is refused');
    assert.ok(Date.now() - t0 < 2000, 'answered without waiting for the bodies');
    d.assertAlive();
  });

  test('a WebSocket upgrade on another path is refused; plain GET /signal is not a file', async () => {
    await assert.rejects(Client.open(`ws://127.0.0.1:${d.port}/other`));
    const r = await httpGet(d.port, '/signal');
    assert.notEqual(r.status, 200);
    assert.notEqual(r.status, 101);
  });

  test('garbage instead of HTTP gets 400 or a close, and the daemon lives on', async () => {
    for (const junk of ['HELLO\r\n\r\n', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03', `GET /${'a'.repeat(20000)} HTTP/1.1\r\n\r\n`]) {
      const r = await rawHttp(d.port, Buffer.from(junk, 'latin1'));
      assert.ok(r.status === 0 || (r.status >= 400 && r.status < 600), `status ${r.status}`);
    }
    d.assertAlive();
    assert.equal((await httpGet(d.port, '/healthz')).status, 200);
  });

  test('several requests on one kept-alive connection', async () => {
    const k = keepAlive(d.port);
    for (const t of ['/healthz', '/app.js', '/missing', '/metrics']) {
      const r = await k.request(t);
      assert.ok(r, `answer to ${t}`);
      assert.equal(r.status, t === '/missing' ? 404 : 200, t);
    }
    k.close();
  });
});

describe('signals', () => {
  test('SIGHUP reloads the config without dropping sessions', async () => {
    const aUser = uniqueUser('hupa');
    const bUser = uniqueUser('hupb');
    const a = await connect(d, aUser, { device: 'x' });
    const b = await connect(d, bUser, { device: 'y' });
    const cfg = fs.readFileSync(d.configPath, 'utf8');
    fs.writeFileSync(d.configPath, cfg.replace(/messages_per_second: \d+/, 'messages_per_second: 61'));
    d.signal('SIGHUP');
    await sleep(300);
    d.assertAlive();
    assert.ok(a.isOpen && b.isOpen, 'sessions survive SIGHUP');
    await a.expectNone(undefined, 0);
    await a.roundTrip();
    a.send({ type: 'signal', to: `${bUser}@${DOMAIN}`, id: 'h', data: 'after-hup' });
    assert.equal((await b.next('signal')).data, 'after-hup');
    // New sessions see the reloaded limit.
    const c = await connect(d, uniqueUser('hupc'));
    assert.equal(c.welcome.limits.messagesPerSecond, 61);
    // An invalid config is refused and the daemon keeps running.
    fs.writeFileSync(d.configPath, cfg.replace(/room_size: \d+/, 'room_size: many'));
    d.signal('SIGHUP');
    await sleep(300);
    d.assertAlive();
    await a.roundTrip();
    const c2 = await connect(d, uniqueUser('hupd'));
    assert.equal(c2.welcome.limits.messagesPerSecond, 61, 'the running config stays');
    fs.writeFileSync(d.configPath, cfg);
    await closeAll(a, b, c, c2);
  });

  test('SIGTERM: sessions get close 1001, the process exits 0 within the drain timeout', async () => {
    const d2 = await startDaemon();
    try {
      const a = await connect(d2, uniqueUser('terma'));
      const b = await connect(d2, uniqueUser('termb'));
      const pre = await Client.open(d2.url); // not yet authenticated
      // A raw client that never answers the close keeps the drain going
      // until the timeout (2000 ms in the test config).
      const stubborn = await RawClient.open(d2.port);
      await stubborn.hello(uniqueUser('stub'));
      const t0 = Date.now();
      d2.signal('SIGTERM');
      const [ca, cb, cp] = await Promise.all([a.waitClose(), b.waitClose(), pre.waitClose()]);
      assert.equal(ca.code, 1001);
      assert.equal(cb.code, 1001);
      assert.equal(cp.code, 1001);
      const sc = await stubborn.waitClose();
      assert.equal(sc.code, 1001);
      const exit = await Promise.race([d2.exited, sleep(2000 + 1000).then(() => null)]);
      assert.ok(exit, `exited within the drain timeout (+1 s); log:\n${d2.logTail()}`);
      assert.equal(exit.code, 0, `exit status; log:\n${d2.logTail()}`);
      assert.ok(Date.now() - t0 <= 3000);
      await assert.rejects(httpGet(d2.port, '/healthz', { timeout: 500 }), 'nothing listens after exit');
      stubborn.destroy();
    } finally {
      await d2.stop();
    }
  });

  test('during the SIGTERM drain /healthz answers 503 draining', async () => {
    // A load balancer polls /healthz on a kept-alive connection or a new
    // one; while a session still drains (this one never answers the close,
    // so draining lasts the 2 s drain timeout) it must learn "503 draining".
    const d2 = await startDaemon();
    try {
      const stubborn = await RawClient.open(d2.port);
      await stubborn.hello(uniqueUser('stub'));
      const k = keepAlive(d2.port);
      assert.equal((await k.request('/healthz')).status, 200);
      d2.signal('SIGTERM');
      await stubborn.waitClose();
      const kept = await k.request('/healthz').catch(() => null);
      const fresh = await httpGet(d2.port, '/healthz', { timeout: 500 }).catch(() => null);
      const seen = [kept, fresh].filter(Boolean);
      assert.ok(seen.length > 0, 'during the drain no /healthz answer can be had: the kept-alive connection was closed and new connections are refused');
      for (const r of seen) {
        assert.equal(r.status, 503);
        assert.match(r.body.toString(), /draining/);
      }
      k.close();
      stubborn.destroy();
    } finally {
      await d2.stop();
    }
  });

  test('SIGTERM with no clients exits 0 at once', async () => {
    const d3 = await startDaemon();
    const t0 = Date.now();
    d3.signal('SIGTERM');
    const exit = await Promise.race([d3.exited, sleep(WAIT_MS).then(() => null)]);
    try {
      assert.ok(exit, 'exited');
      assert.equal(exit.code, 0);
      assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
    } finally {
      await d3.stop();
    }
  });

  test('the daemon is still alive', () => { d.assertAlive(); });
});
