// The data layer: the connection's reliable, ordered data channel, with
// flow control. send() never lets the browser's own buffer grow without
// bound (Chromium closes a channel whose buffer passes 16 MiB): past a
// high-water mark, messages wait in a queue of at most maxQueuedBytes and
// go out as the buffer drains below the low-water mark.

import { SdkErrorCode, WebRTC2Error } from './errors.js';

/** The channel both sides create (negotiated, so neither waits for the other). */
export const CHANNEL_LABEL = 'webrtc2';
export const CHANNEL_ID = 0;

/**
 * @typedef {object} DataOptions
 * @property {number} [highWaterBytes=1048576] hand messages to the browser
 *   only while its buffer holds less than this
 * @property {number} [lowWaterBytes=262144] resume sending below this
 * @property {number} [maxQueuedBytes=16777216] queued in the SDK beyond the
 *   browser's buffer; past it send() rejects with 'backpressure'
 */

/**
 * @typedef {object} Outgoing
 * @property {string | ArrayBuffer | ArrayBufferView | Blob} data
 * @property {number} size
 * @property {() => void} resolve
 * @property {(e: Error) => void} reject
 */

/**
 * The byte size of a message as the channel counts it.
 * @param {string | ArrayBuffer | ArrayBufferView | Blob} data
 */
function byteSize(data) {
  if (typeof data === 'string') return new TextEncoder().encode(data).length;
  if (data instanceof Blob) return data.size;
  return data.byteLength;
}

export class DataLink {
  /** @type {RTCDataChannel} */ #dc;
  /** @type {Outgoing[]} */ #queue = [];
  #queuedBytes = 0;
  #high; #low; #maxQueued;
  /** @type {(data: string | ArrayBuffer) => void} */ #deliver;
  /** @type {() => number} */ #maxMessageSize;
  /** @type {WebRTC2Error | null} */ #closedWith = null;

  /**
   * @param {RTCDataChannel} dc
   * @param {(data: string | ArrayBuffer) => void} deliver receives messages
   * @param {() => number} maxMessageSize the peer's limit (RTCSctpTransport)
   * @param {DataOptions} [opts]
   */
  constructor(dc, deliver, maxMessageSize, opts = {}) {
    this.#dc = dc;
    this.#deliver = deliver;
    this.#maxMessageSize = maxMessageSize;
    this.#high = opts.highWaterBytes ?? 1 << 20;
    this.#low = opts.lowWaterBytes ?? 1 << 18;
    this.#maxQueued = opts.maxQueuedBytes ?? 16 << 20;
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = this.#low;
    dc.addEventListener('message', (e) => this.#deliver(e.data));
    dc.addEventListener('open', () => this.#pump());
    dc.addEventListener('bufferedamountlow', () => this.#pump());
    dc.addEventListener('close', () => this.fail(new WebRTC2Error(SdkErrorCode.CONNECTION_CLOSED, 'the data channel closed')));
  }

  /** The underlying channel. */
  get channel() {
    return this.#dc;
  }

  /** Bytes waiting in the SDK's queue (not yet handed to the browser). */
  get queuedBytes() {
    return this.#queuedBytes;
  }

  /**
   * Sends one message (text, or binary as ArrayBuffer/view/Blob). Messages
   * sent before the channel opens wait for it. Resolves once the message is
   * handed to the browser; awaiting it is how a sender of much data keeps
   * memory bounded.
   * @param {string | ArrayBuffer | ArrayBufferView | Blob} data
   * @returns {Promise<void>}
   * @throws {WebRTC2Error} (rejects) 'too-large', 'backpressure', 'connection-closed'
   */
  send(data) {
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    if (typeof data !== 'string' && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data) && !(data instanceof Blob)) {
      return Promise.reject(new TypeError('send(): data must be a string, an ArrayBuffer, a typed array or a Blob'));
    }
    const size = byteSize(data);
    const max = this.#maxMessageSize();
    if (size > max) {
      return Promise.reject(new WebRTC2Error(SdkErrorCode.TOO_LARGE,
        `a message of ${size} bytes is larger than the peer accepts (${max}); send it in chunks`));
    }
    if (this.#queue.length === 0 && this.#dc.readyState === 'open' && this.#dc.bufferedAmount < this.#high) {
      try {
        this.#dc.send(/** @type {any} */ (data));
      } catch (e) {
        return Promise.reject(new WebRTC2Error(SdkErrorCode.CONNECTION_CLOSED, `the message could not be sent: ${e?.message}`, { cause: e }));
      }
      return Promise.resolve();
    }
    if (this.#queuedBytes + size > this.#maxQueued) {
      return Promise.reject(new WebRTC2Error(SdkErrorCode.BACKPRESSURE,
        `more than ${this.#maxQueued} bytes are waiting to be sent; await send() before sending more`));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ data, size, resolve, reject });
      this.#queuedBytes += size;
    });
  }

  /** Hands queued messages to the browser while its buffer is below high water. */
  #pump() {
    while (this.#queue.length > 0 && this.#dc.readyState === 'open' && this.#dc.bufferedAmount < this.#high) {
      const m = /** @type {Outgoing} */ (this.#queue.shift());
      this.#queuedBytes -= m.size;
      try {
        this.#dc.send(/** @type {any} */ (m.data));
        m.resolve();
      } catch (e) {
        m.reject(new WebRTC2Error(SdkErrorCode.CONNECTION_CLOSED, `the message could not be sent: ${e?.message}`, { cause: e }));
      }
    }
  }

  /**
   * Rejects everything queued with `err`; later sends reject with it too.
   * @param {WebRTC2Error} err
   */
  fail(err) {
    if (this.#closedWith) return;
    this.#closedWith = err;
    for (const m of this.#queue) m.reject(err);
    this.#queue = [];
    this.#queuedBytes = 0;
  }
}
