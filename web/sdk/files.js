// File transfer (docs/file-transfer.md, version 1): the control protocol,
// the data lanes with their flow control, and the transfers on both sides.
//
// A FileHub lives in each Connection and owns that peer connection's
// transfer channels; a FileRegistry lives in the WebRTC2Client and outlives
// connections: it keeps the outgoing resumable transfers by peer (offered
// again on the next connection to that peer) and the receiving transfers of
// this page by id (a re-offer continues the same transfer object, without a
// new onFile). The transfers are files-send.js and files-receive.js (their
// shared part files-transfer.js); crypto files-crypto.js, bytes
// files-frame.js, storage files-store.js.
import { CONTROL_LABEL, DATA_LABEL, MAX_LANES, chunkLength, parseControl, parseFrame } from './files-frame.js';
import { IncomingFile, IncomingTransfer } from './files-receive.js';
import { OutgoingTransfer, checkSendOptions } from './files-send.js';
import { readPartState, removePart, sweepParts } from './files-store.js';
import { FileErrorCode, fileError } from './files-transfer.js';

export { FileErrorCode } from './files-transfer.js';
export { IncomingFile, IncomingTransfer } from './files-receive.js';
export { OutgoingTransfer } from './files-send.js';
/** @typedef {import('./files-transfer.js').SendFileOptions} SendFileOptions */

/** A lane's bufferedAmount is kept under this ... */
const LANE_HIGH = 4 << 20;
/** ... refilled below this ... */
const LANE_LOW = 1 << 20;
/** ... and all lanes together under this (Chromium closes a channel past 16 MiB). */
const TOTAL_HIGH = 8 << 20;

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
  /** Whether #widenReceiveBuffers ran. */
  #widened = false;
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
    this.#widenReceiveBuffers();
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

  /**
   * Chromium gives a connection's UDP socket a small receive buffer unless
   * the connection has a video m-line (then 1 MiB, doubled by the kernel).
   * Across a long round trip the small one overflows whenever the
   * receiver's network thread is late, and each loss halves SCTP's window
   * (bench/file_transfer.mjs --video: one connection across 40 ms moved
   * 1.7 times as much with the larger buffer). So a connection that sends
   * a file and has no video gets an inactive video transceiver: no track,
   * no media, one renegotiation; a camera added later reuses it.
   */
  #widenReceiveBuffers() {
    if (this.#widened) return;
    this.#widened = true;
    // Test-only (bench/file_transfer.mjs --no-widen measures without it).
    if (/** @type {any} */ (globalThis).__webrtc2TestHooks?.keepReceiveBuffers) return;
    const pc = this.#pc;
    if (pc.getTransceivers().some((t) => t.receiver.track?.kind === 'video' && t.currentDirection !== 'stopped')) return;
    try {
      pc.addTransceiver('video', { direction: 'inactive' });
    } catch {
      // closed, or no video here: the transfer works all the same
    }
  }

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
