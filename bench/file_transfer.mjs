// bench/file_transfer.mjs: the benchmark of issue 5 (peer-to-peer file
// transfer, docs/file-transfer.md). In one run, between the same two signed-in
// Chromium pages (one Chromium instance each, both loaded from one webrtc2d):
//
//   raw   data-channel throughput with no protocol: a plain RTCPeerConnection
//         in each page (SDP exchanged by page.evaluate), 1, 2, 4 and 8
//         negotiated, ordered, reliable channels; 64 KiB and 256 KiB
//         messages from one buffer; each channel kept under 4 MiB of
//         bufferedAmount and refilled below 1 MiB (the SDK's own lane
//         limits); --mb MB in all, or --max-seconds, whichever comes first.
//         Then the same over 2, 4 and 8 peer connections of one channel
//         each (--pcs): the channels of one connection share one SCTP
//         association, separate connections do not.
//   files the SDK's connection.sendFile() over the pages' data-only call
//         (client.connect), when the SDK has it: encryption 'none' and
//         'ChaCha20-Poly1305', lanes 1 and 4, a --file-mib MiB random file
//         written by this script and picked in the sender page through a
//         file input (as a user sends one), stored by the receiver in OPFS
//         on its profile's disk (deleted after each transfer). Each
//         transfer is preceded by a raw run "beside it" (the same bytes, as
//         many channels as lanes, 64 KiB messages), so that the goal's
//         ratio compares two runs that saw the same background load. The
//         time runs until the receiver's onComplete, so it includes the
//         receiver's final hash check.
//   cost  for every measurement, the receiving page's peak growth over its
//         baseline (taken after a forced GC): V8's JSHeapUsedSize (CDP
//         Performance.getMetrics) and the summed VmRSS of the receiving
//         Chromium's renderers, and of all its processes (pids from CDP
//         SystemInfo.getProcessInfo, RSS from /proc), sampled every 250 ms;
//         and the CPU time of both Chromiums' processes (cpuTime of the
//         same call, before and after).
//
// Throughput is bytes / (receiver's last byte - sender's start), both from
// Date.now() on this machine; MB = 10^6 bytes, MiB = 2^20.
//
// --shaped adds the same measurements across a shaped link (bench/netlink.mjs:
// two network namespaces, a veth pair, --rate Mbit/s each way, --rtt ms),
// with the sender's Chromium in one namespace and the receiver's in the
// other, and iperf3 TCP goodput across the same link in the same run.
// webrtc2d stays in the root namespace on 127.0.0.1; each namespace reaches
// it through a relay on its own 127.0.0.1:PORT that forwards over a Unix
// socket (not namespaced), so the pages keep the secure http://127.0.0.1
// origin, no TLS or certificate flags are needed, and signalling does not
// share the measured link. Only the veth addresses are ICE candidates there
// (no --allow-loopback-in-peer-connection for those two browsers).
//
// Usage: W2_DAEMON=build/webrtc2d node bench/file_transfer.mjs [--shaped]
//   [--only-shaped] [--mb 64] [--channels 1,2,4,8] [--sizes 64,256] [--pcs 2,4,8]
//   [--file-mib 256] [--lanes 1,4] [--enc none,ChaCha20-Poly1305] [--no-beside]
//   [--max-seconds 60] [--rate 100] [--rtt 40] [--video] [--no-widen] [--source disk|blob] [--incognito]
//   [--iperf-seconds 10] [--timeout 1800] [--json out.json]
//   (`make bench-files` runs it with --shaped.) A transfer may take
//   --max-seconds per 256 MiB of file, a raw run --max-seconds in all. The
//   4 GiB memory goal: --file-mib 4096 --lanes 4 --enc ChaCha20-Poly1305
//   (about 9 minutes at 8 MB/s, twice that with the raw run beside it).
//
// --video repeats the raw rows with a recvonly video m-line in every
// connection (Chromium sizes the UDP receive buffer for video then); across
// the shaped link every raw row records the receiving namespace's UDP
// receive buffers (ss) while the data flows. --source blob sends a Blob of
// one random 1 MiB Blob repeated instead of a file picked from disk;
// --incognito uses incognito-like contexts (OPFS in memory) instead of
// fresh persistent profiles. Every row logs the CPU time both Chromiums
// spent per MB moved, by process type.
//
// Every wait is bounded; the whole run is bounded by --timeout; browsers,
// daemon, relays and namespaces are cleaned up on any exit.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM, chromiumArgs } from '../tests/e2e/browser.mjs';
import { DOMAIN, mintToken, sleep, startDaemon, uniqueUser } from '../tests/integration/lib.mjs';
import { createShapedLink, shapedLinkAvailable } from './netlink.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MB = 1e6;
const MiB = 1 << 20;

function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const list = (s) => s.split(',').filter(Boolean).map(Number);
const OPT = {
  shaped: process.argv.includes('--shaped') || process.argv.includes('--only-shaped'),
  loopback: !process.argv.includes('--only-shaped'),
  mb: Number(argValue('--mb', '64')),
  channels: list(argValue('--channels', '1,2,4,8')),
  pcs: list(argValue('--pcs', '2,4,8')),
  sizes: list(argValue('--sizes', '64,256')),
  fileMiB: Number(argValue('--file-mib', '256')),
  lanes: list(argValue('--lanes', '1,4')),
  encryptions: argValue('--enc', 'none,ChaCha20-Poly1305').split(',').filter(Boolean),
  beside: !process.argv.includes('--no-beside'),
  maxSeconds: Number(argValue('--max-seconds', '60')),
  rate: Number(argValue('--rate', '100')),
  rtt: Number(argValue('--rtt', '40')),
  iperfSeconds: Number(argValue('--iperf-seconds', '10')),
  timeout: Number(argValue('--timeout', '1800')),
  json: argValue('--json', null),
  // 'disk': a random file written here and picked through a file input, as
  // a user sends one; 'blob': one random 1 MiB Blob repeated in the page.
  source: argValue('--source', 'disk'),
  // Chromium's incognito-like contexts (browser.newContext()) keep OPFS in
  // the browser process's memory; a user's profile keeps it on disk.
  incognito: process.argv.includes('--incognito'),
  // Raw rows again with a recvonly video m-line in each connection.
  video: process.argv.includes('--video'),
  // The SDK's transfers without their inactive video transceiver (files.js,
  // #widenReceiveBuffers), for comparison.
  widen: !process.argv.includes('--no-widen'),
};
if (!['disk', 'blob'].includes(OPT.source)) throw new Error('--source is disk or blob');

/** This run's scratch directory (profiles, the source file); removed on exit. */
const SCRATCH = fs.mkdtempSync(path.join(os.tmpdir(), 'w2-bench-files-'));
process.on('exit', () => fs.rmSync(SCRATCH, { recursive: true, force: true }));


const log = (...a) => console.error('[bench-files]', ...a);

// ------------------------------------------------------------ page side --

/** Installed in both pages: the raw data-channel measurement and the file hooks. */
function pageLib() {
  const pause = (ms) => new Promise((r) => setTimeout(r, ms));
  const gathered = (pc, ms) => new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const t = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
    });
  });
  window.bench = {
    chans: [],
    rx: null,
    pcs: [],
    /**
     * Both sides: `pcs` peer connections with `perPc` negotiated channels
     * each; the offerer passes no SDPs, the answerer the offers. Returns the
     * local SDPs.
     */
    async open(pcs, perPc, offers, video = false) {
      this.close();
      const out = [];
      for (let k = 0; k < pcs; k++) {
        const pc = new RTCPeerConnection({ iceServers: [] });
        this.pcs.push(pc);
        // A video m-line (no track): Chromium then sizes the connection's
        // UDP receive buffer for video (256 KiB), not its 64 KiB default.
        if (video && !offers) pc.addTransceiver('video', { direction: 'recvonly' });
        for (let i = 0; i < perPc; i++) {
          const c = pc.createDataChannel(`raw${i}`, { negotiated: true, id: i, ordered: true });
          c.binaryType = 'arraybuffer';
          this.chans.push(c);
        }
        if (offers) {
          await pc.setRemoteDescription({ type: 'offer', sdp: offers[k] });
          await pc.setLocalDescription(await pc.createAnswer());
        } else {
          await pc.setLocalDescription(await pc.createOffer());
        }
      }
      await Promise.all(this.pcs.map((pc) => gathered(pc, 5000)));
      for (const pc of this.pcs) out.push(pc.localDescription.sdp);
      return out;
    },
    async answer(sdps) {
      await Promise.all(this.pcs.map((pc, k) => pc.setRemoteDescription({ type: 'answer', sdp: sdps[k] })));
    },
    async waitOpen(ms) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (this.chans.every((c) => c.readyState === 'open')) return true;
        await pause(10);
      }
      return false;
    },
    /** Receiver: counts what arrives on every channel until `total` bytes. */
    receive(total) {
      const rx = { bytes: 0, first: 0, last: 0, done: false, total };
      this.rx = rx;
      const onmsg = (e) => {
        const now = Date.now();
        if (!rx.first) rx.first = now;
        rx.bytes += e.data.byteLength;
        rx.last = now;
        if (rx.bytes >= rx.total) rx.done = true;
      };
      for (const c of this.chans) c.onmessage = onmsg;
    },
    async rxWait(ms) {
      const end = Date.now() + ms;
      while (!this.rx.done && Date.now() < end) await pause(20);
      return { ...this.rx };
    },
    /** Sender: `total` bytes in `msg`-byte messages over every channel, for at most `ms`. */
    async send(total, msg, ms) {
      const buf = new Uint8Array(msg);
      for (let o = 0; o < msg; o += 65536) crypto.getRandomValues(buf.subarray(o, Math.min(msg, o + 65536)));
      const HIGH = 4 << 20;
      let remaining = total;
      const t0 = Date.now();
      const end = t0 + ms;
      await Promise.all(this.chans.map((c) => new Promise((resolve) => {
        c.bufferedAmountLowThreshold = 1 << 20;
        const pump = () => {
          while (remaining > 0 && c.bufferedAmount < HIGH && c.readyState === 'open') {
            const n = Math.min(msg, remaining);
            remaining -= n;
            c.send(n === msg ? buf : buf.subarray(0, n));
          }
          if (remaining <= 0 || Date.now() >= end || c.readyState !== 'open') {
            c.onbufferedamountlow = null;
            resolve();
          }
        };
        c.onbufferedamountlow = pump;
        pump();
      })));
      // A deadline stops the rest: the receiver counts what arrived.
      return { t0, sent: total - Math.max(0, remaining) };
    },
    close() {
      for (const pc of this.pcs) pc.close();
      this.pcs = [];
      this.chans = [];
    },
    /** A File of `size` bytes: one random 1 MiB Blob referred to again and again. */
    makeFile(size) {
      const part = new Uint8Array(1 << 20);
      for (let o = 0; o < part.length; o += 65536) crypto.getRandomValues(part.subarray(o, o + 65536));
      const blob = new Blob([part]);
      const parts = [];
      for (let left = size; left > 0; left -= blob.size) parts.push(left >= blob.size ? blob : blob.slice(0, left));
      return new File(parts, 'bench.bin', { type: 'application/octet-stream' });
    },
  };
}

/** The receiving page: accepts every offered file and records the transfer. */
function installReceiver() {
  window.rxFiles = [];
  window.conn.onFile = async (incoming) => {
    const rec = { id: incoming.id, size: incoming.size, start: Date.now(), done: 0, bytes: 0, err: null };
    window.rxFiles.push(rec);
    try {
      const t = await incoming.accept();
      rec.transfer = t;
      t.onProgress = (p) => { rec.bytes = p.bytes; };
      t.onComplete = (r) => { rec.done = Date.now(); rec.bytes = incoming.size; rec.hash = r?.hash; };
      t.onError = (e) => { rec.err = `${e?.code}: ${e?.message}`; };
    } catch (e) {
      rec.err = `accept: ${e?.code}: ${e?.message}`;
    }
  };
}

// ------------------------------------------------------------ node side --

/** VmRSS of `pid` in bytes (0 once it is gone). */
function rssOf(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
  } catch { return 0; }
}

/**
 * What a measurement costs the two Chromiums. Memory: the receiving page's
 * peak growth over its baseline, V8's JS heap (CDP) and the summed VmRSS of
 * the receiving Chromium's renderer processes (the page and its workers;
 * pids from CDP SystemInfo.getProcessInfo, looked up again at every start)
 * and of all its processes (browser, network service, storage, renderers).
 * CPU: seconds each side's processes used, by process type (the cpuTime
 * of SystemInfo.getProcessInfo, before and after).
 * @param {{browser: import('playwright-core').Browser}[]} sides sender, receiver
 * @param {import('playwright-core').Page} page the receiving page
 */
async function costProbe(sides, page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const sessions = await Promise.all(sides.map((s) => s.browser.newBrowserCDPSession()));
  /** @returns {Promise<{id: number, type: string, cpuTime: number}[][]>} */
  const processes = () => Promise.all(sessions.map(async (b) => (await b.send('SystemInfo.getProcessInfo')).processInfo));
  const heap = async () => {
    const m = await cdp.send('Performance.getMetrics');
    return m.metrics.find((x) => x.name === 'JSHeapUsedSize')?.value ?? 0;
  };
  const cpuByType = (list) => list.reduce((o, p) => ({ ...o, [p.type]: (o[p.type] ?? 0) + p.cpuTime }), {});
  return {
    renderers: async () => (await processes())[1].filter((p) => p.type === 'renderer').length,
    /**
     * Starts sampling every 250 ms; stop() resolves {heapBaseMiB,
     * heapPeakGrowthMiB, rssBaseMiB, rssPeakGrowthMiB, rssEndGrowthMiB,
     * allRssPeakGrowthMiB, cpu: [sender, receiver] seconds by type, samples:
     * [s, heap, renderers' RSS, all RSS growth in MiB, progress]}.
     * `progress` (optional, async) is recorded with every sample.
     */
    async start(progress = null) {
      await cdp.send('HeapProfiler.collectGarbage').catch(() => {});
      const before = await processes();
      const rx = before[1];
      const rss = (list) => list.reduce((n, p) => n + rssOf(p.id), 0);
      const renderers = rx.filter((p) => p.type === 'renderer');
      const sample = async () => ({ heap: await heap(), rss: rss(renderers), all: rss(rx) });
      const base = await sample();
      const peak = { ...base };
      const samples = [];
      const t0 = Date.now();
      let last = { ...base };
      let running = true;
      const loop = (async () => {
        while (running) {
          try {
            last = await sample();
          } catch { break; }
          for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], last[k]);
          const p = progress ? await progress().catch(() => null) : null;
          const g = (k) => +((last[k] - base[k]) / MiB).toFixed(2);
          samples.push([(Date.now() - t0) / 1000, g('heap'), g('rss'), g('all'), p]);
          await sleep(250);
        }
      })();
      return async () => {
        running = false;
        await loop;
        const after = await processes().catch(() => null);
        const cpu = after ? after.map((list, i) => {
          const a = cpuByType(list);
          const b = cpuByType(before[i]);
          return Object.fromEntries(Object.keys(a).map((k) => [k, +(a[k] - (b[k] ?? 0)).toFixed(2)]));
        }) : null;
        return {
          heapBaseMiB: base.heap / MiB,
          heapPeakGrowthMiB: (peak.heap - base.heap) / MiB,
          rssBaseMiB: base.rss / MiB,
          rssPeakGrowthMiB: (peak.rss - base.rss) / MiB,
          rssEndGrowthMiB: (last.rss - base.rss) / MiB,
          allRssPeakGrowthMiB: (peak.all - base.all) / MiB,
          cpu,
          samples,
        };
      };
    },
  };
}

/** Raw data-channel throughput, sender page -> receiver page: `pcs` connections x `perPc` channels. */
async function rawRun(pa, pb, mem, pcs, perPc, msgKiB, total = Math.round(OPT.mb * MB), video = false, sockets = null) {
  const offers = await pa.evaluate(([p, n, v]) => window.bench.open(p, n, undefined, v), [pcs, perPc, video]);
  const answers = await pb.evaluate(([p, n, sdps]) => window.bench.open(p, n, sdps), [pcs, perPc, offers]);
  await pa.evaluate((sdps) => window.bench.answer(sdps), answers);
  const open = await Promise.all([pa, pb].map((p) => p.evaluate(() => window.bench.waitOpen(10000))));
  if (!open.every(Boolean)) throw new Error(`raw: ${pcs} x ${perPc} channels did not open within 10 s`);
  await pb.evaluate((t) => window.bench.receive(t), total);
  const stop = await mem.start();
  const ms = OPT.maxSeconds * 1000;
  // The receiving side's UDP receive buffers, looked at while the data flows.
  let rcvbuf = null;
  const peek = sockets ? sleep(1500).then(() => { rcvbuf = sockets(); }) : null;
  const tx = await pa.evaluate(([t, m, x]) => window.bench.send(t, m, x), [total, msgKiB * 1024, ms]);
  await peek;
  const rx = await pb.evaluate(([t, x]) => window.bench.rxWait(x), [total, Math.max(2000, tx.t0 + ms - Date.now() + 2000)]);
  const memory = await stop();
  await Promise.all([pa, pb].map((p) => p.evaluate(() => window.bench.close())));
  const secs = ((rx.last || Date.now()) - tx.t0) / 1000;
  return {
    kind: 'raw', pcs, channels: pcs * perPc, perPc, msgKiB, video, rcvbuf, bytes: rx.bytes, complete: rx.done, seconds: secs,
    MBps: rx.bytes / MB / secs, memory,
  };
}

/** The --source disk file of `size` random bytes (written once per run, 1 MiB at a time). */
function sourceFile(size) {
  const file = path.join(SCRATCH, `source-${size}.bin`);
  if (!fs.existsSync(file)) {
    const fd = fs.openSync(file, 'w');
    const block = Buffer.alloc(MiB);
    for (let left = size; left > 0; left -= MiB) {
      crypto.randomFillSync(block);
      fs.writeSync(fd, block, 0, Math.min(MiB, left));
    }
    fs.closeSync(fd);
  }
  return file;
}

/** One SDK transfer, sender page -> receiver page. */
async function fileRun(pa, pb, mem, encryption, lanes, sockets = null) {
  const size = Math.round(OPT.fileMiB * MiB);
  const index = await pb.evaluate(() => window.rxFiles.length);
  const stop = await mem.start(() => pb.evaluate((i) => window.rxFiles[i]?.bytes ?? 0, index));
  if (OPT.source === 'disk') {
    await pa.evaluate(() => {
      if (document.getElementById('bench-pick')) return;
      const input = document.createElement('input');
      input.type = 'file';
      input.id = 'bench-pick';
      document.body.append(input);
    });
    await pa.locator('#bench-pick').setInputFiles(sourceFile(size));
  }
  const t0 = await pa.evaluate(({ size: s, encryption: enc, lanes: l }) => {
    window.txRec = { err: null, done: 0 };
    const picked = document.getElementById('bench-pick');
    const file = picked ? picked.files[0] : window.bench.makeFile(s);
    const start = Date.now();
    try {
      const t = window.conn.sendFile({ file, encryption: enc, lanes: l });
      window.txRec.transfer = t;
      t.onError = (e) => { window.txRec.err = `${e?.code}: ${e?.message}`; };
      t.onComplete = () => { window.txRec.done = Date.now(); };
    } catch (e) {
      window.txRec.err = `sendFile: ${e?.code ?? e?.name}: ${e?.message}`;
    }
    return start;
  }, { size, encryption, lanes });
  const end = Date.now() + OPT.maxSeconds * 1000 * Math.max(1, OPT.fileMiB / 256) + 10000;
  let rcvbuf = null;
  const peek = sockets ? sleep(3000).then(() => { rcvbuf = sockets(); }) : null;
  let r;
  for (;;) {
    r = await pb.evaluate((i) => {
      const x = window.rxFiles[i];
      return x ? { done: x.done, bytes: x.bytes, err: x.err, start: x.start, stats: { ...x.transfer?.stats } } : null;
    }, index);
    const txErr = await pa.evaluate(() => window.txRec.err);
    if (txErr && !r?.done) { r = { ...(r ?? {}), err: r?.err ?? `sender: ${txErr}` }; break; }
    if (r?.done || r?.err || Date.now() > end) break;
    await sleep(200);
  }
  const memory = await stop();
  await peek;
  const txStats = await pa.evaluate(() => ({ ...window.txRec.transfer?.stats }));
  const timedOut = !r?.done && !r?.err;
  if (timedOut || r?.err) {
    await pa.evaluate(() => { try { window.txRec.transfer?.cancel('bench timeout'); } catch { /* gone */ } });
  }
  // The stored file is removed so that 4 GiB runs do not add up on disk.
  await pb.evaluate(async () => {
    try {
      const root = await navigator.storage.getDirectory();
      await root.removeEntry('webrtc2-files', { recursive: true });
    } catch { /* nothing stored */ }
  });
  const last = r?.done || Date.now();
  const secs = (last - t0) / 1000;
  const bytes = r?.done ? size : (r?.bytes ?? 0);
  return {
    kind: 'file', encryption, lanes, widen: OPT.widen, rcvbuf, stats: { sender: txStats, receiver: r?.stats }, bytes, complete: Boolean(r?.done), seconds: secs, MBps: bytes / MB / secs,
    error: r?.err ?? (timedOut ? 'stopped at the time cap' : null), memory,
  };
}

/**
 * A Chromium for one side: a persistent context on a fresh profile (OPFS on
 * disk, as for a user), or with --incognito an incognito-like one.
 * `executablePath` runs it elsewhere (the shaped link's namespaces).
 * @returns {Promise<{browser: import('playwright-core').Browser, context: import('playwright-core').BrowserContext}>}
 */
async function launchSide(args, executablePath = CHROMIUM) {
  if (OPT.incognito) {
    const browser = await chromium.launch({ executablePath, headless: true, args });
    return { browser, context: await browser.newContext() };
  }
  const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(SCRATCH, 'profile-')),
    { executablePath, headless: true, args });
  return { browser: /** @type {any} */ (context.browser()), context };
}

/** Two pages, each in its own Chromium, signed in, with a data-only call from a to b. */
async function setUpPair(sides, origin) {
  const users = [uniqueUser('files-a'), uniqueUser('files-b')];
  const pages = [];
  for (const { context } of sides) {
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(`${origin}/`);
    await page.evaluate(pageLib);
    pages.push(page);
  }
  const [pa, pb] = pages;
  await Promise.all(pages.map((p, i) => p.evaluate(async ({ token, callee }) => {
    const { WebRTC2Client } = await import('/sdk/webrtc2.js');
    window.client = new WebRTC2Client({ signalingServer: `ws://${location.host}/signal`, authentication: { type: 'token', token } });
    await window.client.ready;
    if (callee) {
      window.client.onIncoming = async (req) => { window.conn = await req.accept({}); };
    }
  }, { token: mintToken(users[i]), callee: i === 1 })));
  await pa.evaluate(async (to) => { window.conn = await window.client.connect({ peerId: to }); }, `${users[1]}@${DOMAIN}`);
  const end = Date.now() + 10000;
  while (!(await pb.evaluate(() => Boolean(window.conn)))) {
    if (Date.now() > end) throw new Error('the callee page got no connection within 10 s');
    await sleep(50);
  }
  if (!OPT.widen) await pa.evaluate(() => { window.__webrtc2TestHooks = { keepReceiveBuffers: true }; });
  const hasSendFile = await pa.evaluate(() => typeof window.conn.sendFile === 'function');
  if (hasSendFile) await pb.evaluate(installReceiver);
  return { pa, pb, hasSendFile };
}

/** CPU ms per MB moved on each side (by process type) and the receiver's memory growth, for the log. */
function costLine(r) {
  const m = r.memory;
  if (!m?.cpu || !r.bytes) return 'cost not measured';
  const side = (c) => {
    const per = (x) => (1000 * x) / (r.bytes / MB);
    const total = Object.values(c).reduce((a, b) => a + b, 0);
    return `${per(total).toFixed(0)} (${Object.entries(c).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${per(v).toFixed(0)}`).join(', ')})`;
  };
  return `CPU ms/MB sender ${side(m.cpu[0])}, receiver ${side(m.cpu[1])}; receiver growth: heap ${m.heapPeakGrowthMiB.toFixed(1)}, `
    + `renderers' RSS ${m.rssPeakGrowthMiB.toFixed(1)}, all RSS ${m.allRssPeakGrowthMiB.toFixed(1)} MiB`;
}

/** All measurements between the pages of the two `sides` (sender, receiver). */
async function measure(where, sides, origin, link = null) {
  const counters = link?.counters;
  const sockets = link ? () => link.udpReceiveBuffers(link.b) : null;
  const { pa, pb, hasSendFile } = await setUpPair(sides, origin);
  const mem = await costProbe(sides, pb);
  log(`${where}: pages up; the receiver has ${await mem.renderers()} renderer(s); sendFile ${hasSendFile ? 'present' : 'absent'}`);
  const rows = [];
  // Across the shaped link: what was lost on the way during each measurement.
  const losses = async (fn) => {
    const before = counters?.();
    const r = await fn();
    if (before) {
      const after = counters();
      r.losses = Object.fromEntries(Object.keys(after).map((side) => [side,
        Object.fromEntries(Object.keys(after[side]).map((k) => [k, after[side][k] - before[side][k]]))]));
    }
    return r;
  };
  const raw = async (pcs, perPc, msgKiB, video = false) => {
    const r = await losses(() => rawRun(pa, pb, mem, pcs, perPc, msgKiB, undefined, video, sockets));
    log(`${where}: raw ${pcs} pc x ${perPc} ch x ${msgKiB} KiB${video ? ' + video m-line' : ''}: ${r.MBps.toFixed(2)} MB/s; ${costLine(r)}`
      + `${r.rcvbuf ? `; receiver UDP rcvbuf ${r.rcvbuf.slice(0, 4).join(', ')}` : ''}${r.losses ? ` losses ${JSON.stringify(r.losses)}` : ''}`);
    rows.push({ where, ...r });
  };
  for (const msgKiB of OPT.sizes) {
    for (const channels of OPT.channels) await raw(1, channels, msgKiB);
  }
  // Channels share their connection's one SCTP association; separate
  // connections do not.
  for (const pcs of OPT.pcs) await raw(pcs, 1, OPT.sizes[0]);
  if (OPT.video) for (const pcs of [1, ...OPT.pcs]) await raw(pcs, 1, OPT.sizes[0], true);
  if (hasSendFile) {
    for (const encryption of OPT.encryptions) {
      for (const lanes of OPT.lanes) {
        // The raw figure it is held against is taken right before it, with
        // the same bytes and as many channels as lanes, so that both see the
        // same background load.
        const beside = OPT.beside ? await losses(() => rawRun(pa, pb, mem, 1, lanes, 64, Math.round(OPT.fileMiB * MiB))) : null;
        if (beside) {
          log(`${where}: raw beside it, 1 pc x ${lanes} ch x 64 KiB: ${beside.MBps.toFixed(2)} MB/s; ${costLine(beside)}`);
          rows.push({ where, ...beside, beside: true });
        }
        let r;
        try {
          r = await losses(() => fileRun(pa, pb, mem, encryption, lanes, sockets));
        } catch (e) {
          r = { kind: 'file', encryption, lanes, bytes: 0, complete: false, seconds: 0, MBps: 0, error: e.message, memory: null };
        }
        r.besideMBps = beside?.MBps;
        log(`${where}: file ${encryption} lanes ${lanes}: ${r.MBps.toFixed(2)} MB/s${r.error ? ` (${r.error})` : ''}; ${costLine(r)}`
          + `${r.rcvbuf ? `; receiver UDP rcvbuf ${r.rcvbuf.slice(0, 4).join(', ')}` : ''}${r.losses ? ` losses ${JSON.stringify(r.losses)}` : ''}`
          + `; backlog pauses ${r.stats?.receiver?.pausesAsked ?? '-'}, most frames waiting ${r.stats?.receiver?.maxFramesQueued ?? '-'}`);
        rows.push({ where, ...r });
      }
    }
  }
  await Promise.all([pa, pb].map((p) => p.evaluate(() => window.client.close()).catch(() => {})));
  return { rows, hasSendFile };
}

/** Forwards connections on `sockPath` (Unix) to 127.0.0.1:port. */
function unixRelay(sockPath, port) {
  const srv = net.createServer((c) => {
    const u = net.connect(port, '127.0.0.1');
    c.pipe(u);
    u.pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  return new Promise((resolve) => srv.listen(sockPath, () => resolve(srv)));
}

/** Inside a namespace: 127.0.0.1:port -> the Unix socket (node -e, killed with the namespace). */
const NS_RELAY = `const net = require('net'); const [port, sock] = process.argv.slice(1);
net.createServer((c) => { const u = net.connect(sock); c.pipe(u); u.pipe(c);
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); })
  .listen(Number(port), '127.0.0.1', () => console.log('listening'));`;

async function shapedRun(daemonPort, result) {
  const why = shapedLinkAvailable();
  if (why) throw new Error(`--shaped: ${why}`);
  const link = await createShapedLink({ rateMbit: OPT.rate, rttMs: OPT.rtt });
  const sides = [];
  let relay;
  try {
    const sock = path.join(link.dir, 'signal.sock');
    relay = await unixRelay(sock, daemonPort);
    for (const side of [link.a, link.b]) {
      const c = link.spawnIn(side, process.execPath, ['-e', NS_RELAY, String(daemonPort), sock],
        { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`relay in ${side.ns} did not start`)), 5000);
        c.stdout.on('data', (b) => { if (String(b).includes('listening')) { clearTimeout(t); resolve(); } });
      });
    }
    log(`shaped link ${link.a.addr} <-> ${link.b.addr}: ${OPT.rate} Mbit/s, ${OPT.rtt} ms RTT; iperf3 ${OPT.iperfSeconds} s`);
    const iperfBefore = await link.iperf3(OPT.iperfSeconds);
    log(`iperf3: ${iperfBefore.mbitPerS.toFixed(1)} Mbit/s, min RTT ${iperfBefore.minRttMs} ms`);
    const args = chromiumArgs().filter((a) => a !== '--allow-loopback-in-peer-connection');
    for (const side of [link.a, link.b]) sides.push(await launchSide(args, link.chromiumWrapper(side, CHROMIUM)));
    result.chromium ??= sides[0].browser.version();
    const out = await measure('shaped', sides, `http://127.0.0.1:${daemonPort}`, link);
    const iperfAfter = await link.iperf3(Math.min(5, OPT.iperfSeconds));
    log(`iperf3 after: ${iperfAfter.mbitPerS.toFixed(1)} Mbit/s`);
    return { ...out, iperf3: { before: iperfBefore, after: iperfAfter }, link: { rateMbit: OPT.rate, rttMs: OPT.rtt } };
  } finally {
    for (const s of sides) await s.context.close().catch(() => {});
    relay?.close();
    link.destroy();
  }
}

// -------------------------------------------------------------- report --

const f2 = (x) => (x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(2));
const f1 = (x) => (x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(1));

function table(result) {
  const lines = [];
  const mem = (m) => (m ? `${f1(m.heapPeakGrowthMiB)} / ${f1(m.rssPeakGrowthMiB)} (end ${f1(m.rssEndGrowthMiB)})` : '-');
  for (const part of result.parts) {
    const rows = part.rows;
    const best = Math.max(...rows.filter((r) => r.kind === 'raw' && !r.beside).map((r) => r.MBps));
    const goodput = part.iperf3?.before.MBPerS;
    lines.push(`**${part.where}**${part.iperf3 ? `: ${part.link.rateMbit} Mbit/s, ${part.link.rttMs} ms RTT; iperf3 TCP goodput ` +
      `${f1(part.iperf3.before.mbitPerS)} Mbit/s = ${f2(goodput)} MB/s (after the browser runs: ${f1(part.iperf3.after.mbitPerS)} Mbit/s), ` +
      `min RTT ${f1(part.iperf3.before.minRttMs)} ms` : ''}`);
    lines.push('');
    const shaped = Boolean(goodput);
    lines.push(`| measure | MB moved | MB/s | ÷ best raw${shaped ? ' | ÷ iperf3' : ''} | receiver peak growth, JS heap / renderer RSS (RSS at the end), MiB |` +
      `${shaped ? ' UDP datagrams dropped by the receiving socket (buffer full) |' : ''}`);
    lines.push(`| --- | ---: | ---: | ---: |${shaped ? ' ---: |' : ''} ---: |${shaped ? ' ---: |' : ''}`);
    const drops = (l) => (l?.b ? `${l.b.udpRcvbufErrors} of ${l.b.udpIn} (${f1((100 * l.b.udpRcvbufErrors) / l.b.udpIn)} %)` : '-');
    for (const r of rows) {
      const name = r.kind === 'raw'
        ? `${r.beside ? '(beside the next) ' : ''}raw: ${r.pcs} connection${r.pcs > 1 ? 's' : ''} x ${r.perPc} channel${r.perPc > 1 ? 's' : ''}, ${r.msgKiB} KiB messages${r.video ? ', each with a video m-line' : ''}`
        : `**sendFile ${r.encryption}, lanes ${r.lanes}**${r.widen ? '' : ' (no video m-line)'}${r.error ? ` (${r.error})` : ''}`;
      let ratio = f2(r.MBps / best);
      if (r.kind === 'file' && r.besideMBps) ratio += ` (**÷ raw beside it: ${f2(r.MBps / r.besideMBps)}**)`;
      lines.push(`| ${name} | ${f1(r.bytes / MB)} | ${f2(r.MBps)} | ${ratio}${shaped ? ` | ${f2(r.MBps / goodput)}` : ''} | ${mem(r.memory)} |` +
        `${shaped ? ` ${drops(r.losses)} |` : ''}`);
    }
    if (!part.hasSendFile) lines.push('', '(connection.sendFile is not in the SDK served: no transfer rows.)');
    lines.push('');
  }
  return lines.join('\n');
}

async function main() {
  const watchdog = setTimeout(() => {
    log(`--timeout ${OPT.timeout} s reached: giving up (cleanup runs on exit)`);
    process.exit(124);
  }, OPT.timeout * 1000);
  watchdog.unref();
  // Exit through process.exit so that the 'exit' handlers (daemon, link) run.
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
  const d = await startDaemon({
    web: path.join(ROOT, 'web'),
    limits: { messages_per_second: 1000, message_burst: 2000, sessions_per_user: 4, rooms_per_session: 4,
      room_size: 16, max_message_bytes: 65536, max_queued_bytes: 1048576, abuse_threshold: 20, hello_timeout_ms: 5000 },
  });
  const result = { options: OPT, parts: [], loadavg: { start: os.loadavg() } };
  try {
    if (OPT.loopback) {
      const sides = [await launchSide(chromiumArgs()), await launchSide(chromiumArgs())];
      try {
        result.chromium = sides[0].browser.version();
        result.parts.push({ where: 'loopback', ...(await measure('loopback', sides, `http://127.0.0.1:${d.port}`)) });
      } finally {
        for (const s of sides) await s.context.close().catch(() => {});
      }
    }
    if (OPT.shaped) result.parts.push({ where: 'shaped', ...(await shapedRun(d.port, result)) });
  } finally {
    await d.stop();
  }
  result.loadavg.end = os.loadavg();
  const la = (x) => x.map((v) => v.toFixed(1)).join(' ');
  console.log(`Chromium ${result.chromium ?? ''}, ${os.cpus().length} cores, load average ${la(result.loadavg.start)} at the start, ` +
    `${la(result.loadavg.end)} at the end; raw ${OPT.mb} MB per measurement (at most ${OPT.maxSeconds} s), file ${OPT.fileMiB} MiB:\n`);
  console.log(table(result));
  if (OPT.json) fs.writeFileSync(OPT.json, JSON.stringify(result, null, 1));
}

await main();
