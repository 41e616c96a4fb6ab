// A small STUN/TURN client for the TURN integration tests (RFC 8489 STUN,
// RFC 8656 TURN), written from the RFCs over node:dgram / node:net /
// node:tls: message encoding and parsing, MESSAGE-INTEGRITY (HMAC-SHA1 with
// the long-term key MD5(user:realm:pass)), FINGERPRINT (CRC-32 xor
// 0x5354554e), XOR addresses, ChannelData, and stream framing for TCP/TLS.
//
// It can also write messages the RFCs forbid (unknown attributes, tampered
// nonces, wrong lengths) so that the tests can check how webrtc2d treats
// them. Every wait is bounded (WAIT_MS from lib.mjs).

import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { WAIT_MS, sleep } from './lib.mjs';

export const MAGIC = 0x2112a442;

export const M = {
  BINDING: 0x001, ALLOCATE: 0x003, REFRESH: 0x004, SEND: 0x006, DATA: 0x007,
  CREATE_PERMISSION: 0x008, CHANNEL_BIND: 0x009,
};
export const C = { REQUEST: 0, INDICATION: 1, SUCCESS: 2, ERROR: 3 };
export const A = {
  MAPPED_ADDRESS: 0x0001, USERNAME: 0x0006, MESSAGE_INTEGRITY: 0x0008, ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a, CHANNEL_NUMBER: 0x000c, LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012, DATA: 0x0013, REALM: 0x0014, NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016, REQUESTED_TRANSPORT: 0x0019, XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022, FINGERPRINT: 0x8028,
};

// ---------------------------------------------------------------- CRC-32 --

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------- credentials --

/** RFC 8489 section 9.2.2: MD5(username ":" realm ":" password). */
export function longTermKey(user, realm, pass) {
  return crypto.createHash('md5').update(`${user}:${realm}:${pass}`).digest();
}

/** TURN REST API credential (coturn's use-auth-secret): {username, password}. */
export function restCredential(secret, name, expiry) {
  const username = `${expiry}:${name}`;
  const password = crypto.createHmac('sha1', secret).update(username).digest('base64');
  return { username, password };
}

// ------------------------------------------------------------ addresses --

/** XOR-*-ADDRESS value for an IPv4 `ip`:`port`. */
export function xorAddr(ip, port) {
  const v = Buffer.alloc(8);
  v[1] = 0x01;
  v.writeUInt16BE(port ^ (MAGIC >>> 16), 2);
  const parts = ip.split('.').map(Number);
  const n = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
  v.writeUInt32BE((n ^ MAGIC) >>> 0, 4);
  return v;
}

export function parseXorAddr(v) {
  if (!v || v.length < 8 || v[1] !== 0x01) return null;
  const port = v.readUInt16BE(2) ^ (MAGIC >>> 16);
  const n = (v.readUInt32BE(4) ^ MAGIC) >>> 0;
  return { ip: [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'), port };
}

export function u32(v) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/** REQUESTED-TRANSPORT UDP. */
export const UDP_TRANSPORT = Buffer.from([17, 0, 0, 0]);

// ---------------------------------------------------------- messages --

/**
 * Encodes a STUN message. attrs: [[type, Buffer|string], ...] in order.
 * opts.key adds MESSAGE-INTEGRITY with it; opts.fingerprint adds
 * FINGERPRINT; opts.txid (12 bytes, random by default).
 */
export function encode(method, cls, attrs = [], opts = {}) {
  const txid = opts.txid ?? crypto.randomBytes(12);
  const type = (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) |
    ((cls & 1) << 4) | ((cls & 2) << 7);
  const parts = [];
  for (const [t, val] of attrs) {
    const v = Buffer.isBuffer(val) ? val : Buffer.from(String(val), 'utf8');
    const h = Buffer.alloc(4);
    h.writeUInt16BE(t, 0);
    h.writeUInt16BE(v.length, 2);
    parts.push(h, v, Buffer.alloc((4 - (v.length % 4)) % 4));
  }
  let body = Buffer.concat(parts);
  const header = (len) => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(type, 0);
    h.writeUInt16BE(len, 2);
    h.writeUInt32BE(MAGIC, 4);
    txid.copy(h, 8);
    return h;
  };
  if (opts.key) {
    const mac = crypto.createHmac('sha1', opts.key).update(Buffer.concat([header(body.length + 24), body])).digest();
    const h = Buffer.from([0x00, 0x08, 0x00, 0x14]);
    body = Buffer.concat([body, h, mac]);
  }
  if (opts.fingerprint) {
    const crc = (crc32(Buffer.concat([header(body.length + 8), body])) ^ 0x5354554e) >>> 0;
    body = Buffer.concat([body, Buffer.from([0x80, 0x28, 0x00, 0x04]), u32(crc)]);
  }
  return Buffer.concat([header(body.length), body]);
}

/** True if `buf` starts like a STUN message (first two bits 00, magic cookie). */
export function isStun(buf) {
  return buf.length >= 20 && (buf[0] & 0xc0) === 0 && buf.readUInt32BE(4) === MAGIC;
}

/** Parses a STUN message; returns null when it is not one. */
export function parse(buf) {
  if (!isStun(buf)) return null;
  const type = buf.readUInt16BE(0);
  const len = buf.readUInt16BE(2);
  if (20 + len > buf.length) return null;
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = ((type >> 4) & 1) | ((type >> 7) & 2);
  const attrs = [];
  let off = 20;
  while (off + 4 <= 20 + len) {
    const t = buf.readUInt16BE(off);
    const l = buf.readUInt16BE(off + 2);
    attrs.push({ type: t, value: buf.subarray(off + 4, off + 4 + l), offset: off });
    off += 4 + l + ((4 - (l % 4)) % 4);
  }
  const msg = {
    method, cls, txid: buf.subarray(8, 20), attrs, raw: buf.subarray(0, 20 + len),
    get(t) { return attrs.find((a) => a.type === t)?.value; },
    str(t) { return this.get(t)?.toString('utf8'); },
    get errorCode() {
      const v = this.get(A.ERROR_CODE);
      return v ? (v[2] & 7) * 100 + v[3] : null;
    },
  };
  return msg;
}

/** True if msg's MESSAGE-INTEGRITY is a valid HMAC-SHA1 with `key`. */
export function checkIntegrity(msg, key) {
  const mi = msg.attrs.find((a) => a.type === A.MESSAGE_INTEGRITY);
  if (!mi) return false;
  const upto = Buffer.from(msg.raw.subarray(0, mi.offset));
  upto.writeUInt16BE(mi.offset - 20 + 24, 2);
  const mac = crypto.createHmac('sha1', key).update(upto).digest();
  return mac.equals(mi.value);
}

/** ChannelData message (RFC 8656 section 12.4); `pad` pads to 4 (streams). */
export function channelData(channel, data, pad = false) {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(channel, 0);
  h.writeUInt16BE(data.length, 2);
  const p = pad ? Buffer.alloc((4 - (data.length % 4)) % 4) : Buffer.alloc(0);
  return Buffer.concat([h, data, p]);
}

export function isChannelData(buf) {
  return buf.length >= 4 && (buf[0] & 0xc0) === 0x40;
}

// ------------------------------------------------------------ transports --

/**
 * A TURN client on one transport ('udp', 'tcp' or 'tls') to 127.0.0.1:port.
 * Received STUN responses settle pending requests by transaction id; Data
 * indications and ChannelData go to `inbox` as {channel?, peer?, data}.
 */
export class TurnClient {
  static async open(transport, port, { localPort } = {}) {
    const c = new TurnClient(transport, port);
    await c.connect(localPort);
    return c;
  }

  constructor(transport, port) {
    this.transport = transport;
    this.port = port;
    this.pending = new Map(); // txid hex -> resolve
    this.inbox = [];
    this.other = [];    // STUN messages that matched no request
    this.waiters = [];
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.realm = null;
    this.nonce = null;
    this.key = null;
    this.user = null;
  }

  connect(localPort) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.transport}: no connection to 127.0.0.1:${this.port} within ${WAIT_MS} ms`)), WAIT_MS);
      const done = (err) => { clearTimeout(timer); if (err) reject(err); else resolve(); };
      if (this.transport === 'udp') {
        this.sock = dgram.createSocket('udp4');
        this.sock.on('message', (m) => this.onPacket(m));
        this.sock.on('error', () => { this.closed = true; this.wake(); });
        this.sock.once('error', done);
        this.sock.bind(localPort ?? 0, '127.0.0.1', () => {
          this.sock.off('error', done);
          done();
        });
        return;
      }
      const onData = (d) => this.onStream(d);
      if (this.transport === 'tcp') {
        this.sock = net.connect({ port: this.port, host: '127.0.0.1', localPort }, () => done());
      } else {
        // The daemon's self-signed certificate: nothing to verify it against.
        this.sock = tls.connect({ port: this.port, host: '127.0.0.1', rejectUnauthorized: false, localPort }, () => done());
      }
      this.sock.on('data', onData);
      this.sock.once('error', done);
      this.sock.on('error', () => {});
      this.sock.on('close', () => { this.closed = true; this.wake(); });
    });
  }

  get localPort() {
    return this.transport === 'udp' ? this.sock.address().port : this.sock.localPort;
  }

  /** Sends raw bytes as they are (a datagram, or bytes on the stream). */
  sendRaw(buf) {
    if (this.transport === 'udp') this.sock.send(buf, this.port, '127.0.0.1');
    else this.sock.write(buf);
  }

  onStream(d) {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length < 4) return;
      let n;
      if (isChannelData(this.buf)) {
        const l = this.buf.readUInt16BE(2);
        n = 4 + l + ((4 - (l % 4)) % 4);
        if (this.buf.length < n) return;
        this.onPacket(this.buf.subarray(0, 4 + l));
      } else {
        if (this.buf.length < 20) return;
        n = 20 + this.buf.readUInt16BE(2);
        if (this.buf.length < n) return;
        this.onPacket(this.buf.subarray(0, n));
      }
      this.buf = this.buf.subarray(n);
    }
  }

  onPacket(p) {
    if (isChannelData(p)) {
      const l = p.readUInt16BE(2);
      this.inbox.push({ channel: p.readUInt16BE(0), data: Buffer.from(p.subarray(4, 4 + l)) });
      this.wake();
      return;
    }
    const m = parse(Buffer.from(p));
    if (!m) return;
    if (m.cls === C.INDICATION && m.method === M.DATA) {
      this.inbox.push({ peer: parseXorAddr(m.get(A.XOR_PEER_ADDRESS)), data: m.get(A.DATA) });
      this.wake();
      return;
    }
    const k = m.txid.toString('hex');
    const r = this.pending.get(k);
    if (r) {
      this.pending.delete(k);
      r(m);
    } else {
      this.other.push(m);
      this.wake();
    }
  }

  wake() { for (const w of this.waiters.slice()) w(); }

  /**
   * Sends a request (already encoded, or built from method/attrs) and waits
   * for its response; retransmits over UDP (RFC 8489 section 6.2.1 style,
   * shortened). Resolves the parsed response; rejects after `timeout`.
   */
  request(buf, timeout = WAIT_MS) {
    const txid = buf.subarray(8, 20).toString('hex');
    return new Promise((resolve, reject) => {
      let rto = 100;
      let resend;
      const timer = setTimeout(() => {
        this.pending.delete(txid);
        clearTimeout(resend);
        reject(new Error(`${this.transport}: no response to ${describeMsg(buf)} within ${timeout} ms`));
      }, timeout);
      this.pending.set(txid, (m) => {
        clearTimeout(timer);
        clearTimeout(resend);
        resolve(m);
      });
      const send = () => {
        this.sendRaw(buf);
        if (this.transport === 'udp') {
          resend = setTimeout(send, rto);
          rto *= 2;
        }
      };
      send();
    });
  }

  /** Resolves true if no response to `buf` arrives within `ms` (sent once). */
  async expectNoAnswer(buf, ms = 500) {
    const txid = buf.subarray(8, 20).toString('hex');
    let got = null;
    this.pending.set(txid, (m) => { got = m; });
    this.sendRaw(buf);
    await sleep(ms);
    this.pending.delete(txid);
    if (got) throw new Error(`unexpected answer to ${describeMsg(buf)}: class ${got.cls} code ${got.errorCode}`);
  }

  /** Authenticated request on this client's credentials (after allocate). */
  authed(method, attrs = [], opts = {}) {
    const all = [...attrs, [A.USERNAME, this.user], [A.REALM, this.realm], [A.NONCE, opts.nonce ?? this.nonce]];
    return encode(method, C.REQUEST, all, { key: opts.key ?? this.key, fingerprint: true, txid: opts.txid });
  }

  /**
   * Sends an authenticated request; on 438 takes the fresh nonce and tries
   * once more (as a client must). Resolves the response.
   */
  async send(method, attrs = [], opts = {}) {
    let r = await this.request(this.authed(method, attrs, opts));
    if (r.cls === C.ERROR && r.errorCode === 438 && !opts.noRetry) {
      this.nonce = r.str(A.NONCE);
      r = await this.request(this.authed(method, attrs, opts));
    }
    return r;
  }

  /**
   * The long-term credential exchange: an unauthenticated Allocate (401 with
   * REALM and NONCE), then one with integrity. Resolves the final response
   * (success or error); on success `relayed` and `mapped` are set.
   */
  async allocate(user, pass, { extra = [], lifetime } = {}) {
    const attrs = [[A.REQUESTED_TRANSPORT, UDP_TRANSPORT], ...(lifetime !== undefined ? [[A.LIFETIME, u32(lifetime)]] : [])];
    const first = await this.request(encode(M.ALLOCATE, C.REQUEST, attrs, { fingerprint: true }));
    this.challenge = first;
    if (first.cls !== C.ERROR || first.errorCode !== 401) return first;
    this.realm = first.str(A.REALM);
    this.nonce = first.str(A.NONCE);
    this.user = user;
    this.key = longTermKey(user, this.realm, pass);
    const r = await this.send(M.ALLOCATE, [...attrs, ...extra]);
    if (r.cls === C.SUCCESS) {
      this.relayed = parseXorAddr(r.get(A.XOR_RELAYED_ADDRESS));
      this.mapped = parseXorAddr(r.get(A.XOR_MAPPED_ADDRESS));
      this.lifetime = r.get(A.LIFETIME)?.readUInt32BE(0);
    }
    return r;
  }

  createPermission(ip, port = 1) {
    return this.send(M.CREATE_PERMISSION, [[A.XOR_PEER_ADDRESS, xorAddr(ip, port)]]);
  }

  channelBind(channel, ip, port) {
    return this.send(M.CHANNEL_BIND, [[A.CHANNEL_NUMBER, u32(channel << 16)], [A.XOR_PEER_ADDRESS, xorAddr(ip, port)]]);
  }

  refresh(lifetime) {
    return this.send(M.REFRESH, lifetime === undefined ? [] : [[A.LIFETIME, u32(lifetime)]]);
  }

  sendIndication(ip, port, data) {
    this.sendRaw(encode(M.SEND, C.INDICATION, [[A.XOR_PEER_ADDRESS, xorAddr(ip, port)], [A.DATA, data]]));
  }

  sendChannelData(channel, data) {
    this.sendRaw(channelData(channel, data, this.transport !== 'udp'));
  }

  /** Waits for the next relayed data (ChannelData or Data indication) matching pred. */
  nextData(pred = () => true, timeout = WAIT_MS) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.inbox.findIndex(pred);
        if (i >= 0) {
          cleanup();
          resolve(this.inbox.splice(i, 1)[0]);
        } else if (this.closed) {
          cleanup();
          reject(new Error(`${this.transport}: connection closed while waiting for relayed data`));
        }
      };
      const timer = setTimeout(() => { cleanup(); reject(new Error(`${this.transport}: no relayed data within ${timeout} ms`)); }, timeout);
      const cleanup = () => { clearTimeout(timer); this.waiters = this.waiters.filter((w) => w !== check); };
      this.waiters.push(check);
      check();
    });
  }

  close() {
    if (this.closedByUs) return;
    this.closedByUs = true;
    for (const w of this.waiters.slice()) w();
    try {
      if (this.transport === 'udp') this.sock.close();
      else this.sock.destroy();
    } catch { /* already closed */ }
  }
}

function describeMsg(buf) {
  const m = parse(buf);
  return m ? `method 0x${m.method.toString(16)} class ${m.cls}` : 'message';
}

/**
 * A UDP peer on 127.0.0.1 that keeps what it receives ({data, from}) and can
 * answer. The tests use it as the far end of a relay.
 */
export class UdpPeer {
  static async open() {
    const p = new UdpPeer();
    await new Promise((resolve, reject) => {
      p.sock.once('error', reject);
      p.sock.bind(0, '127.0.0.1', () => { p.sock.off('error', reject); resolve(); });
    });
    return p;
  }

  constructor() {
    this.sock = dgram.createSocket('udp4');
    this.inbox = [];
    this.waiters = [];
    this.sock.on('message', (data, rinfo) => {
      this.inbox.push({ data, from: { ip: rinfo.address, port: rinfo.port } });
      for (const w of this.waiters.slice()) w();
    });
  }

  get port() { return this.sock.address().port; }

  send(data, ip, port) { this.sock.send(data, port, ip); }

  next(pred = () => true, timeout = WAIT_MS) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.inbox.findIndex(pred);
        if (i >= 0) { cleanup(); resolve(this.inbox.splice(i, 1)[0]); }
      };
      const timer = setTimeout(() => { cleanup(); reject(new Error(`peer: nothing within ${timeout} ms`)); }, timeout);
      const cleanup = () => { clearTimeout(timer); this.waiters = this.waiters.filter((w) => w !== check); };
      this.waiters.push(check);
      check();
    });
  }

  /** Throws if anything matching pred arrived within `ms`. */
  async expectNone(pred = () => true, ms = 400) {
    await sleep(ms);
    const e = this.inbox.find(pred);
    if (e) throw new Error(`peer: unexpected datagram ${e.data.toString('hex').slice(0, 80)} from ${e.from.ip}:${e.from.port}`);
  }

  close() { try { this.sock.close(); } catch { /* closed */ } }
}

/** True if `port` is free on 127.0.0.1 for both TCP and UDP right now. */
export async function portFreeBoth(port) {
  const tcpOk = await new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
  if (!tcpOk) return false;
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
