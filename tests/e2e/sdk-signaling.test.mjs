// The SDK's signaling layer (web/sdk/signaling.js) in real Chromium pages
// loaded from the real daemon: what a developer using SignalingClient sees.
//
// The daemons here serve a copy of the repository's web/ folder (the SDK is
// imported from /sdk/signaling.js); the restart test starts a second daemon
// on the SAME port.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { DOMAIN, freePort, mintToken, sleep, startDaemon, uniqueUser } from '../integration/lib.mjs';
import { launchBrowser } from './browser.mjs';

const WEB = path.join(process.env.W2_SOURCE_DIR
  ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'web');

/** A daemon serving the repository's web/, on `port` if given. */
function startWebDaemon(port) {
  return startDaemon({ web: WEB, port });
}

// Runs in the page: creates a SignalingClient as window.sc and records what
// a developer's listeners would see in window.seen. Resolves with the
// welcome, or {error: {code, message}} when ready rejects.
function pageClient(page, opts) {
  return page.evaluate(async ({ token, device, servers }) => {
    const { SignalingClient } = await import('/sdk/signaling.js');
    // A list of tokens is handed out in turn, the last one ever after.
    const tokens = Array.isArray(token) ? [...token] : [token];
    const sc = new SignalingClient({
      servers: servers ?? `ws://${location.host}/signal`,
      token: () => Promise.resolve(tokens.length > 1 ? tokens.shift() : tokens[0]),
      device,
    });
    window.sc = sc;
    window.seen = { signal: [], member: [], error: [], state: [], message: [] };
    for (const type of Object.keys(window.seen)) {
      sc.addEventListener(type, (e) => window.seen[type].push(
        e.detail instanceof Error ? { code: e.detail.code, message: e.detail.message } : e.detail));
    }
    try {
      return await sc.ready;
    } catch (e) {
      return { error: { name: e.name, code: e.code, message: e.message } };
    }
  }, opts);
}

/** Waits (<= 5 s) until window.seen[kind] holds an entry matching `pred` (source text). */
function waitSeen(page, kind, predSource = '() => true') {
  return page.waitForFunction(([k, src]) => {
    const pred = new Function(`return (${src});`)();
    return window.seen[k].find((x) => pred(x)) ?? false;
  }, [kind, predSource], { timeout: 5000 }).then((h) => h.jsonValue());
}

/** Waits (<= 5 s) until the 'state' events seen, joined by commas, equal `expected`. */
async function waitStates(page, expected) {
  try {
    await page.waitForFunction((e) => window.seen.state.map((s) => s.state).join() === e, expected, { timeout: 5000 });
  } catch (e) {
    const seen = await page.evaluate(() => window.seen.state.map((s) => s.state).join());
    throw new Error(`states ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}: ${e.message}`);
  }
}

describe('SDK SignalingClient in Chromium against webrtc2d', () => {
  let d;
  let browser;
  let context;
  before(async () => {
    [d, browser] = await Promise.all([startWebDaemon(), launchBrowser()]);
    // One context: each page has its own window and SignalingClient, and
    // the SDK keeps nothing in storage, so pages need no further isolation.
    context = await browser.newContext();
  });
  after(async () => {
    await browser?.close();
    await d?.stop();
  });

  async function newPage() {
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${d.port}/`);
    return page;
  }

  /** Opens n pages in parallel. */
  function newPages(n) {
    return Promise.all(Array.from({ length: n }, newPage));
  }

  test('ready resolves with the welcome; two clients relay a signal with fromDevice', async () => {
    const [ua, ub] = [uniqueUser('sa'), uniqueUser('sb')];
    const [pa, pb] = await newPages(2);
    const wa = await pageClient(pa, { token: mintToken(ua), device: 'laptop' });
    const wb = await pageClient(pb, { token: mintToken(ub) });
    assert.equal(wa.type, 'welcome');
    assert.equal(wa.peer, `${ua}@${DOMAIN}`);
    assert.equal(wa.device, 'laptop');
    assert.equal(wb.peer, `${ub}@${DOMAIN}`);
    assert.ok(wa.session && Array.isArray(wa.iceServers) && wa.limits.maxMessageBytes > 0);
    assert.equal(await pa.evaluate(() => window.sc.state), 'open');
    const data = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n', n: 2.5e3, nested: [1, { a: null }] };
    const sent = await pa.evaluate(([to, dt]) => window.sc.signal(to, dt).then(() => 'resolved'), [wb.peer, data]);
    assert.equal(sent, 'resolved');
    const got = await waitSeen(pb, 'signal');
    assert.deepEqual(got, { from: wa.peer, fromDevice: 'laptop', data });
    // The receiver answers that one device.
    await pb.evaluate(([to]) => window.sc.signal(to, { type: 'answer' }), [`${got.from}/${got.fromDevice}`]);
    assert.deepEqual((await waitSeen(pa, 'signal')).data, { type: 'answer' });
    await pa.evaluate(() => window.sc.close());
    await pb.evaluate(() => window.sc.close());
    assert.equal(await pa.evaluate(() => window.sc.state), 'closed');
  });

  test('a bad token: ready rejects with code unauthorized and the server sentence', async () => {
    const p = await newPage();
    const r = await pageClient(p, { token: mintToken('x', { secret: 'wrong-secret-0123456789abcdef0123456789' }) });
    assert.equal(r.error?.code, 'unauthorized', JSON.stringify(r));
    assert.equal(r.error.name, 'SignalingError');
    assert.ok(r.error.message.length > 0 && r.error.message !== 'unauthorized', r.error.message);
    assert.equal(await p.evaluate(() => window.sc.state), 'closed');
  });

  test('no server reachable: ready rejects with code unreachable', async () => {
    const p = await newPage();
    const dead = await freePort();
    const r = await pageClient(p, { token: mintToken(uniqueUser('su')), servers: [`ws://127.0.0.1:${dead}/signal`] });
    assert.equal(r.error?.code, 'unreachable', JSON.stringify(r));
  });

  test('a signal to an offline peer rejects with code peer-unavailable', async () => {
    const p = await newPage();
    await pageClient(p, { token: mintToken(uniqueUser('so')) });
    const r = await p.evaluate((to) => window.sc.signal(to, { x: 1 }).then(() => ({ resolved: true }),
      (e) => ({ code: e.code, ref: e.ref, message: e.message })), `${uniqueUser('nobody')}@${DOMAIN}`);
    assert.equal(r.code, 'peer-unavailable', JSON.stringify(r));
    assert.ok(r.ref, 'the error carries the ref of the signal');
    assert.deepEqual(await p.evaluate(() => window.seen.error), [], 'an error with a ref is not an error event');
    await p.evaluate(() => window.sc.close());
  });

  test('request() join resolves joined; the other member gets a member event', async () => {
    const [ua, ub] = [uniqueUser('ja'), uniqueUser('jb')];
    const [pa, pb] = await newPages(2);
    const wa = await pageClient(pa, { token: mintToken(ua) });
    const wb = await pageClient(pb, { token: mintToken(ub) });
    const room = `standup-${ua}`;
    const ja = await pa.evaluate((r) => window.sc.request({ type: 'join', room: r }), room);
    assert.equal(ja.type, 'joined');
    assert.deepEqual(ja.members, []);
    const jb = await pb.evaluate((r) => window.sc.request({ type: 'join', room: r }), room);
    assert.deepEqual(jb.members, [{ peer: wa.peer, device: wa.device }]);
    assert.deepEqual(await waitSeen(pa, 'member'), { room, peer: wb.peer, device: wb.device, event: 'joined' });
    const pong = await pa.evaluate(() => window.sc.request({ type: 'ping' }));
    assert.equal(pong.type, 'pong');
    const bad = await pa.evaluate(() => window.sc.request({ type: 'leave', room: 'never-joined' })
      .then(() => null, (e) => e.code));
    assert.equal(bad, 'not-in-room');
    await pa.evaluate(() => window.sc.close());
    await pb.evaluate(() => window.sc.close());
  });

  test('a newer session of the same device replaces the older: closed with code replaced, no reconnect', async () => {
    const u = uniqueUser('rp');
    const [p1, p2] = await newPages(2);
    await pageClient(p1, { token: mintToken(u), device: 'phone' });
    await pageClient(p2, { token: mintToken(u), device: 'phone' });
    assert.deepEqual(await waitSeen(p1, 'error'), { code: 'replaced', message: 'replaced by a newer session of this device' });
    await waitStates(p1, 'open,closed');
    await sleep(300); // past the first backoff step: still closed
    assert.equal(await p1.evaluate(() => window.sc.state), 'closed');
    assert.equal(await p2.evaluate(() => window.sc.state), 'open');
    await p2.evaluate(() => window.sc.close());
  });

  test('a token near expiry is refreshed in place, the session outlives it', async () => {
    const u = uniqueUser('tr');
    const p = await newPage();
    const t0 = Date.now();
    const short = mintToken(u, { claims: { exp: Math.floor(t0 / 1000) + 3 } });
    const w = await pageClient(p, { token: [short, mintToken(u)] });
    assert.equal(w.peer, `${u}@${DOMAIN}`);
    const refreshed = await waitSeen(p, 'message', "(m) => m.type === 'refreshed'");
    assert.ok(refreshed.expires > Math.floor(t0 / 1000) + 60, JSON.stringify(refreshed));
    await sleep(Math.max(0, (Math.floor(t0 / 1000) + 3) * 1000 + 300 - Date.now())); // past the first token's exp
    assert.equal(await p.evaluate(() => window.seen.state.map((s) => s.state).join()), 'open');
    assert.deepEqual(await p.evaluate(() => window.seen.error), []);
    assert.equal((await p.evaluate(() => window.sc.request({ type: 'ping' }))).type, 'pong');
    await p.evaluate(() => window.sc.close());
  });

  test('daemon restarted on the same port: reconnecting, then open, rooms re-joined, signals flow', async () => {
    const r = await startWebDaemon();
    let r2;
    try {
      const servers = [`ws://127.0.0.1:${r.port}/signal`];
      const [ua, ub] = [uniqueUser('ra'), uniqueUser('rb')];
      const [pa, pb] = await newPages(2);
      const wa = await pageClient(pa, { token: mintToken(ua), device: 'desk', servers });
      const wb = await pageClient(pb, { token: mintToken(ub), servers });
      assert.equal(wa.peer, `${ua}@${DOMAIN}`);
      const room = `restart-${ua}`;
      await pa.evaluate((rm) => window.sc.join(rm), room);

      await r.stop();
      await waitStates(pa, 'open,reconnecting');
      r2 = await startWebDaemon(r.port);
      await waitStates(pa, 'open,reconnecting,open');
      await waitStates(pb, 'open,reconnecting,open');
      assert.equal(await pa.evaluate(() => window.sc.welcome.device), 'desk');
      assert.notEqual(await pa.evaluate(() => window.sc.welcome.session), wa.session);

      // The room was joined again by itself: b finds a in it.
      const jb = await pb.evaluate((rm) => window.sc.join(rm), room);
      assert.deepEqual(jb.members, [{ peer: wa.peer, device: 'desk' }]);

      await pb.evaluate((to) => window.sc.signal(to, { after: 'restart' }), wa.peer);
      assert.deepEqual(await waitSeen(pa, 'signal'), { from: wb.peer, fromDevice: wb.device, data: { after: 'restart' } });
      await pa.evaluate(() => window.sc.close());
      await pb.evaluate(() => window.sc.close());
    } finally {
      await r.stop();
      await r2?.stop();
    }
  });
});
