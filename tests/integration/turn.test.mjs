// The built-in STUN/TURN relay (issue 4; RFC 8489, RFC 8656, the TURN REST
// API credentials of coturn's use-auth-secret):
//
//   1. interop with coturn's own client tools (turnutils_stunclient,
//      turnutils_uclient with turnutils_peer as the echo peer) over UDP,
//      TCP and TLS, with channels and with Send indications, REST and
//      static credentials, and a wrong password;
//   2. bad input from our own client (turn-lib.mjs): missing, wrong and
//      expired credentials, tampered nonces, quotas, the peer policy,
//      malformed packets, unknown attributes, Refresh(0), data without a
//      permission;
//   3. the credential handed out in signaling's welcome/refreshed works for a
//      real Allocate;
//   4. `--roles turn` runs the relay alone (its HTTP listener serves only
//      /healthz and /metrics), WEBRTC2_ROLES=signaling runs no relay;
//   5. a TURN port in use stops the start with a message naming it.
//
// Every daemon gets its own free TURN ports and its own relay port range;
// all traffic stays on 127.0.0.1. The coturn tools are Debian's `coturn`
// package (scripts/deps.sh); without them the interop tests are skipped.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  Client, WAIT_MS, closeAll, connect, daemonEnv, daemonPath, freePort, httpGet, mintToken, nowS,
  renderConfig, scrape, sleep, startDaemon, uniqueUser,
} from './lib.mjs';
import {
  A, C, M, TurnClient, UDP_TRANSPORT, UdpPeer, channelData, checkIntegrity, encode, longTermKey,
  portFreeBoth, restCredential, xorAddr,
} from './turn-lib.mjs';

const TURN_SECRET = 'turn-secret-0123456789abcdef';
const REALM = 'example.org';
const LOCAL = '127.0.0.1';

const HAVE_COTURN = spawnSync('sh', ['-c', 'command -v turnutils_uclient && command -v turnutils_peer && command -v turnutils_stunclient'], { stdio: 'ignore' }).status === 0;
const NO_COTURN = HAVE_COTURN ? false : 'coturn tools not installed (apt package coturn, scripts/deps.sh)';

// ---------------------------------------------------------------- daemons --

const cleanups = [];
after(async () => {
  for (const f of cleanups.reverse()) {
    try { await f(); } catch { /* best effort */ }
  }
});

/** A TCP port that is also free for UDP on 127.0.0.1 (free when asked). */
async function freeBothPort() {
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    if (await portFreeBoth(p)) return p;
  }
  throw new Error('no port free for both TCP and UDP');
}

/** The kernel's ephemeral port range (where port-0 binds of peers land). */
function ephemeralRange() {
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo > 0 && hi > lo) return { lo, hi };
  } catch { /* not Linux */ }
  return { lo: 32768, hi: 60999 };
}

/** Two UDP ports p and p+1 free (turnutils_peer listens on both), ephemeral. */
async function freeUdpPair() {
  const { lo, hi } = ephemeralRange();
  for (let i = 0; i < 50; i++) {
    const p = lo + crypto.randomInt(hi - lo - 1);
    if (await portFreeBoth(p) && await portFreeBoth(p + 1)) return p;
  }
  throw new Error('no free UDP port pair');
}

/**
 * A relay port range of 100 of our own (others' daemons pick theirs at
 * random), below the ephemeral range where the test peers' port-0 binds
 * land, so that a peer's port is never mistaken for one of the daemon's own
 * relay ports.
 */
function relayRange() {
  const top = Math.min(ephemeralRange().lo, 32768);
  const base = 10000 + crypto.randomInt(Math.floor((top - 10100) / 100)) * 100;
  return { min_port: base, max_port: base + 99 };
}

/** The `turn:` YAML section: each value rendered as JSON (valid YAML flow). */
function turnYaml(turn) {
  return ['turn:', ...Object.entries(turn).filter(([, v]) => v !== undefined).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)].join('\n');
}

function turnSection(ports, over = {}) {
  return {
    listen: [{ address: `${LOCAL}:${ports.turn}` }, { address: `${LOCAL}:${ports.tls}`, tls: true }],
    secret: TURN_SECRET,
    credential_ttl: 600,
    users: [{ name: 'bob', password: 'pw' }],
    realm: REALM,
    ...relayRange(),
    allowed_peer_ranges: ['127.0.0.0/8'],
    ...over,
  };
}

/**
 * Starts a daemon with the signaling and TURN roles. `turn` overrides keys
 * of the turn section (undefined removes one). Resolves the lib.mjs Daemon
 * with .turnPort and .tlsTurnPort.
 */
/**
 * The sockets (as `ss` lines) that process `pid` holds on any of `ports`,
 * UDP or TCP, listening or bound.
 */
function daemonSocketsOn(pid, ports) {
  const r = spawnSync('ss', ['-Hanptu'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((line) => line.includes(`pid=${pid},`)
    && ports.some((p) => new RegExp(`:${p}\\s`).test(line)));
}

async function startTurnDaemon({ turn = {}, env } = {}) {
  let last;
  for (let attempt = 0; attempt < 4; attempt++) {
    const ports = { turn: await freeBothPort(), tls: await freePort() };
    const section = turnSection(ports, turn);
    try {
      const d = await startDaemon({ turn: true, extra: turnYaml(section), env });
      cleanups.push(() => d.stop());
      d.turnCfg = section;
      d.turnPort = ports.turn;
      d.tlsTurnPort = ports.tls;
      return d;
    } catch (e) {
      last = e;
      if (!/in use/i.test(e.message)) throw e;
    }
  }
  throw last;
}

/** Polls /metrics until `pred(value of name)` holds (published once a second). */
async function waitMetric(d, name, pred, what = '') {
  const deadline = Date.now() + WAIT_MS;
  let v;
  for (;;) {
    v = (await scrape(d)).get(name);
    if (v !== undefined && pred(v)) return v;
    if (Date.now() > deadline) throw new Error(`${name} is ${v}, not ${what || 'as expected'} within ${WAIT_MS} ms`);
    await sleep(100);
  }
}

/** The metric's value once the daemon has published everything before now. */
async function metricNow(d, name) {
  await sleep(1100);
  const v = (await scrape(d)).get(name);
  assert.notEqual(v, undefined, `/metrics has no ${name}`);
  return v;
}

async function openClient(transport, port) {
  const c = await TurnClient.open(transport, port);
  cleanups.push(() => c.close());
  return c;
}

async function openPeer() {
  const p = await UdpPeer.open();
  cleanups.push(() => p.close());
  return p;
}

function restFor(name, ttl = 600) {
  return restCredential(TURN_SECRET, name, nowS() + ttl);
}

/** Allocates with a fresh REST credential; asserts success. */
async function allocated(transport, port, name = uniqueUser('t')) {
  const c = await openClient(transport, port);
  const { username, password } = restFor(name);
  const r = await c.allocate(username, password);
  assert.equal(r.cls, C.SUCCESS, `Allocate over ${transport} failed: ${r.errorCode}`);
  return c;
}

/**
 * One datagram each way between client `c` and UDP `peer` through the
 * relay: by ChannelData on `channel`, else by Send/Data indications.
 */
async function roundTrip(c, peer, channel) {
  const out = crypto.randomBytes(37);
  if (channel) c.sendChannelData(channel, out);
  else c.sendIndication(LOCAL, peer.port, out);
  const got = await peer.next((e) => e.data.equals(out));
  assert.deepEqual(got.from, c.relayed, 'the peer sees the data come from the relayed address');
  const back = crypto.randomBytes(41);
  peer.send(back, c.relayed.ip, c.relayed.port);
  const r = await c.nextData((e) => e.data.equals(back));
  if (channel) assert.equal(r.channel, channel, 'peer data on a bound channel comes as ChannelData');
  else assert.deepEqual(r.peer, { ip: LOCAL, port: peer.port }, 'a Data indication names the peer');
}

// ------------------------------------------------------------ coturn tools --

/** Runs a coturn tool to completion (bounded); resolves {code, out}. */
function runTool(cmd, args, timeoutMs = 20000) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { out += `\n[killed after ${timeoutMs} ms]`; p.kill('SIGKILL'); }, timeoutMs);
    cleanups.push(() => { if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); });
    p.on('error', (e) => { clearTimeout(timer); resolve({ code: -1, out: `${out}\n${e.message}` }); });
    p.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? signal, out }); });
  });
}

/** Starts turnutils_peer (UDP echo on port and port+1); resolves its port. */
async function startEchoPeer() {
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeUdpPair();
    const p = spawn('turnutils_peer', ['-L', LOCAL, '-p', String(port)], { stdio: 'ignore' });
    cleanups.push(async () => {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGTERM');
        await Promise.race([new Promise((r) => p.once('exit', r)), sleep(WAIT_MS)]);
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      }
    });
    // Up once the port is taken.
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline && p.exitCode === null) {
      if (!(await portFreeBoth(port))) return port;
      await sleep(50);
    }
    p.kill('SIGKILL');
  }
  throw new Error('turnutils_peer did not start');
}

/** The counts turnutils_uclient prints at the end of a run. */
function uclientTotals(out) {
  const sums = [...out.matchAll(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/g)];
  const lost = [...out.matchAll(/Total lost packets (\d+)/g)];
  if (!sums.length || !lost.length) return null;
  const last = sums[sums.length - 1];
  return { sent: Number(last[1]), received: Number(last[2]), lost: Number(lost[lost.length - 1][1]) };
}

async function uclient(args) {
  const r = await runTool('turnutils_uclient', args);
  return { ...r, totals: uclientTotals(r.out) };
}

function assertNoLoss(r, what) {
  const tail = r.out.split('\n').slice(-15).join('\n');
  assert.equal(r.code, 0, `${what}: uclient exited ${r.code}:\n${tail}`);
  assert.ok(r.totals, `${what}: no totals in the output:\n${tail}`);
  assert.ok(r.totals.sent > 0, `${what}: nothing sent:\n${tail}`);
  assert.equal(r.totals.received, r.totals.sent, `${what}: received != sent:\n${tail}`);
  assert.equal(r.totals.lost, 0, `${what}: lost packets:\n${tail}`);
}

describe('coturn tools against webrtc2d', { skip: NO_COTURN }, () => {
  let d;
  let peerPort;

  test('setup: daemon with the TURN role, turnutils_peer echo peer', async () => {
    d = await startTurnDaemon();
    peerPort = await startEchoPeer();
  });

  test('turnutils_stunclient: a Binding answers with the reflexive address', async () => {
    const r = await runTool('turnutils_stunclient', ['-p', String(d.turnPort), LOCAL], 10000);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /UDP reflexive addr: 127\.0\.0\.1:\d+/, r.out);
  });

  const base = () => ['-c', '-e', LOCAL, '-r', String(peerPort), '-m', '1', '-l', '200', '-n', '40', '-z', '1'];
  const transports = [
    ['UDP', () => ['-p', String(d.turnPort)]],
    ['TCP', () => ['-t', '-p', String(d.turnPort)]],
    ['TLS', () => ['-t', '-S', '-p', String(d.tlsTurnPort)]],
  ];
  for (const [name, targs] of transports) {
    test(`uclient over ${name}, REST credential (-W), Send indications (-s): no loss`, async () => {
      const r = await uclient([...targs(), '-s', ...base(), '-W', TURN_SECRET, '-u', uniqueUser('uc'), LOCAL]);
      assertNoLoss(r, name);
    });
    test(`uclient over ${name}, REST credential (-W), channels: no loss`, async () => {
      const r = await uclient([...targs(), ...base(), '-W', TURN_SECRET, '-u', uniqueUser('uc'), LOCAL]);
      assertNoLoss(r, name);
    });
  }

  // -y: uclient's clients talk to each other, relay to relay, through
  // webrtc2d (no turnutils_peer involved).
  test('uclient client-to-client (-y) over UDP with channels: no loss', async () => {
    const r = await uclient(['-p', String(d.turnPort), '-y', '-c', '-m', '2', '-l', '200', '-n', '40', '-z', '1', '-W', TURN_SECRET, '-u', uniqueUser('uy'), LOCAL]);
    assertNoLoss(r, 'client-to-client UDP');
  });

  test('uclient client-to-client (-y) over TLS with Send indications: no loss', async () => {
    const r = await uclient(['-t', '-S', '-p', String(d.tlsTurnPort), '-y', '-s', '-c', '-m', '2', '-l', '200', '-n', '40', '-z', '1', '-W', TURN_SECRET, '-u', uniqueUser('uy'), LOCAL]);
    assertNoLoss(r, 'client-to-client TLS');
  });

  test('uclient over UDP with a static user (-u bob -w pw): no loss', async () => {
    const r = await uclient(['-p', String(d.turnPort), '-s', ...base(), '-u', 'bob', '-w', 'pw', LOCAL]);
    assertNoLoss(r, 'static user');
  });

  test('uclient with a wrong password or a wrong REST secret fails, and the failures are counted', async () => {
    const before = await metricNow(d, 'webrtc2_turn_auth_failures_total');
    const wrongPw = await uclient(['-p', String(d.turnPort), '-s', ...base(), '-u', 'bob', '-w', 'not-pw', LOCAL]);
    assert.notEqual(wrongPw.code, 0, `uclient succeeded with a wrong password:\n${wrongPw.out}`);
    assert.match(wrongPw.out, /401|Cannot complete Allocation/, 'uclient reports that the Allocate failed');
    const wrongSecret = await uclient(['-t', '-p', String(d.turnPort), '-s', ...base(), '-W', 'not-the-secret-0123456789', '-u', 'eve', LOCAL]);
    assert.notEqual(wrongSecret.code, 0, `uclient succeeded with a wrong REST secret:\n${wrongSecret.out}`);
    await waitMetric(d, 'webrtc2_turn_auth_failures_total', (v) => v >= before + 2, `>= ${before + 2}`);
    d.assertAlive();
  });
});

// ------------------------------------------------- our client: transports --

describe('own client: Allocate and relay over each transport', () => {
  let d;
  let peer;

  test('setup', async () => {
    d = await startTurnDaemon();
    peer = await openPeer();
  });

  for (const transport of ['udp', 'tcp', 'tls']) {
    test(`${transport}: Allocate, CreatePermission, Send/Data, ChannelBind, ChannelData`, async () => {
      const c = await allocated(transport, transport === 'tls' ? d.tlsTurnPort : d.turnPort);
      assert.equal(c.relayed.ip, LOCAL);
      const { min_port: lo, max_port: hi } = d.turnCfg;
      assert.ok(c.relayed.port >= lo && c.relayed.port <= hi, `relayed port ${c.relayed.port} in ${lo}-${hi}`);
      assert.equal(c.mapped.ip, LOCAL);
      assert.equal(c.mapped.port, c.localPort, 'XOR-MAPPED-ADDRESS is our source');
      assert.equal(c.lifetime, 600);
      let r = await c.createPermission(LOCAL);
      assert.equal(r.cls, C.SUCCESS, `CreatePermission: ${r.errorCode}`);
      await roundTrip(c, peer);
      r = await c.channelBind(0x4001, LOCAL, peer.port);
      assert.equal(r.cls, C.SUCCESS, `ChannelBind: ${r.errorCode}`);
      await roundTrip(c, peer, 0x4001);
      c.close();
    });
  }

  // turnutils_uclient -c sends EVEN-PORT (R=0) on a random half of its
  // Allocates (startuclient.c: ep = random() % 2 - 1).
  test('an Allocate with EVEN-PORT (R=0) gets an even relayed port', async () => {
    const c = await openClient('udp', d.turnPort);
    const { username, password } = restFor(uniqueUser('ev'));
    const r = await c.allocate(username, password, { extra: [[0x0018, Buffer.from([0x00])]] });
    assert.equal(r.cls, C.SUCCESS, `Allocate with EVEN-PORT R=0: ${r.errorCode} ${r.get(A.UNKNOWN_ATTRIBUTES)?.toString('hex') ?? ''}`);
    assert.equal(c.relayed.port % 2, 0, `relayed port ${c.relayed.port} is even`);
    await c.refresh(0);
  });

  test('responses to authenticated requests carry a valid MESSAGE-INTEGRITY', async () => {
    const c = await openClient('udp', d.turnPort);
    const { username, password } = restFor(uniqueUser('mi'));
    const r = await c.allocate(username, password);
    assert.equal(r.cls, C.SUCCESS);
    assert.ok(checkIntegrity(r, longTermKey(username, REALM, password)), 'Allocate success integrity');
    const r2 = await c.refresh(600);
    assert.ok(checkIntegrity(r2, c.key), 'Refresh success integrity');
    await c.refresh(0);
  });
});

// ------------------------------------------------------------ bad input --

describe('bad input from our own client', () => {
  let d;
  let peer;

  test('setup', async () => {
    d = await startTurnDaemon({ turn: { max_allocations_per_user: 2 } });
    peer = await openPeer();
  });

  test('an Allocate without credentials: 401 with REALM and a NONCE, and no allocation', async () => {
    const c = await openClient('udp', d.turnPort);
    const r = await c.request(encode(M.ALLOCATE, C.REQUEST, [[A.REQUESTED_TRANSPORT, UDP_TRANSPORT]]));
    assert.equal(r.cls, C.ERROR);
    assert.equal(r.errorCode, 401);
    assert.equal(r.str(A.REALM), REALM);
    assert.ok(r.str(A.NONCE)?.length > 0, 'a NONCE');
    assert.equal(r.get(A.XOR_RELAYED_ADDRESS), undefined);
    assert.equal(r.get(A.MESSAGE_INTEGRITY), undefined, 'nothing to sign a challenge with');
  });

  test('a wrong password: 401, and webrtc2_turn_auth_failures_total grows', async () => {
    const before = await metricNow(d, 'webrtc2_turn_auth_failures_total');
    const c = await openClient('udp', d.turnPort);
    const r = await c.allocate('bob', 'wrong');
    assert.equal(r.cls, C.ERROR);
    assert.equal(r.errorCode, 401);
    assert.ok(r.str(A.NONCE), '401 comes with a nonce to retry with');
    const { username } = restFor('mallory');
    const r2 = await (await openClient('udp', d.turnPort)).allocate(username, 'not-the-hmac');
    assert.equal(r2.errorCode, 401, 'a REST user name with a wrong password');
    await waitMetric(d, 'webrtc2_turn_auth_failures_total', (v) => v >= before + 2, `>= ${before + 2}`);
  });

  test('an expired REST user name (expiry in the past): 401', async () => {
    const c = await openClient('udp', d.turnPort);
    const { username, password } = restCredential(TURN_SECRET, 'late', nowS() - 60);
    const r = await c.allocate(username, password);
    assert.equal(r.cls, C.ERROR);
    assert.equal(r.errorCode, 401);
    // The same name a minute in the future works: only the expiry was wrong.
    const ok = restCredential(TURN_SECRET, 'late', nowS() + 60);
    const r2 = await (await openClient('udp', d.turnPort)).allocate(ok.username, ok.password);
    assert.equal(r2.cls, C.SUCCESS);
  });

  // A nonce lives 10 minutes; a stale one cannot be waited for here. A nonce
  // that is not one the server made for this client (tampered MAC) is
  // treated as stale: webrtc2d answers 438 Stale Nonce with a fresh NONCE
  // (and REALM), and the request retried with that nonce succeeds.
  test('a tampered nonce: 438 with a fresh nonce, which then works', async () => {
    const before = await metricNow(d, 'webrtc2_turn_stale_nonces_total');
    const c = await openClient('udp', d.turnPort);
    const first = await c.request(encode(M.ALLOCATE, C.REQUEST, [[A.REQUESTED_TRANSPORT, UDP_TRANSPORT]]));
    const good = first.str(A.NONCE);
    const last = good.at(-1);
    const tampered = good.slice(0, -1) + (last === '0' ? '1' : '0');
    const { username, password } = restFor(uniqueUser('n'));
    c.realm = first.str(A.REALM);
    c.user = username;
    c.key = longTermKey(username, c.realm, password);
    c.nonce = tampered;
    const r = await c.send(M.ALLOCATE, [[A.REQUESTED_TRANSPORT, UDP_TRANSPORT]], { noRetry: true });
    assert.equal(r.cls, C.ERROR);
    assert.equal(r.errorCode, 438, `expected 438 Stale Nonce, got ${r.errorCode}`);
    const fresh = r.str(A.NONCE);
    assert.ok(fresh && fresh !== tampered, 'a fresh nonce');
    assert.equal(r.str(A.REALM), REALM);
    c.nonce = fresh;
    const ok = await c.send(M.ALLOCATE, [[A.REQUESTED_TRANSPORT, UDP_TRANSPORT]], { noRetry: true });
    assert.equal(ok.cls, C.SUCCESS, `retry with the fresh nonce: ${ok.errorCode}`);
    await waitMetric(d, 'webrtc2_turn_stale_nonces_total', (v) => v >= before + 1, `>= ${before + 1}`);
    await c.refresh(0);
  });

  test('quota: a third allocation of one user (max_allocations_per_user 2) gets 486', async () => {
    const before = await metricNow(d, 'webrtc2_turn_quota_rejections_total');
    const name = uniqueUser('q');
    const cs = [];
    for (let i = 0; i < 3; i++) cs.push(await openClient('udp', d.turnPort));
    assert.equal(new Set(cs.map((c) => c.localPort)).size, 3, 'three source ports');
    const cred = () => restFor(name);
    assert.equal((await cs[0].allocate(cred().username, cred().password)).cls, C.SUCCESS);
    assert.equal((await cs[1].allocate(cred().username, cred().password)).cls, C.SUCCESS);
    const third = await cs[2].allocate(cred().username, cred().password);
    assert.equal(third.cls, C.ERROR);
    assert.equal(third.errorCode, 486, `expected 486 Allocation Quota Reached, got ${third.errorCode}`);
    await waitMetric(d, 'webrtc2_turn_quota_rejections_total', (v) => v >= before + 1, `>= ${before + 1}`);
    // Another user is not affected; freeing one makes room again.
    const other = await allocated('udp', d.turnPort);
    await other.refresh(0);
    const freed = await cs[0].refresh(0);
    assert.equal(freed.cls, C.SUCCESS);
    const again = await cs[2].send(M.ALLOCATE, [[A.REQUESTED_TRANSPORT, UDP_TRANSPORT]]);
    assert.equal(again.cls, C.SUCCESS, `after a free: ${again.errorCode}`);
    await cs[1].refresh(0);
    await cs[2].refresh(0);
  });

  test('CreatePermission to 10.0.0.1 (private, not allowed): 403, counted', async () => {
    const before = await metricNow(d, 'webrtc2_turn_forbidden_peers_total');
    const c = await allocated('udp', d.turnPort);
    const r = await c.createPermission('10.0.0.1');
    assert.equal(r.cls, C.ERROR);
    assert.equal(r.errorCode, 403);
    const r2 = await c.channelBind(0x4002, '10.0.0.1', 5000);
    assert.equal(r2.errorCode, 403, 'ChannelBind to it: 403 too');
    // Nothing sent there: a Send indication is dropped.
    c.sendIndication('10.0.0.1', 5000, Buffer.from('x'));
    await waitMetric(d, 'webrtc2_turn_forbidden_peers_total', (v) => v >= before + 2, `>= ${before + 2}`);
    await c.refresh(0);
  });

  test('malformed packets get no answer, and the allocation keeps relaying', async () => {
    const before = await metricNow(d, 'webrtc2_turn_malformed_total');
    const c = await allocated('udp', d.turnPort);
    assert.equal((await c.channelBind(0x4003, LOCAL, peer.port)).cls, C.SUCCESS);
    await roundTrip(c, peer, 0x4003);
    const header = encode(M.BINDING, C.REQUEST, []);
    const overrun = Buffer.from(encode(M.BINDING, C.REQUEST, [[A.SOFTWARE, 'x']]));
    overrun.writeUInt16BE(400, 2); // says 400 bytes follow; 8 do
    const garbage = [
      Buffer.concat([Buffer.from([0xc3]), crypto.randomBytes(63)]), // not STUN, not ChannelData
      header.subarray(0, 10),                                       // truncated header
      overrun,
      channelData(0x4abc, Buffer.from('unbound channel')),           // no such channel
      channelData(0x4003, Buffer.from('short')).subarray(0, 6),      // ChannelData shorter than its length
    ];
    for (const g of garbage) c.sendRaw(g);
    await sleep(500);
    assert.deepEqual(c.other.map((m) => `${m.method}/${m.cls}/${m.errorCode}`), [], 'no answer to any of them');
    await peer.expectNone(() => true, 100);
    await roundTrip(c, peer, 0x4003);
    await waitMetric(d, 'webrtc2_turn_malformed_total', (v) => v >= before + 3, `>= ${before + 3}`);
    // The same over TCP: the stream survives a ChannelData for an unbound
    // channel and keeps relaying.
    const t = await allocated('tcp', d.turnPort);
    assert.equal((await t.channelBind(0x4004, LOCAL, peer.port)).cls, C.SUCCESS);
    t.sendRaw(channelData(0x4abc, Buffer.from('unbound!'), true));
    await roundTrip(t, peer, 0x4004);
    assert.equal(t.closed, false);
    d.assertAlive();
    await c.refresh(0);
    t.close();
  });

  test('an unknown comprehension-required attribute: 420 listing it', async () => {
    const c = await allocated('udp', d.turnPort);
    const r = await c.send(M.CREATE_PERMISSION, [[A.XOR_PEER_ADDRESS, xorAddr(LOCAL, 1)], [0x0031, 'what']]);
    assert.equal(r.cls, C.ERROR);
    assert.equal(r.errorCode, 420);
    const ua = r.get(A.UNKNOWN_ATTRIBUTES);
    assert.ok(ua, 'UNKNOWN-ATTRIBUTES present');
    assert.equal(ua.readUInt16BE(0), 0x0031);
    // A Binding (no credential needed) with one: 420 as well.
    const b = await c.request(encode(M.BINDING, C.REQUEST, [[0x7f01, 'x']]));
    assert.equal(b.errorCode, 420);
    assert.equal(b.get(A.UNKNOWN_ATTRIBUTES).readUInt16BE(0), 0x7f01);
    // An unknown comprehension-optional one (>= 0x8000) is ignored.
    const ok = await c.send(M.CREATE_PERMISSION, [[A.XOR_PEER_ADDRESS, xorAddr(LOCAL, 1)], [0x8fff, 'ignore me']]);
    assert.equal(ok.cls, C.SUCCESS, `optional attribute: ${ok.errorCode}`);
    await c.refresh(0);
  });

  test('Refresh with lifetime 0 frees the allocation: gauge down, nothing relayed after', async () => {
    const c = await allocated('udp', d.turnPort);
    assert.equal((await c.createPermission(LOCAL)).cls, C.SUCCESS);
    await roundTrip(c, peer);
    const withIt = await metricNow(d, 'webrtc2_turn_allocations');
    assert.ok(withIt >= 1);
    const r = await c.refresh(0);
    assert.equal(r.cls, C.SUCCESS);
    assert.equal(r.get(A.LIFETIME)?.readUInt32BE(0), 0);
    await waitMetric(d, 'webrtc2_turn_allocations', (v) => v === withIt - 1, `${withIt - 1}`);
    c.sendIndication(LOCAL, peer.port, Buffer.from('after the end'));
    await peer.expectNone((e) => e.data.toString() === 'after the end');
    peer.send(Buffer.from('to a freed relay'), c.relayed.ip, c.relayed.port);
    await sleep(200);
    assert.equal(c.inbox.length, 0, 'nothing arrives from the freed relay');
    const again = await c.refresh(600);
    assert.equal(again.errorCode, 437, 'a Refresh of a freed allocation: 437 Allocation Mismatch');
  });

  test('data to or from a peer without a permission is not relayed', async () => {
    const before = await metricNow(d, 'webrtc2_turn_no_permission_drops_total');
    const c = await allocated('udp', d.turnPort);
    const other = await openPeer();
    // A permission for 127.0.0.2 does not cover 127.0.0.1 (ports aside).
    assert.equal((await c.createPermission('127.0.0.2')).cls, C.SUCCESS);
    c.sendIndication(LOCAL, peer.port, Buffer.from('no permission'));
    c.sendChannelData(0x4005, Buffer.from('no channel')); // never bound
    await peer.expectNone();
    other.send(Buffer.from('uninvited'), c.relayed.ip, c.relayed.port);
    await sleep(300);
    assert.deepEqual(c.inbox, [], 'a peer without permission reaches nobody');
    await waitMetric(d, 'webrtc2_turn_no_permission_drops_total', (v) => v >= before + 2, `>= ${before + 2}`);
    // With the permission, the same Send indication goes through.
    assert.equal((await c.createPermission(LOCAL)).cls, C.SUCCESS);
    await roundTrip(c, peer);
    await c.refresh(0);
  });
});

describe('peer policy without allowed_peer_ranges', () => {
  test('CreatePermission to 127.0.0.1 (loopback refused by default): 403', async () => {
    const d = await startTurnDaemon({ turn: { allowed_peer_ranges: undefined } });
    const c = await allocated('udp', d.turnPort);
    const r = await c.createPermission(LOCAL);
    assert.equal(r.cls, C.ERROR);
    assert.equal(r.errorCode, 403);
    const peer = await openPeer();
    c.sendIndication(LOCAL, peer.port, Buffer.from('loop'));
    await peer.expectNone();
    await c.refresh(0);
  });
});

// ------------------------------------------------ credentials in signaling --

describe('TURN credentials from signaling', () => {
  let d;

  test('welcome.iceServers[0] points at our listeners with a REST credential that allocates', async () => {
    d = await startTurnDaemon();
    const user = uniqueUser('s');
    const t0 = nowS();
    const c = await connect(d, user);
    cleanups.push(() => c.close());
    const ice = c.welcome.iceServers;
    assert.ok(Array.isArray(ice) && ice.length >= 2, JSON.stringify(ice));
    const s = ice[0];
    assert.deepEqual(s.urls, [
      `turn:${LOCAL}:${d.turnPort}?transport=udp`,
      `turn:${LOCAL}:${d.turnPort}?transport=tcp`,
      `turns:${LOCAL}:${d.tlsTurnPort}?transport=tcp`,
    ]);
    assert.deepEqual(ice[1].urls, ['stun:stun.example.org:3478'], 'the configured servers follow');
    const m = /^(\d+):(.+)$/.exec(s.username);
    assert.ok(m, `username ${s.username}`);
    assert.ok(m[2].includes(user), `username names the user: ${s.username}`);
    const exp = Number(m[1]);
    assert.ok(exp >= t0 + 600 - 2 && exp <= nowS() + 600 + 2, `expiry ${exp} is now + credential_ttl (600)`);
    assert.equal(s.credential, crypto.createHmac('sha1', TURN_SECRET).update(s.username).digest('base64'));
    for (const [transport, port] of [['udp', d.turnPort], ['tcp', d.turnPort], ['tls', d.tlsTurnPort]]) {
      const t = await openClient(transport, port);
      const r = await t.allocate(s.username, s.credential);
      assert.equal(r.cls, C.SUCCESS, `${transport}: Allocate with the welcome credential: ${r.errorCode}`);
      if (transport === 'udp') await t.refresh(0);
      t.close();
    }
    c.firstExpiry = exp;
    c.user = user;
    d.client = c;
  });

  test('refresh answers refreshed with fresh iceServers and a later expiry', async () => {
    const c = d.client;
    await sleep(1100); // the expiry has a one-second grain
    c.send({ type: 'refresh', token: mintToken(c.user) });
    const r = await c.next((e) => e.type === 'refreshed' || e.type === 'error');
    assert.equal(r.type, 'refreshed', `refresh refused: ${r.raw}`);
    const s = r.iceServers?.[0];
    assert.ok(s, `refreshed has iceServers: ${r.raw}`);
    assert.equal(s.urls.length, 3);
    const exp = Number(/^(\d+):/.exec(s.username)[1]);
    assert.ok(exp > c.firstExpiry, `later expiry: ${exp} > ${c.firstExpiry}`);
    const t = await openClient('udp', d.turnPort);
    assert.equal((await t.allocate(s.username, s.credential)).cls, C.SUCCESS);
    await t.refresh(0);
    await closeAll(c);
  });
});

// ---------------------------------------------------------------- roles --

/** Spawns webrtc2d with args and env on a config; kept for cleanup. */
function spawnDaemon(args, env) {
  const p = spawn(daemonPath(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: daemonEnv(env) });
  let out = '';
  p.stdout.on('data', (x) => { out += x; });
  p.stderr.on('data', (x) => { out += x; });
  const exited = new Promise((resolve) => {
    p.on('exit', (code, signal) => resolve({ code, signal }));
    p.on('error', (e) => resolve({ code: -1, error: e.message }));
  });
  const h = { proc: p, exited, get out() { return out; }, alive: () => p.exitCode === null && p.signalCode === null };
  cleanups.push(async () => {
    if (h.alive()) {
      p.kill('SIGTERM');
      const r = await Promise.race([exited, sleep(WAIT_MS).then(() => 'timeout')]);
      if (r === 'timeout') p.kill('SIGKILL');
    }
  });
  return h;
}

function tmpDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'w2-turn-'));
  fs.mkdirSync(path.join(dir, 'var'));
  fs.mkdirSync(path.join(dir, 'web'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Resolves once a STUN Binding on UDP `port` is answered (bounded). */
async function bindingAnswered(port, ms = WAIT_MS) {
  const c = await TurnClient.open('udp', port);
  try {
    const r = await c.request(encode(M.BINDING, C.REQUEST, []), ms);
    return r.cls === C.SUCCESS;
  } catch {
    return false;
  } finally {
    c.close();
  }
}

const roles = {};

describe('roles', () => {
  // Since 5e0ee8b a relay-only daemon keeps its `listen` addresses for
  // /healthz and /metrics, and serves nothing else there (docs/turn.md).
  test('--roles turn: no signaling, no web app; /healthz, /metrics; the relay works', async () => {
    const dir = tmpDir();
    const httpPort = await freePort();
    const ports = { turn: await freeBothPort(), tls: await freePort() };
    const cfg = path.join(dir, 'webrtc2d.yaml');
    fs.writeFileSync(cfg, renderConfig({ dir, port: httpPort, turn: true, extra: turnYaml(turnSection(ports)) }));
    fs.writeFileSync(path.join(dir, 'web', 'index.html'), '<p>app</p>\n');
    const h = spawnDaemon(['--config', cfg, '--roles', 'turn']);
    const deadline = Date.now() + WAIT_MS;
    let up = false;
    while (!up && Date.now() < deadline && h.alive()) up = await bindingAnswered(ports.turn, 300);
    assert.ok(up, `the relay does not answer a Binding; log:\n${h.out}`);
    assert.equal((await httpGet(httpPort, '/healthz')).status, 200);
    // No signaling: the WebSocket upgrade is refused, ws cannot connect.
    await assert.rejects(Client.open(`ws://${LOCAL}:${httpPort}/signal`), /upgrade refused: HTTP 404/);
    for (const target of ['/', '/index.html', '/api/info']) {
      assert.equal((await httpGet(httpPort, target)).status, 404, `GET ${target}`);
    }
    assert.equal((await httpGet(httpPort, '/auth/guest?name=x', { method: 'POST' })).status, 404, 'POST /auth/guest');
    const peer = await openPeer();
    const c = await allocated('udp', ports.turn);
    assert.equal((await c.channelBind(0x4006, LOCAL, peer.port)).cls, C.SUCCESS);
    await roundTrip(c, peer, 0x4006);
    const t = await allocated('tls', ports.tls);
    assert.equal((await t.createPermission(LOCAL)).cls, C.SUCCESS);
    await roundTrip(t, peer);
    t.close();
    await c.refresh(0);
    // The relay's series are on /metrics (published once a second).
    const m = { port: httpPort };
    await waitMetric(m, 'webrtc2_turn_allocations_total', (v) => v >= 2, '>= 2');
    await waitMetric(m, 'webrtc2_turn_relayed_packets_total', (v) => v >= 4, '>= 4');
    assert.ok(h.alive(), h.out);
    h.ports = ports;
    roles.turnOnly = h;
  });

  test('--roles turn: turnutils_uclient relays with no loss', { skip: NO_COTURN }, async () => {
    const h = roles.turnOnly;
    assert.ok(h, 'the previous test started the daemon');
    const peerPort = await startEchoPeer();
    const r = await uclient(['-p', String(h.ports.turn), '-s', '-c', '-e', LOCAL, '-r', String(peerPort), '-m', '1', '-l', '200', '-n', '40', '-z', '1', '-W', TURN_SECRET, '-u', 'solo', LOCAL]);
    assertNoLoss(r, '--roles turn');
  });

  test('WEBRTC2_ROLES=signaling: the configured TURN listener is not opened', async () => {
    const d = await startTurnDaemon({ env: { WEBRTC2_ROLES: 'signaling' } });
    assert.equal(await bindingAnswered(d.turnPort, 600), false, 'no Binding answer on the TURN port');
    // Whether the daemon holds the ports, from the kernel's socket table:
    // "is the port free" would fail whenever a parallel test happens to
    // take the same free port.
    assert.deepEqual(daemonSocketsOn(d.proc.pid, [d.turnPort, d.tlsTurnPort]), [],
      'the daemon holds no socket on the TURN ports (UDP, TCP, TLS)');
    assert.ok(daemonSocketsOn(d.proc.pid, [d.port]).length > 0, 'the same check sees its signaling listener');
    const m = await scrape(d);
    assert.equal(m.get('webrtc2_turn_allocations'), undefined, 'no TURN series');
    d.assertAlive();
  });
});

// ------------------------------------------------------------ port in use --

/**
 * Starts a daemon with the TURN `ports` of its config file in `dir`, which
 * must refuse to start: asserts it exits non-zero; returns its handle.
 */
async function startExpectingFailure(dir, ports) {
  const cfg = path.join(dir, 'webrtc2d.yaml');
  fs.writeFileSync(cfg, renderConfig({ dir, port: await freePort(), turn: true, extra: turnYaml(turnSection(ports)) }));
  const h = spawnDaemon(['--config', cfg]);
  const r = await Promise.race([h.exited, sleep(WAIT_MS).then(() => null)]);
  assert.ok(r, `still running after ${WAIT_MS} ms; log:\n${h.out}`);
  assert.notEqual(r.code, 0, h.out);
  return h;
}

describe('a TURN port already in use', () => {
  for (const [what, occupy] of [
    ['UDP', async (port) => {
      const dgram = await import('node:dgram');
      const s = dgram.createSocket('udp4');
      await new Promise((res, rej) => { s.once('error', rej); s.bind(port, LOCAL, res); });
      return () => s.close();
    }],
    ['TCP', async (port) => {
      const srv = net.createServer();
      await new Promise((res, rej) => { srv.once('error', rej); srv.listen(port, LOCAL, res); });
      return () => srv.close();
    }],
  ]) {
    test(`the ${what} side taken: webrtc2d exits non-zero naming the address`, async () => {
      const dir = tmpDir();
      const ports = { turn: await freeBothPort(), tls: await freePort() };
      const release = await occupy(ports.turn);
      cleanups.push(release);
      const h = await startExpectingFailure(dir, ports);
      assert.ok(h.out.includes(`${LOCAL}:${ports.turn}`), `the message names ${LOCAL}:${ports.turn}:\n${h.out}`);
      assert.match(h.out, /in use/i);
    });
  }

  test('the TLS port taken: exits non-zero naming it', async () => {
    const dir = tmpDir();
    const ports = { turn: await freeBothPort(), tls: await freePort() };
    const srv = net.createServer();
    await new Promise((res, rej) => { srv.once('error', rej); srv.listen(ports.tls, LOCAL, res); });
    cleanups.push(() => srv.close());
    const h = await startExpectingFailure(dir, ports);
    assert.ok(h.out.includes(`${LOCAL}:${ports.tls}`), `the message names ${LOCAL}:${ports.tls}:\n${h.out}`);
  });
});
