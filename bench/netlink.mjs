// bench/netlink.mjs: a shaped link between two network namespaces for the
// benchmarks (../shared/RIGS.md, "Shaped links between namespaces"), used by
// bench/file_transfer.mjs --shaped; run alone it builds the link, measures
// it with iperf3 and deletes it:
//
//   node bench/netlink.mjs [--rate 100] [--rtt 40] [--seconds 10]
//
// The link: namespaces w2nl-<hex>-a and -b joined by a veth pair, 10.77.0.1/24
// (a) and 10.77.0.2/24 (b); each side's egress is rate-limited by tbf (this
// kernel has no netem, fq or cake); each side's INPUT from the veth goes
// through an NFQUEUE that bench/netdelay.c holds for rtt/2 (the delay is
// applied on the receiver, not the sender: held packets would still count
// against the sending socket and throttle TCP, RIGS.md). Each namespace
// gets a default route over the veth, so Chromium's default-route interface
// is the veth and its host candidate is the veth address.
//
// Everything created is deleted by destroy(), which also runs on exit, on
// SIGINT/SIGTERM, and from a detached watchdog shell if this process dies
// without running it (killed by a timeout).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const QUEUE = 7; // the NFQUEUE number, per namespace

function run(cmd, args, { allowFail = false, timeout = 10000 } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout });
  if (r.status !== 0 && !allowFail) {
    throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${(r.stderr || r.error?.message || '').trim()}`);
  }
  return r;
}

/** True when a shaped link can be built here: root, ip, tc, iptables, iperf3, cc. */
export function shapedLinkAvailable() {
  if (process.getuid?.() !== 0) return 'not root';
  for (const cmd of ['ip', 'tc', 'iptables', 'iperf3', 'cc']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) return `${cmd} is missing (make deps)`;
  }
  return '';
}

/** Compiles bench/netdelay.c into `dir`; returns the binary's path. */
function buildNetdelay(dir) {
  const bin = path.join(dir, 'netdelay');
  run('cc', ['-O2', '-Wall', '-o', bin, path.join(HERE, 'netdelay.c')], { timeout: 60000 });
  return bin;
}

/** Waits until `child` prints `word` on stdout (bounded). */
function waitForLine(child, word, ms, what) {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`${what}: no "${word}" within ${ms} ms: ${out}`)), ms);
    child.stdout.on('data', (b) => {
      out += b;
      if (out.includes(word)) { clearTimeout(t); resolve(); }
    });
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`${what} exited ${code}: ${out}`)); });
  });
}

/**
 * Builds the link. Resolves with {a, b} (each {ns, addr, dev}), exec(ns)
 * (argv prefix to run a command inside), chromiumWrapper(ns, chromium) (an
 * executable that runs Chromium inside `ns`, for playwright's
 * executablePath), iperf3(seconds), and destroy().
 * @param {{rateMbit?: number, rttMs?: number}} [opts]
 */
export async function createShapedLink({ rateMbit = 100, rttMs = 40 } = {}) {
  const tag = crypto.randomBytes(3).toString('hex');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'w2nl-'));
  const a = { ns: `w2nl-${tag}-a`, addr: '10.77.0.1', dev: `w2nl${tag}a` };
  const b = { ns: `w2nl-${tag}-b`, addr: '10.77.0.2', dev: `w2nl${tag}b` };
  const children = [];
  let destroyed = false;

  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    for (const c of children) {
      try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    for (const side of [a, b]) {
      // Whatever still runs inside (this run's own processes) goes first.
      const pids = run('ip', ['netns', 'pids', side.ns], { allowFail: true }).stdout?.split(/\s+/).filter(Boolean) ?? [];
      for (const pid of pids) {
        try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
      }
      run('ip', ['netns', 'del', side.ns], { allowFail: true });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (sig) => { destroy(); process.exit(sig === 'SIGINT' ? 130 : 143); };
  process.once('exit', destroy);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // If this process is killed outright, a detached shell deletes the namespaces.
  const watchdog = spawn('/bin/sh', ['-c',
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ` +
    `for n in ${a.ns} ${b.ns}; do for p in $(ip netns pids $n 2>/dev/null); do kill -9 $p; done; ip netns del $n 2>/dev/null; done; ` +
    `rm -rf '${dir}'`], { stdio: 'ignore', detached: true });
  watchdog.unref();

  try {
    const netdelay = buildNetdelay(dir);
    for (const side of [a, b]) run('ip', ['netns', 'add', side.ns]);
    run('ip', ['link', 'add', a.dev, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns]);
    const burst = Math.max(64, Math.round(rateMbit * 1000 / 8 / 250)); // KiB: >= 4 ms at the rate
    for (const [side, peer] of [[a, b], [b, a]]) {
      const n = ['-n', side.ns];
      run('ip', [...n, 'link', 'set', 'lo', 'up']);
      run('ip', [...n, 'addr', 'add', `${side.addr}/24`, 'dev', side.dev]);
      run('ip', [...n, 'link', 'set', side.dev, 'up']);
      run('ip', [...n, 'route', 'add', 'default', 'via', peer.addr]);
      run('tc', [...n, 'qdisc', 'add', 'dev', side.dev, 'root', 'tbf', 'rate', `${rateMbit}mbit`,
        'burst', `${burst}kb`, 'latency', '25ms']);
      run('ip', ['netns', 'exec', side.ns, 'iptables', '-A', 'INPUT', '-i', side.dev, '-j', 'NFQUEUE',
        '--queue-num', String(QUEUE)]);
      const d = spawn('ip', ['netns', 'exec', side.ns, netdelay, String(QUEUE), String(rttMs / 2)],
        { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
      children.push(d);
      await waitForLine(d, 'ready', 5000, `netdelay in ${side.ns}`);
    }
  } catch (e) {
    destroy();
    throw e;
  }

  const exec = (side) => ['ip', 'netns', 'exec', side.ns];

  /** A shell script that runs `chromium` inside side's namespace (exec keeps Playwright's pipes). */
  const chromiumWrapper = (side, chromium) => {
    const p = path.join(dir, `chromium-${side.ns}`);
    fs.writeFileSync(p, `#!/bin/sh\nexec ip netns exec ${side.ns} ${chromium} "$@"\n`, { mode: 0o755 });
    return p;
  };

  /** Starts a long-lived helper inside side's namespace; it is killed by destroy(). */
  const spawnIn = (side, cmd, args, opts = {}) => {
    const c = spawn('ip', ['netns', 'exec', side.ns, cmd, ...args], { detached: true, ...opts });
    children.push(c);
    return c;
  };

  /**
   * iperf3 TCP goodput a -> b (server in b, client in a), one stream;
   * resolves {mbitPerS, MBPerS, minRttMs, meanRttMs, retransmits}.
   */
  const iperf3 = async (seconds = 10, streams = 1) => {
    const port = 5201 + crypto.randomInt(1000);
    const srv = spawnIn(b, 'iperf3', ['-s', '-1', '--forceflush', '-B', b.addr, '-p', String(port)],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitForLine(srv, 'listening', 5000, 'iperf3 -s');
    const r = run('ip', ['netns', 'exec', a.ns, 'iperf3', '-c', b.addr, '-p', String(port), '-t', String(seconds),
      '-P', String(streams), '-J'], { timeout: (seconds + 20) * 1000 });
    const j = JSON.parse(r.stdout);
    const s = j.end.streams.map((x) => x.sender);
    return {
      seconds,
      streams,
      mbitPerS: j.end.sum_received.bits_per_second / 1e6,
      MBPerS: j.end.sum_received.bits_per_second / 8 / 1e6,
      minRttMs: Math.min(...s.map((x) => x.min_rtt)) / 1000,
      meanRttMs: s.reduce((t, x) => t + x.mean_rtt, 0) / s.length / 1000,
      retransmits: j.end.sum_sent.retransmits,
    };
  };

  /**
   * Loss counters of both sides, to tell where packets went: tbf drops
   * (egress queue full), NFQUEUE drops (queue full / not delivered to
   * netdelay), and UDP receive-buffer overflows (the receiving socket, e.g.
   * Chromium's, did not read fast enough). Cumulative; diff two snapshots.
   */
  const counters = () => {
    const out = {};
    for (const [name, side] of [['a', a], ['b', b]]) {
      const tc = run('tc', ['-n', side.ns, '-s', 'qdisc', 'show', 'dev', side.dev], { allowFail: true }).stdout ?? '';
      const nfq = (run('ip', ['netns', 'exec', side.ns, 'cat', '/proc/net/netfilter/nfnetlink_queue'],
        { allowFail: true }).stdout ?? '').trim().split(/\s+/).map(Number);
      const snmp = (run('ip', ['netns', 'exec', side.ns, 'cat', '/proc/net/snmp'], { allowFail: true }).stdout ?? '')
        .split('\n').filter((l) => l.startsWith('Udp:')).map((l) => l.split(/\s+/).slice(1));
      const udp = snmp.length === 2 ? Object.fromEntries(snmp[0].map((k, i) => [k, Number(snmp[1][i])])) : {};
      out[name] = {
        tbfDropped: Number(/dropped (\d+)/.exec(tc)?.[1] ?? NaN),
        nfqDropped: (nfq[5] ?? NaN) + (nfq[6] ?? NaN),
        udpIn: udp.InDatagrams,
        udpRcvbufErrors: udp.RcvbufErrors,
      };
    }
    return out;
  };

  /**
   * The receive buffers (bytes, as the kernel doubled them: ss's rb) of the
   * UDP sockets in `side`'s namespace, largest first.
   */
  const udpReceiveBuffers = (side) => {
    const out = run('ip', ['netns', 'exec', side.ns, 'ss', '-uamn'], { allowFail: true }).stdout ?? '';
    return [...out.matchAll(/\brb(\d+)/g)].map((m) => Number(m[1])).sort((x, y) => y - x);
  };

  return { a, b, dir, rateMbit, rttMs, exec, spawnIn, chromiumWrapper, iperf3, counters, udpReceiveBuffers, destroy };
}

function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const why = shapedLinkAvailable();
  if (why) {
    console.error(`netlink: cannot build a shaped link here: ${why}`);
    process.exit(1);
  }
  const link = await createShapedLink({ rateMbit: Number(argValue('--rate', '100')), rttMs: Number(argValue('--rtt', '40')) });
  try {
    const secs = Number(argValue('--seconds', '10'));
    console.log(JSON.stringify({ link: `${link.rateMbit} Mbit/s, ${link.rttMs} ms RTT`, iperf3: await link.iperf3(secs) }));
  } finally {
    link.destroy();
  }
}
