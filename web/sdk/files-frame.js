// File transfer, the bytes (docs/file-transfer.md, version 1): the manifest,
// data-lane frames, control-message checks, chunk ranges. No I/O and no
// crypto here, so it runs the same in a page and in Node (tests/sdk/).

/** Labels of the transfer's own data channels. */
export const CONTROL_LABEL = 'webrtc2-files/1';
export const DATA_LABEL = 'webrtc2-files-data/1';

export const MIN_CHUNK = 16384;
export const MAX_CHUNK = 262100;
export const DEFAULT_CHUNK = 65536;
export const MAX_LANES = 8;
export const TAG_BYTES = 16;
/** version u8, type u8, id 16, index u64 */
export const FRAME_HEADER = 26;
const MAX_NAME = 1024;
const MAX_PATH = 4096;
const MAX_CONTROL = 65536;
const MANIFEST_MAGIC = 'webrtc2-file/1';

/** The `enc` values of an offer and their manifest codes. */
export const ENC = Object.freeze({ none: 0, 'chacha20-poly1305': 1 });

const utf8 = new TextEncoder();

/**
 * @typedef {object} Manifest what an offer promises (docs/file-transfer.md, Keys 3)
 * @property {Uint8Array} id 16 bytes
 * @property {number} size
 * @property {number} chunkSize
 * @property {'none' | 'chacha20-poly1305'} enc
 * @property {string | undefined} sha256 hex, when the sender knows it up front
 * @property {string} name
 * @property {string} path '' for none
 */

/** @param {Uint8Array} b */
export function toHex(b) {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** @param {string} h even-length hex */
export function fromHex(h) {
  const out = new Uint8Array(h.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** @param {Uint8Array} b base64url without padding */
export function toB64u(b) {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** @param {string} s base64url without padding; null if malformed */
export function fromB64u(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return null;
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * Writes `v` (0 .. 2^53-1) as a big-endian u64.
 * @param {DataView} dv
 * @param {number} off
 * @param {number} v
 */
function putU64(dv, off, v) {
  dv.setUint32(off, Math.floor(v / 2 ** 32));
  dv.setUint32(off + 4, v >>> 0);
}

/** @param {DataView} dv @param {number} off */
function getU64(dv, off) {
  return dv.getUint32(off) * 2 ** 32 + dv.getUint32(off + 4);
}

/** @param {number} size @param {number} chunkSize */
export function chunkCount(size, chunkSize) {
  return Math.ceil(size / chunkSize);
}

/** Plaintext length of chunk `i`. */
export function chunkLength(size, chunkSize, i) {
  return Math.min(chunkSize, size - i * chunkSize);
}

/**
 * The manifest's binary encoding (docs/file-transfer.md, Keys 3).
 * @param {Manifest} m
 * @returns {Uint8Array}
 */
export function encodeManifest(m) {
  const name = utf8.encode(m.name);
  const path = utf8.encode(m.path ?? '');
  if (name.length > MAX_NAME || path.length > MAX_PATH) throw new RangeError('manifest: name or path too long');
  const hash = m.sha256 ? fromHex(m.sha256) : null;
  const len = 14 + 16 + 8 + 4 + 1 + 1 + (hash ? 32 : 0) + 2 + name.length + 2 + path.length;
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  out.set(utf8.encode(MANIFEST_MAGIC), 0);
  out.set(m.id, 14);
  putU64(dv, 30, m.size);
  dv.setUint32(38, m.chunkSize);
  out[42] = ENC[m.enc];
  out[43] = hash ? 1 : 0;
  let off = 44;
  if (hash) {
    out.set(hash, off);
    off += 32;
  }
  dv.setUint16(off, name.length);
  out.set(name, off + 2);
  off += 2 + name.length;
  dv.setUint16(off, path.length);
  out.set(path, off + 2);
  return out;
}

/** A DataView over exactly the bytes of `b` (which may be a view into a larger buffer). @param {Uint8Array} b */
const viewOf = (b) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/**
 * Additional data of chunk `i`: id || u64 i || u8 last.
 * @param {Uint8Array} id
 * @param {number} index
 * @param {boolean} last
 * @param {Uint8Array} [out] 25 bytes to write it into (else a new array)
 */
export function chunkAd(id, index, last, out = new Uint8Array(25)) {
  out.set(id, 0);
  putU64(viewOf(out), 16, index);
  out[24] = last ? 1 : 0;
  return out;
}

/**
 * Nonce of chunk `i`: 00000000 || u64 i.
 * @param {number} index
 * @param {Uint8Array} [out] 12 bytes to write it into (else a new array)
 */
export function chunkNonce(index, out = new Uint8Array(12)) {
  out.fill(0, 0, 4);
  putU64(viewOf(out), 4, index);
  return out;
}

/**
 * Writes a data-lane frame's header (FRAME_HEADER bytes) at the start of `f`.
 * @param {Uint8Array} f
 * @param {Uint8Array} id
 * @param {number} index
 */
export function writeFrameHeader(f, id, index) {
  f[0] = 1;
  f[1] = 1;
  f.set(id, 2);
  putU64(viewOf(f), 18, index);
}

/**
 * A data-lane frame around `payload`.
 * @param {Uint8Array} id
 * @param {number} index
 * @param {Uint8Array} payload
 * @returns {Uint8Array}
 */
export function encodeFrame(id, index, payload) {
  const f = new Uint8Array(FRAME_HEADER + payload.length);
  writeFrameHeader(f, id, index);
  f.set(payload, FRAME_HEADER);
  return f;
}

/**
 * Parses a frame; null when it is not a version-1 chunk frame.
 * @param {ArrayBuffer} buf
 * @returns {{idHex: string, index: number, payload: Uint8Array} | null}
 */
export function parseFrame(buf) {
  if (!(buf instanceof ArrayBuffer) || buf.byteLength < FRAME_HEADER) return null;
  const b = new Uint8Array(buf);
  if (b[0] !== 1 || b[1] !== 1) return null;
  const dv = new DataView(buf);
  if (dv.getUint32(18) >= 2 ** 21) return null; // index past 2^53
  return { idHex: toHex(b.subarray(2, 18)), index: getU64(dv, 18), payload: b.subarray(FRAME_HEADER) };
}

// ---------------------------------------------------------------- ranges --

/**
 * Chunk indices held, as a bitset with [start, end) range conversion.
 */
export class ChunkSet {
  /** @type {Uint8Array} */ bits;
  count = 0;
  /** @param {number} n chunks in the file */
  constructor(n) {
    this.n = n;
    this.bits = new Uint8Array(Math.ceil(n / 8));
  }

  /** @param {number} i */
  has(i) {
    return (this.bits[i >> 3] & (1 << (i & 7))) !== 0;
  }

  /** @param {number} i */
  add(i) {
    if (this.has(i)) return;
    this.bits[i >> 3] |= 1 << (i & 7);
    this.count += 1;
  }

  get full() {
    return this.count === this.n;
  }

  /** @param {[number, number][]} ranges */
  addRanges(ranges) {
    for (const [s, e] of ranges) for (let i = s; i < e; i++) this.add(i);
  }

  /** The held chunks as sorted [start, end) ranges. @returns {[number, number][]} */
  ranges() {
    return this.#runs(true);
  }

  /** The missing chunks as sorted [start, end) ranges. @returns {[number, number][]} */
  missing() {
    return this.#runs(false);
  }

  /** @param {boolean} want */
  #runs(want) {
    /** @type {[number, number][]} */
    const out = [];
    let start = -1;
    for (let i = 0; i < this.n; i++) {
      const h = this.has(i) === want;
      if (h && start < 0) start = i;
      if (!h && start >= 0) {
        out.push([start, i]);
        start = -1;
      }
    }
    if (start >= 0) out.push([start, this.n]);
    return out;
  }
}

// ------------------------------------------------------ control messages --

const HEX32 = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;
/** Ranges one `have` or `nack` may list. */
export const MAX_RANGES = 4096;

/** @param {unknown} v */
const isUint = (v) => Number.isSafeInteger(v) && /** @type {number} */ (v) >= 0;
/** An optional string field: absent, null, or a string of at most `max` UTF-16 units. */
const optString = (v, max) => v === undefined || v === null || (typeof v === 'string' && v.length <= max);

/**
 * A canonical public key: 43 base64url characters (no padding) of 32 bytes.
 * @param {unknown} s
 */
export function validKey(s) {
  const b = typeof s === 'string' && s.length === 43 ? fromB64u(s) : null;
  return b !== null && b.length === 32 && toB64u(b) === s;
}

/**
 * [start, end) ranges: sorted, not overlapping, none empty, ends <= n.
 * @param {unknown} r
 * @param {number} [n] chunk count, when known
 */
export function validRanges(r, n = Number.MAX_SAFE_INTEGER) {
  if (!Array.isArray(r) || r.length > MAX_RANGES) return false;
  let prev = 0;
  for (const x of r) {
    if (!Array.isArray(x) || x.length !== 2 || !isUint(x[0]) || !isUint(x[1])) return false;
    if (x[0] >= x[1] || x[0] < prev || x[1] > n) return false;
    prev = x[1];
  }
  return true;
}

/** @param {unknown} p a folder-relative path */
export function validPath(p) {
  if (p === undefined || p === '') return true;
  if (typeof p !== 'string' || p.length > MAX_PATH || p.startsWith('/') || p.includes('\\')) return false;
  return p.split('/').every((seg) => seg !== '' && seg !== '..' && seg !== '.');
}

/**
 * Every string in `v` (keys too) is well-formed UTF-16 without NUL, as the
 * C side's JSON parser demands of every string.
 * @param {unknown} v
 */
function cleanStrings(v) {
  if (typeof v === 'string') return v.isWellFormed() && !v.includes('\u0000');
  if (Array.isArray(v)) return v.every(cleanStrings);
  if (v && typeof v === 'object') return Object.entries(v).every(([k, x]) => cleanStrings(k) && cleanStrings(x));
  return true;
}

/**
 * Whether the top-level object of JSON `text` names a key twice (JSON.parse
 * would keep the last silently).
 * @param {string} text valid JSON
 */
function duplicateKeys(text) {
  const keys = new Set();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') depth += 1;
    else if (c === '}' || c === ']') depth -= 1;
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && /^\s*:/.test(text.slice(j + 1, j + 64))) {
        const k = JSON.parse(text.slice(i, j + 1));
        if (keys.has(k)) return true;
        keys.add(k);
      }
      i = j;
    }
  }
  return false;
}

/** @type {Record<string, (m: any) => boolean>} checks of each type's own fields */
const CHECKS = {
  offer: (m) => typeof m.name === 'string' && m.name.length > 0 && utf8.encode(m.name).length <= MAX_NAME
    && isUint(m.size) && isUint(m.chunkSize) && m.chunkSize >= MIN_CHUNK && m.chunkSize <= MAX_CHUNK
    && typeof m.enc === 'string' && Object.hasOwn(ENC, m.enc) && validKey(m.pk)
    && (m.sha256 === undefined || (typeof m.sha256 === 'string' && HEX64.test(m.sha256)))
    && (m.mime === undefined || (typeof m.mime === 'string' && m.mime.length <= 256))
    && validPath(m.path) && (m.path === undefined || utf8.encode(m.path).length <= MAX_PATH)
    && (m.lanes === undefined || (isUint(m.lanes) && m.lanes >= 1 && m.lanes <= MAX_LANES)),
  accept: (m) => validKey(m.pk) && validRanges(m.have),
  reject: (m) => optString(m.reason, 256),
  pause: () => true,
  continue: () => true,
  nack: (m) => validRanges(m.ranges),
  done: (m) => typeof m.sha256 === 'string' && HEX64.test(m.sha256),
  complete: (m) => typeof m.sha256 === 'string' && HEX64.test(m.sha256),
  cancel: (m) => optString(m.reason, 256),
  error: (m) => typeof m.code === 'string' && m.code.length <= 64 && typeof m.message === 'string' && m.message.length <= 1024,
};

/**
 * Parses and checks one control message (docs/file-transfer.md, "Control
 * messages"; the rules the shared vectors' control_* sets pin down).
 * @param {unknown} text
 * @returns {{ok: true, msg: any} | {ok: false, code: 'bad-message' | 'unsupported', id?: string, why: string}}
 */
export function parseControl(text) {
  /** @param {string} why @param {any} [m] */
  const bad = (why, m) => ({ ok: /** @type {false} */ (false), code: /** @type {'bad-message'} */ ('bad-message'),
    id: typeof m?.id === 'string' && HEX32.test(m.id) ? m.id : undefined, why });
  if (typeof text !== 'string' || text.length > MAX_CONTROL) return bad('not a text message under 64 KiB');
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return bad('not JSON');
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return bad('not an object');
  if (!cleanStrings(msg)) return bad('a string with NUL or a lone surrogate', msg);
  if (duplicateKeys(text)) return bad('a key appears twice', msg);
  if (typeof msg.t !== 'string') return bad('t is missing or not a string', msg);
  if (!Object.hasOwn(CHECKS, msg.t)) {
    return { ok: false, code: 'unsupported', id: bad('', msg).id, why: `unknown t ${JSON.stringify(msg.t).slice(0, 40)}` };
  }
  const idOk = typeof msg.id === 'string' && HEX32.test(msg.id);
  // An error may name no transfer (an answer to a message without a valid id).
  if (!idOk && !(msg.t === 'error' && msg.id === undefined)) return bad('id is missing or not 32 lowercase hex digits', msg);
  if (msg.t === 'offer') {
    if (!Number.isInteger(msg.v)) return bad('v is missing or not an integer', msg);
    if (msg.v !== 1) return { ok: false, code: 'unsupported', id: msg.id, why: `offer version ${msg.v}` };
  }
  if (!CHECKS[msg.t](msg)) return bad(`bad fields in ${msg.t}`, msg);
  return { ok: true, msg };
}

// ---------------------------------------------------------------- frames --

/**
 * @typedef {object} FrameSession what a receiver checks a frame against
 * @property {string} idHex
 * @property {number} size
 * @property {number} chunkSize
 * @property {'none' | 'chacha20-poly1305'} enc
 */

/**
 * The receiver's frame check before any decryption (docs/file-transfer.md,
 * "Frames"): version, type, the session's id, index < n, payload length.
 * @param {ArrayBuffer} buf
 * @param {FrameSession} ses
 * @returns {{ok: true, index: number, last: boolean, payload: Uint8Array} | {ok: false, why: string}}
 */
export function checkFrame(buf, ses) {
  const f = parseFrame(buf);
  if (!f) return { ok: false, why: 'not a version-1 chunk frame' };
  if (f.idHex !== ses.idHex) return { ok: false, why: 'another transfer\'s id' };
  const n = chunkCount(ses.size, ses.chunkSize);
  if (f.index >= n) return { ok: false, why: `index ${f.index} of ${n} chunks` };
  const want = chunkLength(ses.size, ses.chunkSize, f.index) + (ses.enc === 'none' ? 0 : TAG_BYTES);
  if (f.payload.length !== want) return { ok: false, why: `payload of ${f.payload.length} bytes, not ${want}` };
  return { ok: true, index: f.index, last: f.index === n - 1, payload: f.payload };
}
