// File transfer (docs/file-transfer.md, version 1): what the sending and
// the receiving transfer share: error codes, options, progress and handlers.
import { SdkErrorCode, WebRTC2Error } from './errors.js';
import { defineHandlers, ReplaySlot } from './handlers.js';

/** A chunk that fails this many times after the first is an 'integrity' error. */
export const MAX_RESENDS = 3;
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
 * @property {number} pausesAsked receiver: times it asked the sender to pause because frames piled up
 * @property {number} pausesHeard sender: times the receiver asked it to pause
 */

/** @param {string} code @param {string} message */
export const fileError = (code, message) => new WebRTC2Error(code, message);

/**
 * Handlers and progress both kinds of transfer share.
 */
export class TransferBase {
  /** @type {Record<string, ReplaySlot<any>>} */ _slots;
  /** 'sending'/'receiving', 'paused', 'interrupted', 'verifying', 'complete', 'failed', 'cancelled'. */
  state = 'offered';
  /** @type {TransferStats} */
  stats = {
    chunksSent: 0, bytesSent: 0, chunksResent: 0, chunksReceived: 0, chunksFailed: 0, sessions: 0, resumedChunks: 0,
    framesQueued: 0, maxFramesQueued: 0, pausesAsked: 0, pausesHeard: 0,
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
