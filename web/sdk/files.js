// File transfer (docs/file-transfer.md, version 1): the control protocol,
// the data lanes with their flow control, and the transfers on both sides.
//
// A FileHub lives in each Connection and owns that peer connection's
// transfer channels; a FileRegistry lives in the WebRTC2Client and outlives
// connections: it keeps the outgoing resumable transfers by peer (offered
// again on the next connection to that peer) and the receiving transfers of
// this page by id (a re-offer continues the same transfer object, without a
// new onFile). Crypto is files-crypto.js, bytes files-frame.js, storage
// files-store.js.
//
// Test-only hook (never set it in an application): when
// `globalThis.__webrtc2TestHooks.corruptChunk(idHex, index)` returns true,
// the sender flips a byte of that chunk's frame after sealing it, so tests
// can prove that the receiver detects, nacks and gets it again.

import { SdkErrorCode, WebRTC2Error } from './errors.js';
import {
  CONTROL_LABEL, DATA_LABEL, DEFAULT_CHUNK, FRAME_HEADER, MAX_CHUNK, MAX_LANES, MIN_CHUNK, TAG_BYTES, ChunkSet,
  checkFrame,
  chunkCount, chunkLength, encodeManifest, fromB64u, fromHex, parseControl, parseFrame,
  toB64u, toHex, validPath,
} from './files-frame.js';
import { ChunkBox, hashBlob, loadSodium, makeKeyPair, openChunk, sessionKey } from './files-crypto.js';
import { PartStore, freeBytes, readPartState, removePart, sweepParts } from './files-store.js';
import { defineHandlers, ReplaySlot } from './handlers.js';

/** A lane's bufferedAmount is kept under this ... */
const LANE_HIGH = 4 << 20;
/** ... refilled below this ... */
const LANE_LOW = 1 << 20;
/** ... and all lanes together under this (Chromium closes a channel past 16 MiB). */
const TOTAL_HIGH = 8 << 20;
/** A chunk that fails this many times after the first is an 'integrity' error. */
const MAX_RESENDS = 3;
/** After `done`, chunks still missing when nothing arrived for this long are nacked. */
const MISSING_AFTER_MS = 3000;
/** A receiver with this many bytes of frames waiting to be handled asks the sender to pause ... */
const RX_HIGH = 4 << 20;
/** ... and to go on once they are down to this. */
const RX_LOW = 1 << 20;
/** The sender reads the file this many bytes at a time (at least a chunk). */
const READ_BLOCK = 1 << 20;
/** onProgress at most this often. */
const PROGRESS_MS = 100;

/**
 * Codes a transfer fails with (besides the peer's, passed through).
 * @readonly
 * @enum {string}
 */
export const FileErrorCode = Object.freeze({
  INTEGRITY: 'integrity',
  STORAGE: 'storage',
  TOO_LARGE: 'too-large',
  REJECTED: 'rejected',
  CANCELLED: 'cancelled',
  BAD_MESSAGE: 'bad-message',
  UNSUPPORTED: 'unsupported',
  INTERNAL: 'internal',
  CONNECTION_CLOSED: SdkErrorCode.CONNECTION_CLOSED,
});

/**
 * @typedef {object} SendFileOptions
 * @property {Blob} file a File or Blob
 * @property {string} [name] defaults to file.name
 * @property {string} [path] relative path in a folder (`a/b/c.txt`)
 * @property {'ChaCha20-Poly1305' | 'none'} [encryption='ChaCha20-Poly1305']
 * @property {'SHA-256'} [integrity='SHA-256']
 * @property {boolean} [resumable=true] offered again after the connection drops
 * @property {number} [lanes=1] data channels, 1 to 8
 * @property {number} [chunkSize=65536] 16,384 to 262,100
 */

/**
 * @typedef {object} FileProgress
 * @property {number} percentage 0-100
 * @property {number} bytes sent (sender) or verified and stored (receiver)
 * @property {number} total
 * @property {number} bytesPerSecond over the last seconds
 */

/**
 * @typedef {object} TransferStats
 * @property {number} chunksSent frames sent, every session (resends included)
 * @property {number} bytesSent frame bytes sent
 * @property {number} chunksResent sent again after a nack
 * @property {number} chunksReceived frames received
 * @property {number} chunksFailed frames that did not verify
 * @property {number} sessions offers accepted (1, plus one per resume)
 * @property {number} resumedChunks chunks the receiver already held at the last accept
 * @property {number} framesQueued receiver: frames arrived and not yet handled
 * @property {number} maxFramesQueued receiver: the most that ever waited
 */

/** @param {unknown} v */
const isBlob = (v) => typeof Blob !== 'undefined' && v instanceof Blob;

/** @param {string} code @param {string} message */
const fileError = (code, message) => new WebRTC2Error(code, message);

/**
 * Handlers and progress both kinds of transfer share.
 */
class TransferBase {
  /** @type {Record<string, ReplaySlot<any>>} */ _slots;
  /** 'sending'/'receiving', 'paused', 'interrupted', 'verifying', 'complete', 'failed', 'cancelled'. */
  state = 'offered';
  /** @type {TransferStats} */
  stats = {
    chunksSent: 0, bytesSent: 0, chunksResent: 0, chunksReceived: 0, chunksFailed: 0, sessions: 0, resumedChunks: 0,
    framesQueued: 0, maxFramesQueued: 0,
  };
  #lastEmit = 0;
  /** @type {{t: number, bytes: number}[]} */ #rate = [];

  /**
   * @param {(e: unknown) => void} report
   * @param {string} idHex
   * @param {string} name
   * @param {number} size
   * @param {string} path
   */
  constructor(report, idHex, name, size, path) {
    this._slots = {
      onProgress: new ReplaySlot('latest', report),
      onComplete: new ReplaySlot('latest', report),
      onError: new ReplaySlot('latest', report),
    };
    /** The transfer's id (32 hex digits). */
    this.id = idHex;
    this.name = name;
    this.size = size;
    this.path = path;
  }

  get done() {
    return this.state === 'complete' || this.state === 'failed' || this.state === 'cancelled';
  }

  /**
   * @param {number} bytes
   * @param {boolean} [force]
   */
  _progress(bytes, force = false) {
    const now = performance.now();
    if (!force && now - this.#lastEmit < PROGRESS_MS) return;
    this.#lastEmit = now;
    this.#rate.push({ t: now, bytes });
    while (this.#rate.length > 2 && now - this.#rate[0].t > 3000) this.#rate.shift();
    const first = this.#rate[0];
    const dt = (now - first.t) / 1000;
    const bytesPerSecond = dt > 0 ? Math.round((bytes - first.bytes) / dt) : 0;
    const percentage = this.size === 0 ? 100 : Math.min(100, (bytes / this.size) * 100);
    this._slots.onProgress.emit({ percentage, bytes, total: this.size, bytesPerSecond });
  }

  /** @param {WebRTC2Error} err */
  _fail(err) {
    if (this.done) return;
    this.state = err.code === FileErrorCode.CANCELLED ? 'cancelled' : 'failed';
    this._slots.onError.emit(err);
  }
}
defineHandlers(TransferBase.prototype, ['onProgress', 'onComplete', 'onError']);

// ------------------------------------------------------------- sending --

/**
 * A file being sent: `connection.sendFile()` returns it.
 */
export class OutgoingTransfer extends TransferBase {
  /** @type {FileRegistry} */ #reg;
  /** @type {Uint8Array} */ #id;
  /** @type {Blob} */ #file;
  #enc;
  #chunkSize;
  #lanes;
  #resumable;
  #mime;
  /** @type {Uint8Array} */ #manifest;
  /** Bytes of the file hashed so far, in order (the hash rides along the sending). */
  #hashPos = 0;
  /** @type {Promise<string> | null} the whole file's SHA-256 once every byte was hashed */
  #hash = null;
  /** @type {ChunkBox | null} this transfer's region of libsodium's heap */
  #box = null;
  /** @type {{hub: FileHub, keys: {publicKey: Uint8Array, privateKey: Uint8Array}, accepted: boolean,
   *   key: Uint8Array | null, sent: ChunkSet | null, next: number, resend: number[], doneSent: boolean,
   *   remotePause: boolean, sentBytes: number} | null} */
  #session = null;
  #localPause = false;
  /** @type {(() => void) | null} */ #wake = null;
  /** @type {Map<number, number>} */ #nacks = new Map();
  /** @type {{start: number, bytes: Uint8Array} | null} the last block read */ #block = null;

  /**
   * @param {FileRegistry} reg
   * @param {string} peerId
   * @param {SendFileOptions} o checked by the caller
   * @param {(e: unknown) => void} report
   */
  constructor(reg, peerId, o, report) {
    const id = crypto.getRandomValues(new Uint8Array(16));
    const name = o.name ?? /** @type {File} */ (o.file).name ?? 'file';
    super(report, toHex(id), name, o.file.size, o.path ?? '');
    this.peerId = peerId;
    this.#reg = reg;
    this.#id = id;
    this.#file = o.file;
    this.#enc = (o.encryption ?? 'ChaCha20-Poly1305').toLowerCase() === 'none' ? 'none' : 'chacha20-poly1305';
    this.#chunkSize = o.chunkSize ?? DEFAULT_CHUNK;
    this.#lanes = o.lanes ?? 1;
    this.#resumable = o.resumable ?? true;
    this.#mime = o.file.type || undefined;
    this.#manifest = encodeManifest({
      id, size: this.size, chunkSize: this.#chunkSize, enc: this.#enc, sha256: undefined, name, path: this.path,
    });
    this.direction = 'send';
    this.encryption = this.#enc;
  }

  /** Stops sending chunks (the receiver is told); resume() goes on. */
  pause() {
    if (this.done || this.#localPause) return;
    this.#localPause = true;
    if (this.state === 'sending') this.state = 'paused';
    this.#session?.hub._control({ t: 'pause', id: this.id });
  }

  resume() {
    if (this.done || !this.#localPause) return;
    this.#localPause = false;
    if (this.state === 'paused' && !this.#session?.remotePause) this.state = 'sending';
    this.#session?.hub._control({ t: 'continue', id: this.id });
    this.#poke();
  }

  /**
   * Ends the transfer for good; the receiver deletes what it stored.
   * onError gets 'cancelled'.
   * @param {string} [reason]
   */
  cancel(reason = 'cancelled') {
    if (this.done) return;
    const msg = { t: 'cancel', id: this.id, reason: String(reason).slice(0, 256) };
    if (this.#session) this.#session.hub._control(msg);
    else if (this.stats.sessions > 0) this.#reg._cancelLater(this.peerId, msg); // the receiver holds a part
    this.#end(fileError(FileErrorCode.CANCELLED, `the transfer of ${this.name} was cancelled`));
  }

  // ------------------------------------------------------- for the hub --

  /**
   * Offers the file on `hub` (first time, or again after a drop).
   * @param {FileHub} hub
   */
  async _offer(hub) {
    if (this.done) return;
    this.#session?.hub._forget(this.id);
    const s = await loadSodium();
    const keys = makeKeyPair(s);
    if (this.done) return;
    this.#session?.hub._forget(this.id);
    this.#session = {
      hub, keys, accepted: false, key: null, sent: null, next: 0, resend: [], doneSent: false, remotePause: false, sentBytes: 0,
    };
    this.state = 'offered';
    if (hub.closed) {
      this._interrupt(hub); // it went away while libsodium loaded
      return;
    }
    hub._adoptOutgoing(this);
    const offer = {
      t: 'offer', v: 1, id: this.id, name: this.name, size: this.size, chunkSize: this.#chunkSize,
      enc: this.#enc, pk: toB64u(keys.publicKey), lanes: this.#lanes,
    };
    if (this.path) offer.path = this.path;
    if (this.#mime) offer.mime = this.#mime.slice(0, 256);
    hub._control(offer);
  }

  /**
   * A control message for this transfer.
   * @param {FileHub} hub
   * @param {any} m checked by parseControl
   */
  async _onControl(hub, m) {
    const ses = this.#session;
    if (!ses || ses.hub !== hub || this.done) return;
    switch (m.t) {
      case 'accept': await this.#onAccept(ses, m); return;
      case 'reject':
        this.#end(fileError(FileErrorCode.REJECTED, `${this.peerId} declined ${this.name}${m.reason ? ` (${m.reason})` : ''}`));
        return;
      // The receiver's pause (its user's, or its backpressure) stops the
      // frames; `state` follows this side's own pause() only.
      case 'pause': ses.remotePause = true; return;
      case 'continue':
        ses.remotePause = false;
        this.#poke();
        return;
      case 'nack': this.#onNack(ses, m.ranges); return;
      case 'complete': await this.#onComplete(m.sha256); return;
      case 'cancel': this.#end(fileError(FileErrorCode.CANCELLED, `${this.peerId} cancelled ${this.name}`)); return;
      case 'error': this.#end(fileError(m.code, `${this.peerId}: ${m.message ?? m.code}`)); return;
      default: // not for a sender
    }
  }

  /**
   * The connection carrying the transfer dropped.
   * @param {FileHub} hub
   */
  _interrupt(hub) {
    if (this.#session?.hub !== hub || this.done) return;
    this.#session = null;
    this.#poke();
    if (this.#resumable) {
      this.state = 'interrupted';
      // Another connection to the peer may be up already.
      queueMicrotask(() => this.#reg._hubFor(this.peerId)?._reofferOne(this));
      return;
    }
    this.#end(fileError(FileErrorCode.CONNECTION_CLOSED, `the connection dropped while sending ${this.name}`));
  }

  /** The receiver cancelled while this transfer waited for a connection. */
  _cancelledWhileAway() {
    this.#end(fileError(FileErrorCode.CANCELLED, `${this.peerId} cancelled ${this.name}`));
  }

  /** Whether a session runs on a connection that is up. */
  _runningOnLiveHub() {
    return Boolean(this.#session?.hub.live);
  }

  // ------------------------------------------------------------ internal --

  async #onAccept(ses, m) {
    if (ses.accepted) return; // one accept per session
    ses.accepted = true;
    const s = await loadSodium();
    if (this.#session !== ses || this.done) return;
    const peerPk = /** @type {Uint8Array} */ (fromB64u(m.pk));
    const n = chunkCount(this.size, this.#chunkSize);
    const sent = new ChunkSet(n);
    if (!m.have.every(([, e]) => e <= n)) {
      ses.hub._control({ t: 'error', id: this.id, code: 'bad-message', message: 'have names chunks past the end' });
      this.#end(fileError(FileErrorCode.BAD_MESSAGE, 'the receiver named chunks past the end'));
      return;
    }
    sent.addRanges(m.have);
    this.stats.resumedChunks = sent.count;
    try {
      ses.key = this.#enc === 'none' ? new Uint8Array(0) : sessionKey(s, {
        ownSecret: ses.keys.privateKey, peerPublic: peerPk, manifest: this.#manifest,
        senderPk: ses.keys.publicKey, receiverPk: peerPk,
      });
    } catch (e) {
      ses.hub._control({ t: 'error', id: this.id, code: 'bad-message', message: 'a low-order public key' });
      this.#end(fileError(FileErrorCode.BAD_MESSAGE, /** @type {Error} */ (e).message));
      return;
    }
    ses.sent = sent;
    for (let i = 0; i < n; i++) if (sent.has(i)) ses.sentBytes += chunkLength(this.size, this.#chunkSize, i);
    this.stats.sessions += 1;
    this.state = this.#localPause ? 'paused' : 'sending';
    this._progress(ses.sentBytes, true);
    this.#run(ses).catch((e) => {
      if (this.#session !== ses) return;
      ses.hub._control({ t: 'error', id: this.id, code: 'internal', message: String(e?.message ?? e).slice(0, 200) });
      this.#end(e instanceof WebRTC2Error ? e : fileError(FileErrorCode.INTERNAL, `sending ${this.name}: ${e?.message ?? e}`));
    });
  }

  /** @param {any} ses @param {[number, number][]} ranges */
  #onNack(ses, ranges) {
    const n = chunkCount(this.size, this.#chunkSize);
    for (const [a, b] of ranges) {
      for (let i = a; i < Math.min(b, n); i++) {
        const k = (this.#nacks.get(i) ?? 0) + 1;
        this.#nacks.set(i, k);
        if (k > MAX_RESENDS + 1) {
          ses.hub._control({ t: 'error', id: this.id, code: 'integrity', message: `chunk ${i} failed ${k} times` });
          this.#end(fileError(FileErrorCode.INTEGRITY, `chunk ${i} of ${this.name} failed to verify ${k} times`));
          return;
        }
        if (!ses.resend.includes(i)) ses.resend.push(i);
      }
    }
    this.#poke();
  }

  /** @param {string} hash */
  async #onComplete(hash) {
    if (!this.#hash) {
      // Only an answer to `done` (and the hash must not run beside the sending).
      this.#session?.hub._control({ t: 'error', id: this.id, code: 'bad-message', message: 'complete before done' });
      this.#end(fileError(FileErrorCode.BAD_MESSAGE, `${this.peerId} said complete before the file was sent`));
      return;
    }
    const mine = await this.#wholeHash();
    if (this.done) return;
    if (hash !== mine) {
      this.#session?.hub._control({ t: 'error', id: this.id, code: 'integrity', message: 'the whole-file hash differs' });
      this.#end(fileError(FileErrorCode.INTEGRITY, `${this.name}: the receiver's hash differs from the file's`));
      return;
    }
    this._progress(this.size, true);
    this.state = 'complete';
    this.#detach();
    this._slots.onComplete.emit({ hash: mine, name: this.name, size: this.size, path: this.path });
  }

  /** @param {WebRTC2Error} err */
  #end(err) {
    if (this.done) return;
    this._fail(err);
    this.#detach();
  }

  #detach() {
    this.#session?.hub._forget(this.id);
    this.#session = null;
    this.#reg._dropOutgoing(this);
    this.#poke();
    if (this.done) {
      this.#box?.free();
      this.#box = null;
    }
  }

  #poke() {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Resolves at the next poke (a nack, a continue, a drop). */
  #sleep() {
    return new Promise((resolve) => { this.#wake = resolve; });
  }

  /**
   * Bytes [off, off + len) of the file. Reads go through a block of
   * READ_BLOCK bytes (one Blob read per block, not per chunk: each read is
   * a round trip to the browser's blob storage), so memory holds one block.
   * @param {number} off
   * @param {number} len
   * @returns {Promise<Uint8Array>}
   */
  async #read(off, len) {
    const b = this.#block;
    if (!b || off < b.start || off + len > b.start + b.bytes.length) {
      const end = Math.min(this.size, Math.max(off + len, off + READ_BLOCK));
      this.#block = { start: off, bytes: new Uint8Array(await this.#file.slice(off, end).arrayBuffer()) };
    }
    const blk = /** @type {{start: number, bytes: Uint8Array}} */ (this.#block);
    return blk.bytes.subarray(off - blk.start, off - blk.start + len);
  }

  /**
   * Hashes the file from where the hash stands up to byte `end` (bytes that
   * were not sent in order: the receiver had them, or they come last).
   * @param {number} end
   */
  async #hashTo(end) {
    while (this.#hashPos < end && !this.done) {
      const to = Math.min(end, this.#hashPos + READ_BLOCK);
      const bytes = new Uint8Array(await this.#file.slice(this.#hashPos, to).arrayBuffer());
      if (this.done) return;
      /** @type {ChunkBox} */ (this.#box).hashBytes(bytes);
      this.#hashPos = to;
    }
  }

  /** @returns {Promise<string>} the whole file's SHA-256, hex */
  #wholeHash() {
    this.#hash ??= (async () => {
      this.#box ??= new ChunkBox(await loadSodium(), this.#chunkSize);
      await this.#hashTo(this.size);
      if (this.#hashPos !== this.size) throw fileError(FileErrorCode.CANCELLED, 'the transfer ended before the file was hashed');
      return this.#box.hashDigest();
    })();
    return this.#hash;
  }

  /**
   * Sends every chunk the receiver lacks, then `done`, then what it nacks,
   * until the session ends. One chunk is read ahead at most.
   * @param {any} ses
   */
  async #run(ses) {
    const s = await loadSodium();
    const n = chunkCount(this.size, this.#chunkSize);
    this.#box ??= new ChunkBox(s, this.#chunkSize);
    if (ses.key.length) this.#box.setKey(ses.key);
    const hooks = /** @type {any} */ (globalThis).__webrtc2TestHooks;
    while (this.#session === ses && !this.done) {
      if (this.#localPause || ses.remotePause) {
        await this.#sleep();
        continue;
      }
      let index = ses.resend.shift();
      const resent = index !== undefined;
      if (index === undefined) {
        while (ses.next < n && ses.sent.has(ses.next)) ses.next += 1;
        if (ses.next < n) index = ses.next++;
      }
      if (index === undefined) {
        if (!ses.doneSent) {
          ses.doneSent = true;
          ses.hub._control({ t: 'done', id: this.id, sha256: await this.#wholeHash() });
          continue; // a nack may have come while the hash was awaited
        }
        await this.#sleep();
        continue;
      }
      const off = index * this.#chunkSize;
      const len = chunkLength(this.size, this.#chunkSize, index);
      if (off > this.#hashPos) await this.#hashTo(off); // chunks the receiver had: hashed, not sent
      const plain = await this.#read(off, len);
      if (this.#session !== ses || this.done) break;
      // Framed (and sealed) in place in libsodium's heap: nothing allocated per chunk.
      const box = /** @type {ChunkBox} */ (this.#box);
      box.fill(this.#id, index, plain);
      if (off === this.#hashPos) {
        box.hashPayload(len);
        this.#hashPos += len;
      }
      if (ses.key.length) box.seal(this.#id, index, index === n - 1, len);
      const payloadLen = len + (ses.key.length ? TAG_BYTES : 0);
      const frame = () => {
        const f = box.frame(payloadLen);
        if (hooks?.corruptChunk?.(this.id, index) === true) f[f.length - 1] ^= 0x01;
        return f;
      };
      const go = () => this.#session === ses && !this.done && !this.#localPause && !ses.remotePause;
      if (!await ses.hub._sendFrame(frame, this.#lanes, go)) {
        // Paused (or ended) before the frame went: it goes first later.
        if (resent) ses.resend.unshift(index);
        else ses.next = Math.min(ses.next, index);
        continue;
      }
      this.stats.chunksSent += 1;
      this.stats.bytesSent += FRAME_HEADER + payloadLen;
      if (resent) this.stats.chunksResent += 1;
      if (!ses.sent.has(index)) {
        ses.sent.add(index);
        ses.sentBytes += len;
      }
      this._progress(ses.sentBytes);
    }
  }
}

// ----------------------------------------------------------- receiving --

/**
 * A file offered by the peer: `connection.onFile` receives it.
 */
export class IncomingFile {
  /** @type {FileHub} */ #hub;
  /** @type {any} */ #offer;
  #answered = false;

  /**
   * @param {FileHub} hub
   * @param {any} offer checked by parseControl
   * @param {number} resumedBytes
   */
  constructor(hub, offer, resumedBytes) {
    this.#hub = hub;
    this.#offer = offer;
    /** The transfer's id (32 hex digits). */
    this.id = offer.id;
    this.name = offer.name;
    this.size = offer.size;
    /** Relative path inside a folder being sent, or ''. */
    this.path = offer.path ?? '';
    this.mime = offer.mime ?? '';
    this.encryption = offer.enc;
    /** Bytes already stored from an earlier, interrupted session. */
    this.resumedBytes = resumedBytes;
    /** The sender, `user@domain`. */
    this.from = hub.peerId;
  }

  /**
   * Takes the file: it is written to OPFS (or to `handle`) as it arrives.
   * @param {{handle?: FileSystemFileHandle}} [opts]
   * @returns {Promise<IncomingTransfer>}
   * @throws {WebRTC2Error} (rejects) 'too-large', 'storage', 'cancelled'
   */
  async accept(opts = {}) {
    if (this.#answered) throw new TypeError('accept(): this file was already accepted or rejected');
    this.#answered = true;
    const t = new IncomingTransfer(this.#hub._registry, this.#hub.peerId, this.#offer, this.#hub._report);
    await t._start(this.#hub, this.#offer, opts.handle);
    return t;
  }

  /**
   * Declines the file; the sender's transfer fails with 'rejected'.
   * @param {string} [reason='declined']
   */
  reject(reason = 'declined') {
    if (this.#answered) return;
    this.#answered = true;
    this.#hub._control({ t: 'reject', id: this.id, reason: String(reason).slice(0, 256) });
  }
}

/**
 * A file being received: `incoming.accept()` resolves with it.
 */
export class IncomingTransfer extends TransferBase {
  /** @type {FileRegistry} */ #reg;
  /** @type {any} */ #offer;
  /** @type {Uint8Array} */ #id;
  /** @type {string} */ #manifestHex = '';
  /** @type {PartStore | null} */ #store = null;
  /** @type {ChunkSet} */ #got;
  /** @type {{hub: FileHub, key: Uint8Array | null} | null} */ #session = null;
  /** @type {string | null} */ #doneHash = null;
  /** @type {Map<number, number>} */ #failures = new Map();
  /** @type {Promise<void>} frames are handled one at a time */
  #chain = Promise.resolve();
  #bytes = 0;
  #localPause = false;
  /** Bytes of frames arrived and not yet handled (stored or dropped). */
  #queuedBytes = 0;
  /** @type {Set<number>} chunks handed to the storage worker, not yet verdicted */
  #inflight = new Set();
  /** Too many of them: the sender is asked to pause. */
  #pressure = false;
  /** What the sender was last told (pause or continue). */
  #toldPause = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #missingTimer;

  /**
   * @param {FileRegistry} reg
   * @param {string} peerId
   * @param {any} offer
   * @param {(e: unknown) => void} report
   */
  constructor(reg, peerId, offer, report) {
    super(report, offer.id, offer.name, offer.size, offer.path ?? '');
    this.#reg = reg;
    this.peerId = peerId;
    this.#offer = offer;
    this.#id = fromHex(offer.id);
    this.#got = new ChunkSet(chunkCount(offer.size, offer.chunkSize));
    this.direction = 'receive';
    this.encryption = offer.enc;
  }

  pause() {
    if (this.done || this.#localPause) return;
    this.#localPause = true;
    if (this.state === 'receiving') this.state = 'paused';
    this.#updateFlow();
  }

  resume() {
    if (this.done || !this.#localPause) return;
    this.#localPause = false;
    if (this.state === 'paused') this.state = 'receiving';
    this.#updateFlow();
  }

  /**
   * Tells the sender to pause while this side's user paused or frames pile
   * up here faster than they are written (a data channel has no receive
   * backpressure of its own), and to go on when neither holds.
   */
  #updateFlow() {
    const queued = this.#queuedBytes;
    if (queued >= RX_HIGH) this.#pressure = true;
    else if (queued <= RX_LOW) this.#pressure = false;
    const want = this.#localPause || this.#pressure;
    if (want === this.#toldPause || !this.#session) return;
    this.#toldPause = want;
    this.#session.hub._control({ t: want ? 'pause' : 'continue', id: this.id });
  }

  /**
   * Ends the transfer for good and deletes what was stored. onError gets
   * 'cancelled'.
   * @param {string} [reason]
   */
  cancel(reason = 'cancelled') {
    if (this.done) return;
    const msg = { t: 'cancel', id: this.id, reason: String(reason).slice(0, 256) };
    if (this.#session) this.#session.hub._control(msg);
    else this.#reg._cancelLater(this.peerId, msg); // so that the sender stops offering it
    this.#end(fileError(FileErrorCode.CANCELLED, `the transfer of ${this.name} was cancelled`), true);
  }

  // ------------------------------------------------------- for the hub --

  /**
   * How the file is written: 'worker' (OPFS, in place through a sync access
   * handle in a worker), 'writable' (a chosen file handle), or '' before
   * storage is open.
   */
  get storage() {
    return this.#store?.kind ?? '';
  }

  /** The manifest of an offer, hex. @param {any} offer */
  static manifestHex(offer) {
    return toHex(encodeManifest({
      id: fromHex(offer.id), size: offer.size, chunkSize: offer.chunkSize, enc: offer.enc,
      sha256: offer.sha256, name: offer.name, path: offer.path ?? '',
    }));
  }

  /** Whether a new offer is this transfer again (same manifest, same sender). @param {any} offer @param {string} peerId */
  _matches(offer, peerId) {
    return !this.done && peerId === this.peerId && IncomingTransfer.manifestHex(offer) === this.#manifestHex;
  }

  /**
   * Opens storage and accepts the offer.
   * @param {FileHub} hub
   * @param {any} offer
   * @param {FileSystemFileHandle} [handle]
   */
  async _start(hub, offer, handle) {
    this.#manifestHex = IncomingTransfer.manifestHex(offer);
    try {
      if (!handle && offer.size > await freeBytes()) {
        throw fileError(FileErrorCode.TOO_LARGE, `${offer.name} (${offer.size} bytes) does not fit in this origin's storage`);
      }
      const { store, ranges } = await PartStore.open({
        id: offer.id, manifest: this.#manifestHex, peer: this.peerId, name: offer.name, path: offer.path ?? '',
        size: offer.size, chunkSize: offer.chunkSize,
      }, handle);
      this.#store = store;
      if (store.kind === 'worker') store.onVerdict = (index, ok, error) => this.#onVerdict(index, ok, error);
      this.#got.addRanges(ranges);
      this.#bytes = this.#heldBytes();
    } catch (e) {
      const err = e instanceof WebRTC2Error ? e : fileError(FileErrorCode.STORAGE, `cannot store ${offer.name}: ${e?.message ?? e}`);
      hub._control({ t: 'error', id: offer.id, code: err.code, message: err.message });
      this._fail(err);
      throw err;
    }
    this.#reg._incoming.set(this.id, this);
    await this._resumeSession(hub, offer);
  }

  /**
   * Accepts (again) on `hub`: fresh keys, what is held as `have`.
   * @param {FileHub} hub
   * @param {any} offer
   */
  async _resumeSession(hub, offer) {
    if (this.#session && this.#session.hub !== hub) this.#session.hub._forget(this.id);
    this.#offer = offer;
    const s = await loadSodium();
    const keys = makeKeyPair(s);
    const senderPk = /** @type {Uint8Array} */ (fromB64u(offer.pk));
    /** @type {Uint8Array | null} */
    let key = null;
    if (offer.enc !== 'none') {
      try {
        key = sessionKey(s, {
          ownSecret: keys.privateKey, peerPublic: senderPk, manifest: fromHex(this.#manifestHex),
          senderPk, receiverPk: keys.publicKey,
        });
      } catch (e) {
        hub._control({ t: 'error', id: this.id, code: 'bad-message', message: 'a low-order public key' });
        this.#end(fileError(FileErrorCode.BAD_MESSAGE, /** @type {Error} */ (e).message), false);
        return;
      }
    }
    this.#session = { hub, key };
    if (this.#store?.kind === 'worker') this.#store.setKey(this.#id, key);
    this.#doneHash = null;
    this.stats.sessions += 1;
    hub._adoptIncoming(this);
    this.stats.resumedChunks = this.#got.count;
    this.state = this.#localPause ? 'paused' : 'receiving';
    hub._control({ t: 'accept', id: this.id, pk: toB64u(keys.publicKey), have: this.#got.ranges() });
    this.#toldPause = false; // a new session starts unpaused
    this.#updateFlow();
    this._progress(this.#bytes, true);
  }

  /**
   * A frame for this transfer.
   * @param {FileHub} hub
   * @param {ArrayBuffer} frame
   */
  _onFrame(hub, frame) {
    // Frames are handled in order of arrival; this closure keeps the
    // message until its turn (stats.framesQueued counts them).
    this.stats.framesQueued += 1;
    this.stats.maxFramesQueued = Math.max(this.stats.maxFramesQueued, this.stats.framesQueued);
    const n = frame.byteLength;
    this.#queuedBytes += n;
    if (!this.#pressure && this.#queuedBytes >= RX_HIGH) this.#updateFlow();
    this.#chain = this.#chain.then(async () => {
      this.stats.framesQueued -= 1;
      let handedOver = false;
      try {
        handedOver = await this.#handleFrame(hub, frame);
      } finally {
        if (!handedOver) this.#release(n);
      }
    }).catch((e) => {
      const err = fileError(FileErrorCode.STORAGE, `writing ${this.name} failed: ${e?.message ?? e}`);
      hub._control({ t: 'error', id: this.id, code: err.code, message: err.message });
      this.#end(err, false);
    });
  }

  /**
   * @param {FileHub} hub
   * @param {any} m checked by parseControl
   */
  async _onControl(hub, m) {
    const ses = this.#session;
    if (!ses || ses.hub !== hub || this.done) return;
    switch (m.t) {
      case 'done':
        this.#doneHash = m.sha256;
        this.#armMissing();
        this.#chain = this.#chain.then(() => this.#maybeFinish(ses));
        return;
      case 'pause': case 'continue': return; // the sender's own pause: frames just stop
      case 'cancel': this.#end(fileError(FileErrorCode.CANCELLED, `${this.peerId} cancelled ${this.name}`), true); return;
      case 'error': this.#end(fileError(m.code, `${this.peerId}: ${m.message ?? m.code}`), m.code !== 'internal'); return;
      default: // not for a receiver
    }
  }

  /** The sender cancelled while this transfer waited for a connection. */
  _cancelledWhileAway() {
    this.#end(fileError(FileErrorCode.CANCELLED, `${this.peerId} cancelled ${this.name}`), true);
  }

  /** @param {FileHub} hub */
  _interrupt(hub) {
    if (this.#session?.hub !== hub || this.done) return;
    this.#session = null;
    clearTimeout(this.#missingTimer);
    this.state = 'interrupted';
    this.#chain = this.#chain.then(() => this.#store?.commit(() => this.#got.ranges())).catch(() => {});
  }

  // ------------------------------------------------------------ internal --

  /** `n` bytes of frames are handled (stored, or dropped): the backlog shrinks. @param {number} n */
  #release(n) {
    this.#queuedBytes -= n;
    if (this.#pressure && this.#queuedBytes <= RX_LOW) this.#updateFlow();
  }

  /**
   * The storage worker's word on chunk `index` (handed over by #handleFrame).
   * @param {number} index
   * @param {boolean} ok it opened, and is written and hashed
   * @param {string} [error] the write failed
   */
  #onVerdict(index, ok, error) {
    this.#inflight.delete(index);
    const len = chunkLength(this.size, this.#offer.chunkSize, index);
    this.#release(FRAME_HEADER + len + (this.#offer.enc === 'none' ? 0 : TAG_BYTES));
    if (this.done) return;
    const ses = this.#session;
    if (error) {
      const err = fileError(FileErrorCode.STORAGE, `writing ${this.name} failed: ${error}`);
      ses?.hub._control({ t: 'error', id: this.id, code: err.code, message: err.message });
      this.#end(err, false);
      return;
    }
    if (!ok) {
      if (ses) this.#onBadChunk(ses.hub, index);
      return;
    }
    if (this.#got.has(index)) return;
    this.#got.add(index);
    this.#bytes += len;
    /** @type {PartStore} */ (this.#store).stored(len, () => this.#got.ranges());
    this._progress(this.#bytes);
    if (ses && this.#got.full) this.#chain = this.#chain.then(() => this.#maybeFinish(ses));
  }

  #heldBytes() {
    let b = 0;
    for (const [a, e] of this.#got.ranges()) {
      for (let i = a; i < e; i++) b += chunkLength(this.size, this.#offer.chunkSize, i);
    }
    return b;
  }

  /**
   * @param {FileHub} hub
   * @param {ArrayBuffer} frame
   * @returns {Promise<boolean>} whether the frame went to the storage worker
   *   (its bytes are released at the worker's verdict, not now)
   */
  async #handleFrame(hub, frame) {
    const ses = this.#session;
    if (!ses || ses.hub !== hub || this.done) return false;
    this.stats.chunksReceived += 1;
    const cs = this.#offer.chunkSize;
    const f = checkFrame(frame, { idHex: this.id, size: this.size, chunkSize: cs, enc: this.#offer.enc });
    if (!f.ok) {
      hub._control({ t: 'error', id: this.id, code: 'bad-message', message: `a bad frame: ${f.why}` });
      this.#end(fileError(FileErrorCode.BAD_MESSAGE, `${this.peerId} sent a malformed frame (${f.why})`), false);
      return false;
    }
    const { index, payload } = f;
    // Sent again while in flight: held already, or on its way to storage.
    if (this.#got.has(index) || this.#inflight.has(index)) return false;
    if (this.#missingTimer !== undefined) this.#armMissing();
    const store = /** @type {PartStore} */ (this.#store);
    if (store.kind === 'worker') {
      // The worker opens, writes and hashes it: see #onVerdict.
      this.#inflight.add(index);
      store.chunk(index, f.last, frame);
      return true;
    }
    const len = chunkLength(this.size, cs, index);
    let plain = payload;
    if (ses.key) {
      const opened = openChunk(await loadSodium(), ses.key, this.#id, index, f.last, payload);
      if (!opened) {
        this.#onBadChunk(hub, index);
        return false;
      }
      plain = opened;
    }
    await store.write(index * cs, plain, () => this.#got.ranges());
    // Verified and written: held, even if the session dropped meanwhile.
    if (this.done) return false;
    this.#got.add(index);
    this.#bytes += len;
    this._progress(this.#bytes);
    await this.#maybeFinish(ses);
    return false;
  }

  /** @param {FileHub} hub @param {number} index */
  #onBadChunk(hub, index) {
    this.stats.chunksFailed += 1;
    const k = (this.#failures.get(index) ?? 0) + 1;
    this.#failures.set(index, k);
    if (k > MAX_RESENDS) {
      hub._control({ t: 'error', id: this.id, code: 'integrity', message: `chunk ${index} failed to verify ${k} times` });
      this.#end(fileError(FileErrorCode.INTEGRITY, `chunk ${index} of ${this.name} failed to verify ${k} times`), true);
      return;
    }
    hub._control({ t: 'nack', id: this.id, ranges: [[index, index + 1]] });
  }

  /** After `done`, nack what is still missing once nothing arrived for a while. */
  #armMissing() {
    clearTimeout(this.#missingTimer);
    this.#missingTimer = setTimeout(() => {
      const ses = this.#session;
      if (!ses || this.done || this.#got.full || this.#localPause) return;
      ses.hub._control({ t: 'nack', id: this.id, ranges: this.#got.missing().slice(0, 1024) });
      this.#armMissing();
    }, MISSING_AFTER_MS);
  }

  /** @param {any} ses */
  async #maybeFinish(ses) {
    if (this.#session !== ses || this.done || !this.#got.full || this.#doneHash === null) return;
    clearTimeout(this.#missingTimer);
    this.#missingTimer = undefined;
    this.state = 'verifying';
    const store = /** @type {PartStore} */ (this.#store);
    // The worker hashed the chunks as they were stored; a chosen file is read back.
    const hashed = store.kind === 'worker' ? await store.digest() : null;
    const file = await store.finish(() => this.#got.ranges());
    const hash = hashed ?? await hashBlob(await loadSodium(), file);
    const expected = this.#doneHash;
    if (hash !== expected || (this.#offer.sha256 && hash !== this.#offer.sha256)) {
      ses.hub._control({ t: 'error', id: this.id, code: 'integrity', message: 'the stored file\'s hash differs from the sender\'s' });
      this.#end(fileError(FileErrorCode.INTEGRITY, `${this.name}: the stored file's SHA-256 differs from the sender's`), true);
      return;
    }
    await store.markComplete();
    ses.hub._control({ t: 'complete', id: this.id, sha256: hash });
    ses.hub._forget(this.id);
    this.#session = null;
    this.#reg._incoming.delete(this.id);
    this.state = 'complete';
    this._progress(this.size, true);
    this._slots.onComplete.emit({ hash, name: this.name, size: this.size, path: this.path, file });
  }

  /**
   * @param {WebRTC2Error} err
   * @param {boolean} discard delete what was stored
   */
  #end(err, discard) {
    if (this.done) return;
    clearTimeout(this.#missingTimer);
    this._fail(err);
    this.#session?.hub._forget(this.id);
    this.#session = null;
    this.#reg._incoming.delete(this.id);
    if (discard) this.#store?.remove().catch(() => {});
    else this.#store?.commit(() => this.#got.ranges()).catch(() => {});
  }
}

// ----------------------------------------------------------------- hub --

/**
 * What outlives a connection: outgoing transfers by peer (re-offered on the
 * next connection to that peer) and this page's receiving transfers by id.
 */
export class FileRegistry {
  /** @type {Map<string, Set<OutgoingTransfer>>} */ _outgoing = new Map();
  /** @type {Set<FileHub>} connections that are up */ _hubs = new Set();
  /** @type {Map<string, Record<string, unknown>[]>} cancels waiting for a connection, by peer */ _cancels = new Map();
  /** @type {Map<string, IncomingTransfer>} */ _incoming = new Map();
  #swept = false;

  /** @param {OutgoingTransfer} t */
  _addOutgoing(t) {
    let set = this._outgoing.get(t.peerId);
    if (!set) this._outgoing.set(t.peerId, set = new Set());
    set.add(t);
  }

  /** @param {OutgoingTransfer} t */
  _dropOutgoing(t) {
    const set = this._outgoing.get(t.peerId);
    set?.delete(t);
    if (set?.size === 0) this._outgoing.delete(t.peerId);
  }

  /**
   * A cancel for a transfer cut off from its peer: sent on the next
   * connection to it (at once if one is up), so the receiver deletes its part.
   * @param {string} peerId
   * @param {Record<string, unknown>} msg
   */
  _cancelLater(peerId, msg) {
    const hub = this._hubFor(peerId);
    if (hub) {
      hub._control(msg);
      return;
    }
    let list = this._cancels.get(peerId);
    if (!list) this._cancels.set(peerId, list = []);
    if (list.length < 1024) list.push(msg);
  }

  /** A live hub to `peerId`, if any. @param {string} peerId */
  _hubFor(peerId) {
    for (const h of this._hubs) if (h.peerId === peerId && h.live) return h;
    return null;
  }

  /** Old partial transfers are deleted once per page, on the first offer. */
  _sweepOnce() {
    if (this.#swept) return;
    this.#swept = true;
    sweepParts().catch(() => {});
  }
}

/**
 * One peer connection's transfer channels and the transfers on them.
 */
export class FileHub {
  /** @type {RTCPeerConnection} */ #pc;
  /** @type {RTCDataChannel | null} our control channel, or the peer's we answer on */
  #control = null;
  /** @type {string[]} control messages waiting for the channel to open */
  #pending = [];
  /** @type {RTCDataChannel[]} lanes this side opened (it sends on them) */
  #lanes = [];
  /** @type {Map<string, OutgoingTransfer>} */ #out = new Map();
  /** @type {Map<string, IncomingTransfer>} */ #in = new Map();
  /** @type {(incoming: IncomingFile) => void} */ #onFile;
  #closed = false;
  /** @type {(() => void)[]} senders waiting for lane room */
  #waiting = [];
  /** Frames for no known transfer, dropped. */
  strayFrames = 0;

  /**
   * @param {{pc: RTCPeerConnection, peerId: string, registry: FileRegistry,
   *   onFile: (incoming: IncomingFile) => void, report: (e: unknown) => void}} init
   */
  constructor(init) {
    this.#pc = init.pc;
    this.peerId = init.peerId;
    this._registry = init.registry;
    this._report = init.report;
    this.#onFile = init.onFile;
    init.pc.addEventListener('datachannel', (e) => this.#onChannel(/** @type {RTCDataChannelEvent} */ (e).channel));
  }

  /**
   * Sends a file to the peer (see docs/sdk.md, "Files").
   * @param {SendFileOptions} o
   * @returns {OutgoingTransfer}
   */
  sendFile(o) {
    checkSendOptions(o);
    const t = new OutgoingTransfer(this._registry, this.peerId, o, this._report);
    if (o.resumable ?? true) this._registry._addOutgoing(t);
    t._offer(this).catch((e) => t._fail(fileError(FileErrorCode.INTERNAL, `offering ${t.name}: ${e?.message ?? e}`)));
    return t;
  }

  /**
   * The connection is up: transfers to this peer that were cut off (and
   * are not running on another connection) are offered again here.
   */
  up() {
    if (this.#closed) return;
    this._registry._hubs.add(this);
    for (const msg of this._registry._cancels.get(this.peerId) ?? []) this._control(msg);
    this._registry._cancels.delete(this.peerId);
    for (const t of this._registry._outgoing.get(this.peerId) ?? []) this._reofferOne(t);
  }

  /** @param {OutgoingTransfer} t */
  _reofferOne(t) {
    if (this.#closed || t.done || this.#out.has(t.id)) return;
    if (t.state !== 'interrupted' && t._runningOnLiveHub()) return;
    t._offer(this).catch((e) => this._report(e));
  }

  /** Whether close() ran (the connection ended or its control channel closed). */
  get closed() {
    return this.#closed;
  }

  /** Whether the peer connection is up (its path and the control channel). */
  get live() {
    return !this.#closed && this.#pc.connectionState === 'connected'
      && (this.#control === null || this.#control.readyState === 'open');
  }

  /** The connection ended: every transfer on it is interrupted. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this._registry._hubs.delete(this);
    for (const t of [...this.#out.values()]) t._interrupt(this);
    for (const t of [...this.#in.values()]) t._interrupt(this);
    this.#out.clear();
    this.#in.clear();
    for (const w of this.#waiting.splice(0)) w();
  }

  // --------------------------------------------------- for the transfers --

  /** @param {OutgoingTransfer} t */
  _adoptOutgoing(t) {
    this.#out.set(t.id, t);
  }

  /** @param {IncomingTransfer} t */
  _adoptIncoming(t) {
    this.#in.set(t.id, t);
  }

  /** @param {string} id */
  _forget(id) {
    this.#out.delete(id);
    this.#in.delete(id);
  }

  /**
   * Sends a control message (opening the control channel if needed).
   * @param {Record<string, unknown>} msg
   */
  _control(msg) {
    if (this.#closed) return;
    const text = JSON.stringify(msg);
    const ch = this.#control ?? this.#openControl();
    if (ch.readyState === 'open') {
      try {
        ch.send(text);
      } catch (e) {
        this._report(e);
      }
    } else {
      this.#pending.push(text);
    }
  }

  /**
   * Sends a frame on the emptiest of `lanes` lanes once there is room
   * (docs/file-transfer.md, "Flow control"), unless `go()` turns false
   * first (a pause) or the connection is gone.
   * @param {() => Uint8Array} frame the frame's bytes, asked for when it goes
   *   (send() copies them: the caller's buffer is free again at once)
   * @param {number} lanes
   * @param {() => boolean} go
   * @returns {Promise<boolean>} whether the frame was handed to the browser
   */
  async _sendFrame(frame, lanes, go) {
    while (this.#lanes.length < Math.min(lanes, MAX_LANES) && !this.#closed) this.#openLane();
    for (;;) {
      if (this.#closed || !go()) return false;
      const open = this.#lanes.slice(0, lanes).filter((l) => l.readyState === 'open');
      const total = this.#lanes.reduce((n, l) => n + (l.readyState === 'open' ? l.bufferedAmount : 0), 0);
      const lane = open.sort((a, b) => a.bufferedAmount - b.bufferedAmount)[0];
      if (lane && lane.bufferedAmount < LANE_HIGH && total < TOTAL_HIGH) {
        try {
          lane.send(frame());
          return true;
        } catch {
          // closing under us: the states are looked at again below
        }
      }
      if (this.#lanes.every((l) => l.readyState === 'closed' || l.readyState === 'closing')) {
        this.close();
        return false;
      }
      await new Promise((resolve) => {
        this.#waiting.push(resolve);
        setTimeout(resolve, 250); // the event is the fast path; this the safety net
      });
    }
  }

  // ------------------------------------------------------------ internal --

  #openControl() {
    const ch = this.#pc.createDataChannel(CONTROL_LABEL, { ordered: true });
    this.#adoptControl(ch);
    return ch;
  }

  /** @param {RTCDataChannel} ch */
  #adoptControl(ch) {
    this.#control ??= ch;
    ch.addEventListener('message', (e) => this.#onControl(e.data));
    ch.addEventListener('open', () => this.#flush(ch));
    ch.addEventListener('close', () => {
      if (this.#control === ch) this.close();
    });
  }

  /** Sends the waiting control messages on `ch` if it is the one we use and open. @param {RTCDataChannel} ch */
  #flush(ch) {
    if (this.#control !== ch || ch.readyState !== 'open') return;
    for (const text of this.#pending.splice(0)) ch.send(text);
  }

  #openLane() {
    const lane = this.#pc.createDataChannel(DATA_LABEL, { ordered: true });
    this.#adoptLane(lane);
    this.#lanes.push(lane);
  }

  /** @param {RTCDataChannel} lane */
  #adoptLane(lane) {
    lane.binaryType = 'arraybuffer';
    lane.bufferedAmountLowThreshold = LANE_LOW;
    const wake = () => { for (const w of this.#waiting.splice(0)) w(); };
    lane.addEventListener('bufferedamountlow', wake);
    lane.addEventListener('open', wake);
    lane.addEventListener('close', wake);
    lane.addEventListener('message', (e) => this.#onFrame(e.data));
  }

  /** @param {RTCDataChannel} ch a channel the peer opened */
  #onChannel(ch) {
    if (ch.label === CONTROL_LABEL) {
      // Both sides may open one at once (docs/file-transfer.md): messages
      // arrive on both; ours go on theirs if ours has sent nothing yet.
      const mine = this.#control;
      this.#adoptControl(ch);
      if (mine && mine.readyState !== 'open') this.#control = ch;
      this.#flush(ch);
    } else if (ch.label === DATA_LABEL) {
      this.#adoptLane(ch);
    }
  }

  /** @param {unknown} data */
  #onControl(data) {
    const r = parseControl(data);
    if (!r.ok) {
      // A broken error is not answered (two peers must not bounce errors).
      const wasError = typeof data === 'string' && /"t"\s*:\s*"error"/.test(data);
      if (!wasError) this._control({ t: 'error', ...(r.id ? { id: r.id } : {}), code: r.code, message: r.why });
      if (r.id) {
        const t = this.#out.get(r.id) ?? this.#in.get(r.id);
        t?._fail(fileError(r.code, `${this.peerId} sent a bad control message: ${r.why}`));
        if (t) this._forget(r.id);
      }
      return;
    }
    const m = r.msg;
    if (m.t === 'offer') {
      this.#onOffer(m).catch((e) => this._report(e));
      return;
    }
    const t = this.#out.get(m.id) ?? this.#in.get(m.id);
    if (t) {
      t._onControl(this, m).catch((e) => this._report(e));
    } else if (m.t === 'cancel') {
      this.#onStrayCancel(m.id).catch((e) => this._report(e));
    }
  }

  /**
   * The sender cancelled a transfer that is not running here (it was cut
   * off): what this page holds of it goes.
   * @param {string} id
   */
  async #onStrayCancel(id) {
    for (const t of this._registry._outgoing.get(this.peerId) ?? []) {
      if (t.id === id) {
        t._cancelledWhileAway();
        return;
      }
    }
    const live = this._registry._incoming.get(id);
    if (live && live.peerId === this.peerId) {
      live._cancelledWhileAway();
      return;
    }
    const stored = await readPartState(id);
    if (stored && stored.peer === this.peerId) await removePart(id);
  }

  /** @param {any} offer */
  async #onOffer(offer) {
    this._registry._sweepOnce();
    if (this.#in.has(offer.id)) return; // a duplicate
    const live = this._registry._incoming.get(offer.id);
    if (live?._matches(offer, this.peerId)) {
      // The same transfer, offered again after a drop: it goes on by itself.
      await live._resumeSession(this, offer);
      return;
    }
    const stored = await readPartState(offer.id);
    let resumed = 0;
    if (stored) {
      if (stored.peer === this.peerId && stored.manifest === IncomingTransfer.manifestHex(offer)) {
        for (const [a, e] of stored.ranges) {
          for (let i = a; i < e; i++) resumed += chunkLength(offer.size, offer.chunkSize, i);
        }
      } else {
        await removePart(offer.id); // a different file under that id
      }
    }
    this.#onFile(new IncomingFile(this, offer, resumed));
  }

  /** @param {unknown} data */
  #onFrame(data) {
    const f = parseFrame(/** @type {ArrayBuffer} */ (data));
    const t = f && this.#in.get(f.idHex);
    if (!f || !t) {
      this.strayFrames += 1;
      return;
    }
    t._onFrame(this, /** @type {ArrayBuffer} */ (data));
  }
}

/** @param {SendFileOptions} o */
function checkSendOptions(o) {
  if (!o || !isBlob(o.file)) throw new TypeError('sendFile(): file must be a File or Blob');
  const enc = o.encryption ?? 'ChaCha20-Poly1305';
  if (typeof enc !== 'string' || !['chacha20-poly1305', 'none'].includes(enc.toLowerCase())) {
    throw new TypeError("sendFile(): encryption must be 'ChaCha20-Poly1305' or 'none'");
  }
  if (o.integrity !== undefined && o.integrity !== 'SHA-256') throw new TypeError("sendFile(): integrity must be 'SHA-256'");
  const cs = o.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isInteger(cs) || cs < MIN_CHUNK || cs > MAX_CHUNK) {
    throw new TypeError(`sendFile(): chunkSize must be an integer from ${MIN_CHUNK} to ${MAX_CHUNK}`);
  }
  const lanes = o.lanes ?? 1;
  if (!Number.isInteger(lanes) || lanes < 1 || lanes > MAX_LANES) throw new TypeError(`sendFile(): lanes must be 1 to ${MAX_LANES}`);
  const name = o.name ?? /** @type {File} */ (o.file).name ?? 'file';
  if (typeof name !== 'string' || name === '' || new TextEncoder().encode(name).length > 1024) {
    throw new TypeError('sendFile(): the name must be 1 to 1024 bytes (pass name for a Blob)');
  }
  if (o.path !== undefined && (!validPath(o.path) || new TextEncoder().encode(o.path).length > 4096)) {
    throw new TypeError('sendFile(): path must be relative, /-separated, without . or .. segments');
  }
}
