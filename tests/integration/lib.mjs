// Shared helpers for the integration tests: they drive the real webrtc2d
// binary (W2_DAEMON) with real WebSocket clients (the npm `ws` package, and a
// hand-written raw client for frames `ws` refuses to send).
//
// Every test file starts its own daemon on its own free port with its own
// temporary state and web directories, and stops it at the end, also when a
// test fails, so the files can run in parallel under ctest.
//
// docs/protocol.md is the contract these tests check; the names of metric
// series come from src/signal/metrics.c (docs/operations.md lists them).

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

export { sleep };

/** Longest any single wait in these tests may take (ms). */
export const WAIT_MS = 3000;
/** How long "nothing arrives" is watched for (ms). */
export const QUIET_MS = 250;

export const SECRET = '0123456789abcdef0123456789abcdef-test';
export const AUDIENCE = 'webrtc2-test';
export const DOMAIN = 'localhost';

/** The limits every test daemon runs with (snake_case as in the config). */
export const LIMITS = {
  messages_per_second: 50,
  message_burst: 200,
  sessions_per_user: 3,
  rooms_per_session: 4,
  room_size: 3,
  max_message_bytes: 65536,
  max_queued_bytes: 1048576,
  abuse_threshold: 20,
  hello_timeout_ms: 1000,
};

/** Files placed in every daemon's web root: name -> content. */
export const WEB_FILES = {
  'index.html': '<!doctype html><title>webrtc2</title><p>hello</p>\n',
  'app.js': 'export const answer = 42;\n',
  'style.css': 'body { color: #123456; }\n',
  'data.json': '{"hello":"world"}\n',
  'icon.svg': '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n',
  // The smallest valid WebAssembly module: magic + version.
  'mod.wasm': Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]),
  'sub/page.html': '<!doctype html><p>sub</p>\n',
};

/** Content of a file next to (outside) the web root: must never be served. */
export const SECRET_FILE_CONTENT = 'TOPSECRET-outside-web-root';

let userCounter = 0;
/** A user name unique within this process, so tests never share users. */
export function uniqueUser(prefix = 'u') {
  userCounter += 1;
  return `${prefix}${userCounter}${crypto.randomBytes(2).toString('hex')}`;
}

export function nowS() {
  return Math.floor(Date.now() / 1000);
}

// ---------------------------------------------------------------- tokens --

export function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

/**
 * Mints a JWT. With no options it is a valid HS256 token for `sub` on the
 * test daemon (aud, iat, exp one hour ahead).
 *
 * opts.alg: header alg (HS256 default; HS384 signs with SHA-384; "none"
 *   leaves the signature empty). opts.header / opts.claims are merged over
 *   the defaults; a claim set to undefined is removed. opts.secret signs.
 */
export function mintToken(sub, opts = {}) {
  const alg = opts.alg ?? 'HS256';
  const now = nowS();
  const header = { alg, typ: 'JWT', ...(opts.header ?? {}) };
  const claims = { sub, iat: now, exp: now + 3600, aud: AUDIENCE, ...(opts.claims ?? {}) };
  for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
  for (const k of Object.keys(header)) if (header[k] === undefined) delete header[k];
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  const sig = hash ? crypto.createHmac(hash, opts.secret ?? SECRET).update(input).digest() : Buffer.alloc(0);
  return `${input}.${b64url(sig)}`;
}

// ---------------------------------------------------------------- daemon --

const liveDaemons = new Set();
process.on('exit', () => {
  for (const p of liveDaemons) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/**
 * If this test process dies without cleaning up (killed by a ctest timeout,
 * say), a detached shell kills the daemon it started and removes its temp
 * dir; it exits by itself once the daemon is gone.
 */
function watchdog(daemonPid, dir) {
  if (!daemonPid) return;
  const q = `'${dir.replaceAll("'", "'\\''")}'`;
  const rm = process.env.W2_KEEP_TMP ? '' : `; sleep 1; rm -rf ${q}`;
  const script = `while kill -0 ${process.pid} 2>/dev/null; do kill -0 ${daemonPid} 2>/dev/null || exit 0; sleep 1; done; kill -KILL ${daemonPid} 2>/dev/null${rm}`;
  const w = spawn('/bin/sh', ['-c', script], { stdio: 'ignore', detached: true });
  w.unref();
}

export function daemonPath() {
  const p = process.env.W2_DAEMON;
  if (!p) throw new Error('W2_DAEMON is not set (run through ctest, or export it)');
  return path.resolve(p);
}

/**
 * The environment for webrtc2d: ours without WEBRTC2_* variables, which
 * would override the test config (docs/operations.md), plus `extra`.
 */
export function daemonEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WEBRTC2_')) env[k] = v;
  return { ...env, ...extra };
}

/** A free TCP port on 127.0.0.1 (free when asked; bind promptly). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function yamlString(s) {
  return JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar
}

/**
 * Renders the YAML config of a test daemon. `auth` is a list of more lines
 * for the auth section (e.g. 'guest_tokens: true'); `extra` is appended.
 */
export function renderConfig({ dir, port, limits = LIMITS, extra = '', tlsPort, auth = [], turn }) {
  const lim = Object.entries(limits).map(([k, v]) => `${k}: ${v}`).join(', ');
  return [
    `domain: ${DOMAIN}`,
    // TURN listens on fixed ports by default: only a test that asks for it
    // (and passes its own `turn:` section in `extra`) runs that role.
    `roles: [signaling${turn ? ', turn' : ''}]`,
    `state_dir: ${yamlString(path.join(dir, 'var'))}`,
    `web_root: ${yamlString(path.join(dir, 'web'))}`,
    'listen:',
    `  - address: 127.0.0.1:${port}`,
    // A second, TLS listener (no certificate configured: self-signed).
    ...(tlsPort ? [`  - address: 127.0.0.1:${tlsPort}`, '    tls: true'] : []),
    'auth:',
    `  audience: ${AUDIENCE}`,
    '  clock_skew: 0',
    ...auth.map((l) => `  ${l}`),
    '  keys:',
    '    - alg: HS256',
    `      secret: ${yamlString(SECRET)}`,
    'ice_servers:',
    '  - urls: ["stun:stun.example.org:3478"]',
    `limits: {${lim}}`,
    'logging: {level: debug}',
    'shutdown: {drain_timeout_ms: 2000}',
    extra,
    '',
  ].join('\n');
}

/** A temp dir with var/ and a web root: a copy of `web` if given, else WEB_FILES. */
function makeDirs(web) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'w2-it-'));
  fs.mkdirSync(path.join(dir, 'var'));
  if (web) {
    fs.cpSync(web, path.join(dir, 'web'), { recursive: true });
    return dir;
  }
  fs.mkdirSync(path.join(dir, 'web'));
  for (const [name, content] of Object.entries(WEB_FILES)) {
    const p = path.join(dir, 'web', name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  fs.writeFileSync(path.join(dir, 'secret.txt'), SECRET_FILE_CONTENT);
  return dir;
}

/** GET over plain HTTP/1.1 with a fresh connection; resolves {status, headers, body}. */
export function httpGet(port, target, { method = 'GET', headers = {}, timeout = WAIT_MS } = {}) {
  const head = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) head.push(`${k}: ${v}`);
  return rawHttp(port, Buffer.from(head.join('\r\n') + '\r\n\r\n', 'latin1'), { timeout, method });
}

/**
 * Sends `request` bytes as-is on a new TCP connection and reads one HTTP
 * response (until the server closes or Content-Length is satisfied).
 * Resolves {status, headers, body: Buffer, raw}; status 0 if the server closed
 * without an answer.
 */
export function rawHttp(port, request, { timeout = WAIT_MS, method = 'GET' } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) return reject(err);
      resolve(parseHttpResponse(buf, method));
    };
    const timer = setTimeout(() => finish(new Error(`HTTP ${request.toString('latin1').split('\r\n')[0]}: no complete answer within ${timeout} ms`)), timeout);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parseHttpResponse(buf, method);
      if (r.complete) finish();
    });
    sock.on('end', () => finish());
    sock.on('close', () => finish());
    sock.on('error', (e) => (e.code === 'ECONNRESET' ? finish() : finish(e)));
    sock.write(request);
  });
}

function parseHttpResponse(buf, method) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, headers: {}, body: Buffer.alloc(0), raw: buf, complete: false };
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const body = buf.subarray(end + 4);
  const status = m ? Number(m[1]) : 0;
  const noBody = method === 'HEAD' || status === 304 || status === 204;
  const len = headers['content-length'] !== undefined ? Number(headers['content-length']) : null;
  const complete = noBody || (len !== null && body.length >= len);
  return { status, headers, body: len !== null && !noBody ? body.subarray(0, len) : body, raw: buf, complete };
}

class Daemon {
  constructor(proc, port, dir, configPath) {
    this.proc = proc;
    this.port = port;
    this.dir = dir;
    this.configPath = configPath;
    this.url = `ws://127.0.0.1:${port}/signal`;
    this.log = [];
    this.exit = null; // {code, signal} once exited
    this.exited = new Promise((resolve) => {
      proc.on('error', (e) => {
        this.log.push(`spawn failed: ${e.message}\n`);
        this.exit = { code: null, signal: null, error: e.message };
        liveDaemons.delete(proc);
        resolve(this.exit);
      });
      proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        liveDaemons.delete(proc);
        resolve(this.exit);
      });
    });
    const keep = (d) => {
      this.log.push(d.toString());
      if (this.log.length > 400) this.log.splice(0, this.log.length - 400);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
  }

  logTail(n = 30) {
    return this.log.join('').split('\n').slice(-n).join('\n');
  }

  /** True while the process runs. */
  alive() {
    return this.exit === null;
  }

  /** Throws (with the log tail) unless the daemon still runs. */
  assertAlive() {
    if (!this.alive()) {
      throw new Error(`webrtc2d exited (${JSON.stringify(this.exit)}); log tail:\n${this.logTail()}`);
    }
  }

  /** Resident set size in KiB, from /proc. */
  rssKiB() {
    const s = fs.readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
  }

  /**
   * True when the daemon runs under AddressSanitizer, whose quarantine keeps
   * freed memory resident: RSS bounds say nothing there.
   */
  sanitized() {
    try {
      return /libasan|libclang_rt\.asan/.test(fs.readFileSync(`/proc/${this.proc.pid}/maps`, 'utf8')) ||
        /__asan_init/.test(fs.readFileSync(daemonPath(), 'latin1'));
    } catch {
      return false;
    }
  }

  signal(sig) {
    this.proc.kill(sig);
  }

  /** Stops the daemon (SIGTERM, then SIGKILL) and removes its directory. */
  async stop() {
    if (this.alive()) {
      this.proc.kill('SIGTERM');
      const t = await Promise.race([this.exited, sleep(WAIT_MS).then(() => 'timeout')]);
      if (t === 'timeout') {
        this.proc.kill('SIGKILL');
        await this.exited;
      }
    }
    if (!process.env.W2_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts a daemon on a free port with a fresh temp dir; resolves once
 * /healthz answers 200. opts.limits / opts.extra / opts.tlsPort / opts.auth
 * change the config; opts.port fixes the port; opts.web is a folder to serve
 * (copied) instead of the test files; opts.env adds environment variables.
 * With opts.noConfig the daemon runs its embedded default (no --config; the
 * port comes from WEBRTC2_LISTEN, var/ and web/ from its working directory).
 */
export async function startDaemon(opts = {}) {
  const dir = makeDirs(opts.web);
  let lastErr;
  // A fixed opts.port (a restart on the same address) gets one attempt.
  for (let attempt = 0; attempt < (opts.port ? 1 : 6); attempt++) {
    const port = opts.port ?? (attempt < 3 ? await freePort() : 20000 + crypto.randomInt(20000));
    const configPath = path.join(dir, 'webrtc2d.yaml');
    fs.writeFileSync(configPath, renderConfig({ ...opts, dir, port }));
    const env = opts.noConfig
      ? { WEBRTC2_LISTEN: `127.0.0.1:${port}`, WEBRTC2_ROLES: 'signaling', ...opts.env }
      : opts.env;
    const proc = spawn(daemonPath(), opts.noConfig ? [] : ['--config', configPath], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: daemonEnv(env),
    });
    liveDaemons.add(proc);
    watchdog(proc.pid, dir);
    const d = new Daemon(proc, port, dir, configPath);
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline && d.alive()) {
      try {
        const r = await httpGet(port, '/healthz', { timeout: 500 });
        if (r.status === 200) return d;
      } catch { /* not listening yet */ }
      await sleep(30);
    }
    lastErr = new Error(`webrtc2d did not become healthy on port ${port} (exit ${JSON.stringify(d.exit)}); log:\n${d.logTail()}`);
    if (d.alive()) {
      proc.kill('SIGKILL');
      await d.exited;
    }
    if (!/in use|EADDRINUSE/i.test(d.logTail(50))) break;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw lastErr;
}

/** Runs webrtc2d with arguments synchronously; returns {status, stdout, stderr}. */
export function runDaemonCli(args, opts = {}) {
  const r = spawnSync(daemonPath(), args, { encoding: 'utf8', timeout: WAIT_MS, env: daemonEnv(), ...opts });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// ---------------------------------------------------------------- client --

/**
 * A WebSocket client around `ws` that keeps every received text message (raw
 * text and parsed) in a queue. next(type) takes the first queued message of
 * that type, waiting up to `timeout` ms for one to arrive.
 */
export class Client {
  constructor(ws) {
    this.ws = ws;
    this.queue = []; // {type, msg, raw, binary}
    this.waiters = [];
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.wake();
      });
    });
    ws.on('error', (e) => { this.error = e; });
    ws.on('message', (data, isBinary) => {
      const raw = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data).toString('utf8');
      let msg;
      try {
        msg = JSON.parse(raw);
      } catch {
        msg = { type: '<unparsable>', raw };
      }
      this.queue.push({ type: msg?.type, msg, raw, binary: isBinary });
      this.wake();
    });
  }

  static open(url, { protocols, headers } = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, { headers, handshakeTimeout: WAIT_MS });
      const c = new Client(ws);
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    });
  }

  wake() {
    for (const w of this.waiters.slice()) w();
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends an object as JSON, or a string / Buffer as-is (Buffer as binary). */
  send(m, opts) {
    if (typeof m === 'string') this.ws.send(m, opts);
    else if (Buffer.isBuffer(m)) this.ws.send(m, { binary: true, ...(opts ?? {}) });
    else this.ws.send(JSON.stringify(m), opts);
  }

  /** Finds, removes and returns the first queued entry matching `pred`. */
  take(pred) {
    const i = this.queue.findIndex(pred);
    return i < 0 ? null : this.queue.splice(i, 1)[0];
  }

  /**
   * Waits for the next message of `type` (or matching predicate `type`);
   * resolves the parsed message, with the raw text as a non-enumerable `raw`.
   */
  nextEntry(type, timeout = WAIT_MS) {
    const pred = typeof type === 'function' ? type : (e) => e.type === type;
    return new Promise((resolve, reject) => {
      const check = () => {
        const e = this.take(pred);
        if (e) {
          cleanup();
          resolve(e);
        } else if (this.closeInfo) {
          cleanup();
          reject(new Error(`connection closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${describe(type)}; queued: ${this.pending()}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${describe(type)} within ${timeout} ms; queued: ${this.pending()}`));
      }, timeout);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  async next(type, timeout = WAIT_MS) {
    const e = await this.nextEntry(type, timeout);
    const m = e.msg;
    if (m && typeof m === 'object') Object.defineProperty(m, 'raw', { value: e.raw, enumerable: false });
    return m;
  }

  /** Waits for an error message with `code`. */
  nextError(code, timeout = WAIT_MS) {
    return this.next((e) => e.type === 'error' && e.msg.code === code, timeout);
  }

  /** Resolves true if no message of `type` (or any, when omitted) arrives within `ms`. */
  async expectNone(type, ms = QUIET_MS) {
    await sleep(ms);
    const pred = type === undefined ? () => true : typeof type === 'function' ? type : (e) => e.type === type;
    const e = this.queue.find(pred);
    if (e) throw new Error(`unexpected ${describe(type)}: ${e.raw.slice(0, 300)}`);
  }

  pending() {
    return JSON.stringify(this.queue.map((e) => e.raw.slice(0, 160)));
  }

  /** Waits for the connection to close; resolves {code, reason}. */
  async waitClose(timeout = WAIT_MS) {
    const r = await Promise.race([this.closed, sleep(timeout).then(() => null)]);
    if (!r) throw new Error(`connection not closed within ${timeout} ms; queued: ${this.pending()}`);
    return r;
  }

  /** ping -> pong round trip; throws if no pong. */
  async roundTrip(id = `p${crypto.randomBytes(3).toString('hex')}`) {
    this.send({ type: 'ping', id });
    const pong = await this.next((e) => e.type === 'pong' && e.msg.ref === id);
    return pong;
  }

  async close() {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    const r = await Promise.race([this.closed, sleep(WAIT_MS).then(() => null)]);
    if (!r) this.ws.terminate();
  }
}

function describe(type) {
  return typeof type === 'function' ? 'matching message' : `"${type}"`;
}

/**
 * Opens a WebSocket to the daemon and says hello; resolves {client, welcome}
 * after the welcome. opts: device, token, protocols.
 */
export async function connect(d, user, opts = {}) {
  const c = await Client.open(d.url, { protocols: opts.protocols });
  const hello = { type: 'hello', v: 1, token: opts.token ?? mintToken(user) };
  if (opts.device !== undefined) hello.device = opts.device;
  c.send(hello);
  const welcome = await c.next((e) => e.type === 'welcome' || e.type === 'error');
  if (welcome.type !== 'welcome') {
    await c.close();
    throw new Error(`hello as ${user} refused: ${welcome.raw}`);
  }
  c.welcome = welcome;
  return c;
}

/** Closes every client given (ignoring ones already closed). */
export async function closeAll(...clients) {
  await Promise.all(clients.flat().filter(Boolean).map((c) => c.close()));
}

// -------------------------------------------------- raw JSON slicing --

/**
 * Returns the exact source text of the value of top-level member `key` of
 * the JSON object text `s` (the first occurrence), or undefined. The scanner
 * only finds value boundaries; it assumes well-formed JSON.
 */
export function rawMember(s, key) {
  let i = 0;
  const ws = () => { while (i < s.length && ' \t\r\n'.includes(s[i])) i++; };
  const str = () => {
    const start = i;
    i++;
    while (s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
    i++;
    return s.slice(start, i);
  };
  const value = () => {
    const start = i;
    if (s[i] === '"') { str(); return s.slice(start, i); }
    if (s[i] === '{' || s[i] === '[') {
      let depth = 0;
      do {
        if (s[i] === '"') { str(); continue; }
        if (s[i] === '{' || s[i] === '[') depth++;
        else if (s[i] === '}' || s[i] === ']') depth--;
        i++;
      } while (depth > 0);
      return s.slice(start, i);
    }
    while (i < s.length && !',}] \t\r\n'.includes(s[i])) i++;
    return s.slice(start, i);
  };
  ws();
  if (s[i] !== '{') return undefined;
  i++;
  for (;;) {
    ws();
    if (s[i] === '}') return undefined;
    const k = JSON.parse(str());
    ws();
    i++; // ':'
    ws();
    const v = value();
    if (k === key) return v;
    ws();
    if (s[i] === ',') i++;
    else return undefined;
  }
}

// ------------------------------------------------- raw WebSocket client --

/**
 * Encodes one client->server frame. opts: fin (true), mask (true), rsv (0-7),
 * maskKey (Buffer of 4).
 */
export function encodeFrame(opcode, payload = Buffer.alloc(0), opts = {}) {
  const fin = opts.fin ?? true;
  const mask = opts.mask ?? true;
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const len = data.length;
  const head = [((fin ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opcode)];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(len));
    head.push(...b);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = opts.maskKey ?? crypto.randomBytes(4);
  const out = Buffer.alloc(len);
  for (let j = 0; j < len; j++) out[j] = data[j] ^ key[j & 3];
  return Buffer.concat([Buffer.from(head), key, out]);
}

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

/**
 * A WebSocket client on a bare net.Socket: does the RFC 6455 handshake
 * itself and lets the test write any frame bytes. Server frames are parsed:
 * text messages go to a queue (next(type) as in Client), a close frame sets
 * closeCode. It answers nothing on its own (no pong, no close echo).
 */
export class RawClient {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.queue = [];
    this.waiters = [];
    this.closeCode = null; // from a close frame
    this.ended = false;    // TCP closed
    this.frag = null;
    this.bytesIn = 0;
    this.endedP = new Promise((resolve) => { this.onEnd = resolve; });
    sock.on('data', (d) => this.feed(d));
    const end = () => { this.ended = true; this.onEnd(); this.wake(); };
    sock.on('end', end);
    sock.on('close', end);
    sock.on('error', () => end());
  }

  static open(port, { path: p = '/signal', protocol } = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      const key = crypto.randomBytes(16).toString('base64');
      const expect = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      let head = Buffer.alloc(0);
      const timer = setTimeout(() => { sock.destroy(); reject(new Error('raw handshake timeout')); }, WAIT_MS);
      const onData = (d) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        sock.off('data', onData);
        clearTimeout(timer);
        const text = head.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.1 101/.test(text)) { sock.destroy(); return reject(new Error(`raw handshake refused: ${text.split('\r\n')[0]}`)); }
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(text)?.[1];
        if (accept !== expect) { sock.destroy(); return reject(new Error('bad Sec-WebSocket-Accept')); }
        const c = new RawClient(sock);
        const rest = head.subarray(end + 4);
        if (rest.length) c.feed(rest);
        resolve(c);
      };
      sock.on('data', onData);
      sock.once('error', (e) => { clearTimeout(timer); reject(e); });
      sock.write([
        `GET ${p} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13',
        ...(protocol ? [`Sec-WebSocket-Protocol: ${protocol}`] : []), '', '',
      ].join('\r\n'));
    });
  }

  feed(d) {
    this.bytesIn += d.length;
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0];
      const b1 = this.buf[1];
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (b1 & 0x80) off += 4; // a server must not mask; tolerate it here
      if (this.buf.length < off + len) return;
      const payload = this.buf.subarray(off, off + len);
      this.buf = this.buf.subarray(off + len);
      this.onFrame(b0 & 0x0f, (b0 & 0x80) !== 0, payload);
    }
  }

  onFrame(op, fin, payload) {
    if (op === OP.CLOSE) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.closeReason = payload.subarray(2).toString('utf8');
      this.wake();
      return;
    }
    if (op === OP.PING || op === OP.PONG) return;
    if (op === OP.TEXT || op === OP.BINARY) this.frag = [payload];
    else if (op === OP.CONT && this.frag) this.frag.push(payload);
    if (!fin) return;
    const raw = Buffer.concat(this.frag ?? []).toString('utf8');
    this.frag = null;
    let msg;
    try { msg = JSON.parse(raw); } catch { msg = { type: '<unparsable>' }; }
    this.queue.push({ type: msg?.type, msg, raw });
    this.wake();
  }

  wake() { for (const w of this.waiters.slice()) w(); }

  write(bytes) { this.sock.write(bytes); }

  /** Sends one masked frame. */
  frame(opcode, payload, opts) { this.write(encodeFrame(opcode, payload, opts)); }

  sendJson(obj) { this.frame(OP.TEXT, JSON.stringify(obj)); }

  take(pred) {
    const i = this.queue.findIndex(pred);
    return i < 0 ? null : this.queue.splice(i, 1)[0];
  }

  next(type, timeout = WAIT_MS) {
    const pred = typeof type === 'function' ? type : (e) => e.type === type;
    return new Promise((resolve, reject) => {
      const check = () => {
        const e = this.take(pred);
        if (e) { cleanup(); resolve(Object.defineProperty(e.msg, 'raw', { value: e.raw, enumerable: false })); }
        else if (this.ended || this.closeCode !== null) {
          cleanup();
          reject(new Error(`raw connection closed (close code ${this.closeCode}) while waiting for ${describe(type)}`));
        }
      };
      const timer = setTimeout(() => { cleanup(); reject(new Error(`raw: no ${describe(type)} within ${timeout} ms; queued ${JSON.stringify(this.queue.map((e) => e.raw.slice(0, 120)))}`)); }, timeout);
      const cleanup = () => { clearTimeout(timer); this.waiters = this.waiters.filter((w) => w !== check); };
      this.waiters.push(check);
      check();
    });
  }

  nextError(code, timeout = WAIT_MS) {
    return this.next((e) => e.type === 'error' && e.msg.code === code, timeout);
  }

  /**
   * Waits until the server sent a close frame or dropped the TCP connection.
   * Resolves {code, ended}: code is the close frame's status or null.
   */
  waitClose(timeout = WAIT_MS) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.closeCode !== null || this.ended) {
          cleanup();
          resolve({ code: this.closeCode, ended: this.ended });
        }
      };
      const timer = setTimeout(() => { cleanup(); reject(new Error(`raw: connection still open after ${timeout} ms`)); }, timeout);
      const cleanup = () => { clearTimeout(timer); this.waiters = this.waiters.filter((w) => w !== check); };
      this.waiters.push(check);
      check();
    });
  }

  /** Resolves once TCP is closed (after an optional close frame). */
  async waitEnd(timeout = WAIT_MS) {
    const r = await Promise.race([this.endedP.then(() => true), sleep(timeout).then(() => false)]);
    if (!r) throw new Error(`raw: TCP still open after ${timeout} ms`);
  }

  /** Says hello and waits for welcome. */
  async hello(user, opts = {}) {
    this.sendJson({ type: 'hello', v: 1, token: opts.token ?? mintToken(user), ...(opts.device ? { device: opts.device } : {}) });
    return this.next('welcome');
  }

  destroy() { this.sock.destroy(); }
}

// ------------------------------------------------------------- metrics --

/** Parses Prometheus text into Map("name{labels}" -> number). */
export function parseMetrics(text) {
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const r = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!r) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    m.set(r[1], Number(r[2]));
  }
  return m;
}

export async function scrape(d) {
  const r = await httpGet(d.port, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return parseMetrics(r.body.toString('utf8'));
}
