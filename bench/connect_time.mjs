// bench/connect_time.mjs: how long a call takes to come up, between two
// Chromium pages on loopback, webrtc2 (SDK + webrtc2d) beside PeerJS
// (peerjs 1.5.5 client + `peer` 1.0.2 server) in the same run.
//
// Usage: W2_DAEMON=build/webrtc2d node bench/connect_time.mjs [--runs 50] [--json out.json]
//   (`make bench-connect` runs it.)
//
// Measured from the caller's page, each run a fresh call between the same two
// signed-in pages, hung up before the next run:
//   webrtc2 data   client.connect({peerId}) with no media -> it resolves (the
//                  data channel is open)
//   webrtc2 AV     client.connect({peerId, mediaConstraints: AV}) -> it
//                  resolves (data channel open), and -> the first decoded
//                  remote video frame. Both sides open their fake camera and
//                  microphone inside that time (getUserMedia).
//   PeerJS data    peer.connect(id) -> the DataConnection's 'open'
//   PeerJS AV      getUserMedia + peer.call(id, stream) -> the first decoded
//                  remote video frame; the callee opens its devices and
//                  answers in its 'call' handler.
// The first frame is caught with a MediaStreamTrackProcessor attached in
// the remote track's 'track' event (a wrapper around RTCPeerConnection
// installed in the page before either library loads), so no frame goes by
// unseen. Output: p50/p95/min/max per measure, as a Markdown table.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../tests/e2e/browser.mjs';
import { DOMAIN, freePort, mintToken, sleep, startDaemon, uniqueUser } from '../tests/integration/lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(argValue('--runs', '50'));
const JSON_OUT = argValue('--json', null);
const AV = { audio: true, video: { width: 640, height: 480 } };

function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** Installed in every page before anything else: first-frame timing. */
function instrument() {
  const Native = window.RTCPeerConnection;
  window.firstFrameAt = null;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('track', (e) => {
        if (e.track.kind !== 'video' || window.firstFrameAt !== null) return;
        const reader = new MediaStreamTrackProcessor({ track: e.track }).readable.getReader();
        reader.read().then(({ value }) => {
          if (window.firstFrameAt === null) window.firstFrameAt = performance.now();
          value?.close();
          reader.cancel();
        }, () => {});
      });
    }
  };
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: q(0.5), p95: q(0.95), min: s[0], max: s[s.length - 1] };
}

async function newPage(browser, url) {
  const page = await (await browser.newContext()).newPage();
  await page.addInitScript(instrument);
  await page.goto(url);
  return page;
}

async function benchWebrtc2(browser, port) {
  const users = [uniqueUser('bench-a'), uniqueUser('bench-b')];
  const [pa, pb] = await Promise.all(users.map(() => newPage(browser, `http://127.0.0.1:${port}/`)));
  await Promise.all([pa, pb].map((p, i) => p.evaluate(async ({ token, callee, av }) => {
    const { WebRTC2Client } = await import('/sdk/webrtc2.js');
    window.client = new WebRTC2Client({ signalingServer: `ws://${location.host}/signal`, authentication: { type: 'token', token } });
    await window.client.ready;
    if (callee) {
      window.client.onIncoming = async (req) => {
        const conn = await req.accept({ mediaConstraints: req.media.video ? av : undefined });
        window.conn = conn;
      };
    }
  }, { token: mintToken(users[i]), callee: i === 1, av: AV })));
  const out = { dataOpen: [], avOpen: [], avFrame: [] };
  const target = `${users[1]}@${DOMAIN}`;
  for (let i = 0; i < RUNS; i++) {
    const data = await pa.evaluate(async (to) => {
      const t0 = performance.now();
      const conn = await window.client.connect({ peerId: to });
      const open = performance.now() - t0;
      conn.close();
      return open;
    }, target);
    out.dataOpen.push(data);
    const av = await pa.evaluate(async ({ to, av }) => {
      window.firstFrameAt = null;
      const t0 = performance.now();
      const conn = await window.client.connect({ peerId: to, mediaConstraints: av });
      const open = performance.now() - t0;
      const deadline = performance.now() + 10000;
      while (window.firstFrameAt === null && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      const frame = window.firstFrameAt === null ? null : window.firstFrameAt - t0;
      conn.close();
      return { open, frame };
    }, { to: target, av: AV });
    out.avOpen.push(av.open);
    if (av.frame !== null) out.avFrame.push(av.frame);
    await sleep(50); // let both sides finish closing
  }
  await Promise.all([pa, pb].map((p) => p.evaluate(() => window.client.close())));
  await Promise.all([pa, pb].map((p) => p.context().close()));
  return out;
}

async function startPeerjs() {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(ROOT, 'bench/peerjs_server.mjs'), '--port', String(port)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('PeerJS server did not start')), 10000);
    proc.stdout.on('data', (b) => { if (String(b).includes('listening')) { clearTimeout(t); resolve(); } });
  });
  return { port, stop: () => proc.kill('SIGTERM') };
}

async function benchPeerjs(browser, pagePort) {
  const server = await startPeerjs();
  try {
    const script = path.join(ROOT, 'node_modules/peerjs/dist/peerjs.min.js');
    const ids = [uniqueUser('pa'), uniqueUser('pb')];
    const [pa, pb] = await Promise.all(ids.map(() => newPage(browser, `http://127.0.0.1:${pagePort}/`)));
    await Promise.all([pa, pb].map((p) => p.addScriptTag({ path: script })));
    await Promise.all([pa, pb].map((p, i) => p.evaluate(async ({ id, port, callee, av }) => {
      const peer = new window.peerjs.Peer(id, {
        host: '127.0.0.1', port, path: '/', key: 'peerjs', secure: false, config: { iceServers: [] },
      });
      window.peer = peer;
      await new Promise((resolve, reject) => { peer.on('open', resolve); peer.on('error', reject); });
      if (callee) {
        peer.on('connection', (c) => { window.lastData = c; });
        peer.on('call', async (call) => {
          const s = await navigator.mediaDevices.getUserMedia(av);
          call.answer(s);
          window.lastCall = { call, s };
        });
      }
    }, { id: ids[i], port: server.port, callee: i === 1, av: AV })));
    const out = { dataOpen: [], avFrame: [] };
    for (let i = 0; i < RUNS; i++) {
      out.dataOpen.push(await pa.evaluate(async (to) => {
        const t0 = performance.now();
        const c = window.peer.connect(to, { reliable: true });
        await new Promise((resolve, reject) => { c.on('open', resolve); c.on('error', reject); });
        const open = performance.now() - t0;
        c.close();
        return open;
      }, ids[1]));
      const frame = await pa.evaluate(async ({ to, av }) => {
        window.firstFrameAt = null;
        const t0 = performance.now();
        const s = await navigator.mediaDevices.getUserMedia(av);
        const call = window.peer.call(to, s);
        const deadline = performance.now() + 10000;
        while (window.firstFrameAt === null && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
        const f = window.firstFrameAt === null ? null : window.firstFrameAt - t0;
        call.close();
        for (const t of s.getTracks()) t.stop();
        return f;
      }, { to: ids[1], av: AV });
      await pb.evaluate(() => {
        window.lastData?.close();
        for (const t of window.lastCall?.s.getTracks() ?? []) t.stop();
      });
      if (frame !== null) out.avFrame.push(frame);
      await sleep(50);
    }
    await Promise.all([pa, pb].map((p) => p.evaluate(() => window.peer.destroy())));
    await Promise.all([pa, pb].map((p) => p.context().close()));
    return out;
  } finally {
    server.stop();
  }
}

function fmt(x) {
  return x === undefined ? '-' : `${x.toFixed(0)}`;
}

async function main() {
  // The bench daemon's rate limit is raised: 50 calls in a row from one
  // session are more signals per second than a person makes.
  const d = await startDaemon({
    web: path.join(ROOT, 'web'),
    limits: { messages_per_second: 1000, message_burst: 2000, sessions_per_user: 4, rooms_per_session: 4,
      room_size: 16, max_message_bytes: 65536, max_queued_bytes: 1048576, abuse_threshold: 20, hello_timeout_ms: 5000 },
  });
  const browser = await launchBrowser();
  try {
    const chromiumVersion = browser.version();
    const w = await benchWebrtc2(browser, d.port);
    const p = await benchPeerjs(browser, d.port);
    const rows = [
      ['webrtc2: connect() -> data channel open (no media)', stats(w.dataOpen)],
      ['webrtc2: connect() with A/V -> data channel open', stats(w.avOpen)],
      ['webrtc2: connect() with A/V -> first remote video frame', stats(w.avFrame)],
      ['PeerJS: peer.connect() -> data channel open', stats(p.dataOpen)],
      ['PeerJS: getUserMedia + peer.call() -> first remote video frame', stats(p.avFrame)],
    ];
    const lines = [
      `Chromium ${chromiumVersion}, ${RUNS} runs each, loopback, ms:`,
      '',
      '| measure | n | p50 | p95 | min | max |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      ...rows.map(([name, s]) => `| ${name} | ${s.n} | ${fmt(s.p50)} | ${fmt(s.p95)} | ${fmt(s.min)} | ${fmt(s.max)} |`),
    ];
    console.log(lines.join('\n'));
    if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ chromium: chromiumVersion, runs: RUNS, webrtc2: w, peerjs: p }, null, 1));
  } finally {
    await browser.close();
    await d.stop();
  }
}

await main();
