// Real browsers speak protocol v1 to the real daemon: two Chromium pages sign
// in over the browser's own WebSocket and relay a signal byte for byte.
// (The SDK and the web app of issue 3 build on this rig.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DOMAIN, mintToken, startDaemon, uniqueUser } from '../integration/lib.mjs';
import { launchBrowser } from './browser.mjs';

// Runs in the page: opens /signal, signs in, and keeps every frame received.
async function pageSignIn(page, token) {
  return page.evaluate((tok) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/signal`, 'webrtc2.v1');
    window.w2frames = [];
    window.w2ws = ws;
    ws.onmessage = (e) => {
      window.w2frames.push(e.data);
      const m = JSON.parse(e.data);
      if (m.type === 'welcome') resolve({ welcome: m, protocol: ws.protocol });
      if (m.type === 'error') reject(new Error(`${m.code}: ${m.message}`));
    };
    ws.onerror = () => reject(new Error('WebSocket error'));
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1, token: tok }));
  }), token);
}

async function waitFrame(page, predicateSource) {
  return page.waitForFunction((src) => {
    const pred = new Function('raw', `return (${src})(raw);`);
    return window.w2frames.find((raw) => pred(raw)) ?? false;
  }, predicateSource, { timeout: 5000 }).then((h) => h.jsonValue());
}

describe('Chromium against webrtc2d', () => {
  let d;
  let browser;
  before(async () => {
    d = await startDaemon();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await d?.stop();
  });

  test('two pages sign in and relay a signal byte for byte', async () => {
    const [ua, ub] = [uniqueUser('pa'), uniqueUser('pb')];
    const pa = await (await browser.newContext()).newPage();
    const pb = await (await browser.newContext()).newPage();
    await pa.goto(`http://127.0.0.1:${d.port}/`);
    await pb.goto(`http://127.0.0.1:${d.port}/`);
    const a = await pageSignIn(pa, mintToken(ua));
    const b = await pageSignIn(pb, mintToken(ub));
    assert.equal(a.welcome.peer, `${ua}@${DOMAIN}`);
    assert.equal(a.protocol, 'webrtc2.v1', 'the server selects the offered subprotocol');
    assert.equal(b.welcome.peer, `${ub}@${DOMAIN}`);
    const data = '{ "sdp" : "v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n", "type":"offer", "n": 2.50e3 }';
    await pa.evaluate(([to, raw]) => window.w2ws.send(`{"type":"signal","to":"${to}","data":${raw}}`),
      [`${ub}@${DOMAIN}`, data]);
    const got = await waitFrame(pb, `(raw) => raw.includes('"type":"signal"')`);
    assert.equal(got, `{"type":"signal","from":"${ua}@${DOMAIN}","fromDevice":"${a.welcome.device}","data":${data}}`);
  });

  test('a bad token is refused with unauthorized in the browser too', async () => {
    const p = await (await browser.newContext()).newPage();
    await p.goto(`http://127.0.0.1:${d.port}/`);
    await assert.rejects(pageSignIn(p, mintToken('x', { secret: 'wrong-secret-0123456789abcdef0123456789' })),
      /unauthorized/);
  });
});
