// The browser SDK's calls (web/sdk/webrtc2.js) between real Chromium pages
// through a real webrtc2d: media both ways, the data channel, glare,
// renegotiation, refusals, and a daemon restart in the middle of a call.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DOMAIN, mintToken, sleep, uniqueUser } from '../integration/lib.mjs';
import { launchBrowser } from './browser.mjs';
import { mediaCounters, pageCall, pageClient, startWebDaemon, waitFor } from './pages.mjs';

const AV = { audio: true, video: { width: 320, height: 240 } };

/** Asserts that media flows into `page`: its counters grow over `ms`. */
async function assertMediaFlowing(page, label, ms = 1500) {
  const a = await mediaCounters(page);
  await sleep(ms);
  const b = await mediaCounters(page);
  assert.ok(b.framesDecoded > a.framesDecoded, `${label}: video frames decoded grow (${a.framesDecoded} -> ${b.framesDecoded})`);
  assert.ok(b.audioBytesReceived > a.audioBytesReceived,
    `${label}: audio bytes received grow (${a.audioBytesReceived} -> ${b.audioBytesReceived})`);
}

describe('SDK calls between two Chromium pages through webrtc2d', () => {
  let d;
  let browser;
  before(async () => {
    [d, browser] = await Promise.all([startWebDaemon(), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await d?.stop();
  });

  /** Two pages (separate browser contexts: two people), each with a client. */
  async function twoUsers(optsA = {}, optsB = {}, daemon = d) {
    const users = [uniqueUser('ca'), uniqueUser('cb')];
    const pages = await Promise.all(users.map(async () => {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(`http://127.0.0.1:${daemon.port}/`);
      return page;
    }));
    const ids = await Promise.all(pages.map((p, i) => pageClient(p, { token: mintToken(users[i]), ...[optsA, optsB][i] })));
    for (const id of ids) assert.ok(id.peerId, JSON.stringify(id));
    return { pa: pages[0], pb: pages[1], a: `${users[0]}@${DOMAIN}`, b: `${users[1]}@${DOMAIN}` };
  }

  async function closePages(...pages) {
    await Promise.all(pages.map((p) => p.context().close()));
  }

  test('an audio/video call: media flows both ways, chat round trip, hang-up seen on both sides', async () => {
    const { pa, pb, a, b } = await twoUsers({}, { autoAccept: AV });
    const call = await pageCall(pa, b, AV);
    assert.ok(call.ok, JSON.stringify(call));
    // The callee saw who calls and with what.
    const inc = await pb.evaluate(() => window.seen.incoming);
    assert.equal(inc.length, 1);
    assert.equal(inc[0].from, a);
    assert.deepEqual(inc[0].media, { audio: true, video: true });
    await waitFor(pb, () => window.conn?.state === 'connected');
    // The ICE servers are the ones the server handed out in welcome.
    assert.deepEqual(await pa.evaluate(() => window.conn.peerConnection.getConfiguration().iceServers.map((s) => s.urls)),
      [['stun:stun.example.org:3478']]);
    // onRemoteStream was set after connect() resolved and still got the stream.
    await waitFor(pa, () => window.seen.streams.length === 1);
    await waitFor(pb, () => window.seen.streams.length === 1);
    await Promise.all([assertMediaFlowing(pa, 'caller'), assertMediaFlowing(pb, 'callee')]);

    await pa.evaluate(() => window.conn.send('hello from a'));
    await waitFor(pb, () => window.seen.messages.includes('hello from a'));
    await pb.evaluate(() => window.conn.send('hello back'));
    await waitFor(pa, () => window.seen.messages.includes('hello back'));

    const stats = await pa.evaluate(() => window.conn.getConnectionStats());
    assert.equal(stats.candidateType, 'host');
    assert.ok(stats.rttMs !== null && stats.rttMs >= 0 && stats.rttMs < 50, JSON.stringify(stats));
    assert.ok(stats.bitrateKbps > 0, JSON.stringify(stats));
    assert.ok(stats.qualityScore >= 4 && stats.qualityScore <= 4.5, JSON.stringify(stats));
    assert.ok(stats.packetLoss >= 0 && stats.packetLoss < 0.05, JSON.stringify(stats));

    // Mute and camera off: the tracks stop carrying signal but stay.
    const flags = await pa.evaluate(() => {
      window.conn.setMicrophoneEnabled(false);
      window.conn.setCameraEnabled(false);
      const r = [window.conn.microphoneEnabled, window.conn.cameraEnabled];
      window.conn.setMicrophoneEnabled(true);
      window.conn.setCameraEnabled(true);
      return [...r, window.conn.microphoneEnabled, window.conn.cameraEnabled];
    });
    assert.deepEqual(flags, [false, false, true, true]);

    await pa.evaluate(() => window.conn.close());
    await waitFor(pa, () => window.seen.closed.length === 1);
    await waitFor(pb, () => window.seen.closed.length === 1);
    assert.deepEqual(await pa.evaluate(() => window.seen.closed), ['hangup']);
    assert.deepEqual(await pb.evaluate(() => window.seen.closed), ['remote-hangup']);
    // The caller's camera is released; both sides hold no connection.
    assert.equal(await pa.evaluate(() => window.conn.localStream.getTracks().every((t) => t.readyState === 'ended')), true);
    assert.equal(await pa.evaluate(() => window.client.connections.length), 0);
    assert.equal(await pb.evaluate(() => window.client.connections.length), 0);
    assert.deepEqual(await pa.evaluate(() => window.seen.error), []);
    assert.deepEqual(await pb.evaluate(() => window.seen.error), []);
    await closePages(pa, pb);
  });

  test('a data-only connection carries 10 MB in 64 KiB chunks intact, in order', async () => {
    const { pa, pb, b } = await twoUsers({}, { autoAccept: {} });
    const call = await pageCall(pa, b); // no mediaConstraints: data only
    assert.ok(call.ok, JSON.stringify(call));
    assert.equal(await pa.evaluate(() => window.conn.peerConnection.getTransceivers().length), 0);
    await waitFor(pb, () => window.conn?.state === 'connected');
    // The receiver hashes what arrives; the sender hashes what it sent.
    await pb.evaluate(() => {
      window.rx = { bytes: 0, chunks: [] };
      window.conn.onMessage = (m) => {
        window.rx.bytes += m.byteLength;
        window.rx.chunks.push(m);
      };
    });
    const sent = await pa.evaluate(async () => {
      const total = 10 * 1024 * 1024;
      const chunk = 64 * 1024;
      const all = new Uint8Array(total);
      for (let off = 0; off < total; off += 65536) crypto.getRandomValues(all.subarray(off, off + 65536));
      for (let off = 0; off < total; off += chunk) await window.conn.send(all.subarray(off, off + chunk));
      const h = await crypto.subtle.digest('SHA-256', all);
      return { total, hash: [...new Uint8Array(h)].map((x) => x.toString(16).padStart(2, '0')).join('') };
    });
    await pb.waitForFunction((n) => window.rx.bytes >= n, sent.total, { timeout: 30000 });
    const got = await pb.evaluate(async () => {
      const all = new Uint8Array(window.rx.bytes);
      let off = 0;
      for (const c of window.rx.chunks) {
        all.set(new Uint8Array(c), off);
        off += c.byteLength;
      }
      const h = await crypto.subtle.digest('SHA-256', all);
      return { total: all.length, hash: [...new Uint8Array(h)].map((x) => x.toString(16).padStart(2, '0')).join('') };
    });
    assert.deepEqual(got, sent);
    await closePages(pa, pb);
  });

  test('a message larger than the peer accepts is refused with too-large, not dropped silently', async () => {
    const { pa, pb, b } = await twoUsers({}, { autoAccept: {} });
    assert.ok((await pageCall(pa, b)).ok);
    const r = await pa.evaluate(() => window.conn.send(new Uint8Array(1024 * 1024 + 1)).then(() => 'sent', (e) => e.code));
    assert.equal(r, 'too-large');
    await closePages(pa, pb);
  });

  test('glare: both call each other at once and end with one working connection', async () => {
    const { pa, pb, a, b } = await twoUsers();
    const [ra, rb] = await Promise.all([pageCall(pa, b, AV), pageCall(pb, a, AV)]);
    assert.ok(ra.ok && rb.ok, JSON.stringify([ra, rb]));
    assert.equal(ra.callId, rb.callId, 'both ended up in the same call');
    assert.equal(await pa.evaluate(() => window.client.connections.length), 1);
    assert.equal(await pb.evaluate(() => window.client.connections.length), 1);
    // Neither side is left ringing: each had asked for the call itself. (An
    // invite that arrives while connect() opens the devices rings briefly
    // and is then taken over by that connect().)
    for (const p of [pa, pb]) {
      assert.equal(await p.evaluate(() => window.request?.state ?? 'none').then((s) => s === 'none' || s === 'accepted'), true);
    }
    await Promise.all([assertMediaFlowing(pa, 'a'), assertMediaFlowing(pb, 'b')]);
    await pb.evaluate(() => window.conn.send('glare ok'));
    await waitFor(pa, () => window.seen.messages.includes('glare ok'));
    await closePages(pa, pb);
  });

  test('glare while the devices open: the call that rang meanwhile is answered by connect()', async () => {
    const { pa, pb, a, b } = await twoUsers();
    // A's camera opens only once B's call has rung at A.
    await pa.evaluate(() => {
      const md = navigator.mediaDevices;
      const real = md.getUserMedia.bind(md);
      let rang;
      const ringing = new Promise((r) => { rang = r; });
      md.getUserMedia = (c) => ringing.then(() => real(c));
      window.cancels = [];
      window.client.onIncoming = (req) => {
        window.request = req;
        req.onCancel = (w) => window.cancels.push(w);
        rang();
      };
    });
    const callA = pageCall(pa, b, AV);
    await sleep(150);
    const [ra, rb] = await Promise.all([callA, pageCall(pb, a, AV)]);
    assert.ok(ra.ok && rb.ok, JSON.stringify([ra, rb]));
    assert.equal(ra.callId, rb.callId);
    assert.deepEqual(await pa.evaluate(() => [window.request.state, window.cancels]), ['accepted', ['answered-here']]);
    assert.equal(await pa.evaluate(() => window.client.connections.length), 1);
    await assertMediaFlowing(pa, 'a');
    await closePages(pa, pb);
  });

  test('renegotiation: video added to a data-only call reaches the peer; handlers set late replay messages', async () => {
    const { pa, pb, b } = await twoUsers();
    // The callee accepts but sets onMessage only later.
    await pb.evaluate(() => {
      window.client.onIncoming = async (req) => {
        window.lateConn = await req.accept();
      };
    });
    assert.ok((await pageCall(pa, b)).ok);
    await pa.evaluate(async () => {
      for (let i = 0; i < 5; i++) await window.conn.send(`early ${i}`);
    });
    await waitFor(pb, () => window.lateConn?.state === 'connected');
    await sleep(300); // the messages have arrived before any handler is set
    await pb.evaluate(() => window.watch(window.lateConn));
    await waitFor(pb, () => window.seen.messages.length === 5);
    assert.deepEqual(await pb.evaluate(() => window.seen.messages), [0, 1, 2, 3, 4].map((i) => `early ${i}`));

    await pa.evaluate(() => window.conn.addMedia({ video: true }));
    await waitFor(pb, () => window.seen.streams.length === 1);
    await waitFor(pb, async () => {
      const r = await window.conn.peerConnection.getStats();
      return [...r.values()].some((s) => s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 5);
    });
    await closePages(pa, pb);
  });

  test('screen share replaces the camera on the same sender; stopping it brings the camera back', async () => {
    const { pa, pb, b } = await twoUsers({}, { autoAccept: AV });
    assert.ok((await pageCall(pa, b, AV)).ok);
    const inboundWidth = () => pb.evaluate(async () => {
      const r = await window.conn.peerConnection.getStats();
      return [...r.values()].find((s) => s.type === 'inbound-rtp' && s.kind === 'video')?.frameWidth ?? 0;
    });
    await waitFor(pb, async () => {
      const r = await window.conn.peerConnection.getStats();
      return [...r.values()].some((s) => s.type === 'inbound-rtp' && s.kind === 'video' && s.frameWidth === 320);
    });
    // A button click gives the page the user activation screen capture needs.
    await pa.evaluate(() => {
      const btn = document.createElement('button');
      btn.id = 'share';
      btn.textContent = 'share';
      btn.onclick = () => window.conn.shareScreen().then((t) => { window.shared = t.label; }, (e) => { window.shared = `error ${e.code}`; });
      document.body.append(btn);
    });
    await pa.click('#share');
    const label = await waitFor(pa, () => window.shared);
    assert.match(label, /^screen/, label);
    assert.equal(await pa.evaluate(() => window.conn.sharingScreen), true);
    // Same sender, no renegotiation: the peer just decodes other pictures.
    await waitFor(pb, async () => {
      const r = await window.conn.peerConnection.getStats();
      return [...r.values()].some((s) => s.type === 'inbound-rtp' && s.kind === 'video' && s.frameWidth > 320);
    }, 15000);
    assert.equal(await pa.evaluate(() => window.conn.peerConnection.getSenders()
      .filter((x) => x.track?.kind === 'video').map((x) => x.track.label.startsWith('screen')).join()), 'true');
    await pa.evaluate(() => window.conn.stopScreenShare());
    assert.equal(await pa.evaluate(() => window.conn.peerConnection.getSenders()
      .filter((x) => x.track?.kind === 'video').map((x) => x.track.label.startsWith('screen')).join()), 'false');
    await waitFor(pb, async () => {
      const r = await window.conn.peerConnection.getStats();
      return [...r.values()].some((s) => s.type === 'inbound-rtp' && s.kind === 'video' && s.frameWidth === 320);
    }, 15000);
    assert.ok(await inboundWidth() > 0);
    await closePages(pa, pb);
  });

  test('declined call rejects with rejected; bad token with unauthorized; offline peer with peer-unavailable', async () => {
    const { pa, pb, b } = await twoUsers();
    await pb.evaluate(() => {
      window.client.onIncoming = (req) => req.reject();
    });
    const declined = await pageCall(pa, b, {});
    assert.equal(declined.error?.code, 'rejected', JSON.stringify(declined));
    assert.equal(await pa.evaluate(() => window.client.connections.length), 0);

    const offline = await pageCall(pa, `${uniqueUser('nobody')}@${DOMAIN}`, AV);
    assert.equal(offline.error?.code, 'peer-unavailable', JSON.stringify(offline));
    assert.equal(offline.error.name, 'SignalingError');
    // Its camera was released again.
    assert.equal(await pa.evaluate(() => window.client.connections.length), 0);

    const bad = await pageClient(pa, { token: mintToken('x', { secret: 'wrong-secret-0123456789abcdef0123456789' }) });
    assert.equal(bad.error?.code, 'unauthorized', JSON.stringify(bad));
    assert.ok(bad.error.message.length > 0);

    const invalid = await pa.evaluate(() => window.client.connect({ peerId: 'no-domain' }).then(() => 'ok', (e) => e.name));
    assert.equal(invalid, 'TypeError');
    await closePages(pa, pb);
  });

  test('aborting connect() cancels the call: the callee stops ringing', async () => {
    const { pa, pb, b } = await twoUsers();
    await pb.evaluate(() => {
      window.client.onIncoming = (req) => {
        window.request = req;
        req.onCancel = (why) => { window.cancelled = why; };
      };
    });
    const r = await pa.evaluate(async (to) => {
      const ac = new AbortController();
      const p = window.client.connect({ peerId: to, mediaConstraints: { audio: true }, signal: ac.signal });
      setTimeout(() => ac.abort(), 300);
      return p.then(() => 'connected', (e) => e.code);
    }, b);
    assert.equal(r, 'cancelled');
    assert.equal(await waitFor(pb, () => window.cancelled), 'cancelled');
    assert.equal(await pa.evaluate(() => window.client.connections.length), 0);
    await closePages(pa, pb);
  });

  test('an unanswered call gives up with no-answer and stops ringing at the callee', async () => {
    const { pa, pb, b } = await twoUsers({ options: { callTimeoutMs: 800 } });
    await pb.evaluate(() => {
      window.client.onIncoming = (req) => {
        window.request = req;
        req.onCancel = (why) => { window.cancelled = why; };
      };
    });
    const r = await pageCall(pa, b, {});
    assert.equal(r.error?.code, 'no-answer', JSON.stringify(r));
    assert.equal(await waitFor(pb, () => window.cancelled), 'no-answer');
    const late = await pb.evaluate(() => window.request.accept().then(() => 'ok', (e) => e.code));
    assert.equal(late, 'cancelled');
    await closePages(pa, pb);
  });
});

describe('SDK calls survive a signaling server restart', () => {
  test('the daemon restarts during a call: media keeps flowing, both clients reconnect, signaling resumes', async () => {
    let d = await startWebDaemon();
    const port = d.port;
    const browser = await launchBrowser();
    try {
      const users = [uniqueUser('ra'), uniqueUser('rb')];
      const [pa, pb] = await Promise.all(users.map(async () => {
        const page = await (await browser.newContext()).newPage();
        await page.goto(`http://127.0.0.1:${port}/`);
        return page;
      }));
      const fast = { signaling: { backoff: { initialMs: 100, maxMs: 400 } } };
      await pageClient(pa, { token: mintToken(users[0]), options: fast });
      await pageClient(pb, { token: mintToken(users[1]), autoAccept: AV, options: fast });
      const call = await pageCall(pa, `${users[1]}@${DOMAIN}`, AV);
      assert.ok(call.ok, JSON.stringify(call));
      await assertMediaFlowing(pa, 'before the restart', 1000);

      await d.stop();
      await waitFor(pa, () => window.client.state === 'reconnecting');
      // No server: the peer-to-peer media does not need one.
      await Promise.all([assertMediaFlowing(pa, 'a while the daemon is down'), assertMediaFlowing(pb, 'b while the daemon is down')]);
      assert.equal(await pa.evaluate(() => window.conn.state), 'connected');

      d = await startWebDaemon(port);
      await waitFor(pa, () => window.client.state === 'open', 15000);
      await waitFor(pb, () => window.client.state === 'open', 15000);
      await assertMediaFlowing(pb, 'after the restart', 1000);
      // The call's signaling works again: an ICE restart (a full offer and
      // answer) and the hang-up both get through.
      await pa.evaluate(() => window.conn.peerConnection.restartIce());
      await waitFor(pa, () => window.conn.peerConnection.signalingState === 'stable'
        && window.conn.peerConnection.connectionState === 'connected', 10000);
      await pa.evaluate(() => window.conn.close());
      await waitFor(pb, () => window.seen.closed.includes('remote-hangup'));
    } finally {
      await browser.close();
      await d.stop();
    }
  });
});
