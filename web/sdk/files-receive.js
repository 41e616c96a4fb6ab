// File transfer, the receiving side (docs/file-transfer.md): the offer
// shown to the application, then the transfer: storage (files-store.js;
// in OPFS the storage worker opens, writes and hashes each frame), resume
// by `have` ranges, nacks, backpressure, and the final hash check.
import { WebRTC2Error } from './errors.js';
import { hashBlob, loadSodium, makeKeyPair, openChunk, sessionKey } from './files-crypto.js';
import {
  FRAME_HEADER, TAG_BYTES, ChunkSet, checkFrame, chunkCount, chunkLength, encodeManifest, fromB64u, fromHex,
  toB64u, toHex,
} from './files-frame.js';
import { PartStore, freeBytes } from './files-store.js';
import { FileErrorCode, MAX_RESENDS, TransferBase, fileError } from './files-transfer.js';

/** After `done`, chunks still missing when nothing arrived for this long are nacked. */
const MISSING_AFTER_MS = 3000;
/** A receiver with this many bytes of frames waiting to be handled asks the sender to pause ... */
const RX_HIGH = 4 << 20;
/** ... and to go on once they are down to this. */
const RX_LOW = 1 << 20;

/** @typedef {import('./files.js').FileHub} FileHub */
/** @typedef {import('./files.js').FileRegistry} FileRegistry */

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
    if (want && this.#pressure) this.stats.pausesAsked += 1;
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
