// WebRTC2Client: the public face of the browser SDK. It owns the signaling
// session (signaling.js), runs the call protocol (invite, accept, reject,
// cancel; docs/sdk.md) over it, and creates a Connection (peer.js) per call.
//
// Calls: the caller opens its devices, sends `invite` to a user (all of
// their devices ring) or to one device, and offers at once; the offer and
// candidates wait at the callee until it accepts, so accepting costs one
// answer, not a round of invitations. The first device to accept gets the
// call; the caller cancels it on the others. When two users call each other
// at the same moment (glare), the invite with the smaller call id wins on
// both sides and each side's connect() resolves with that one connection.

import { SdkErrorCode, SignalingError, WebRTC2Error } from './errors.js';
import { defineHandlers, ReplaySlot } from './handlers.js';
import { mediaKinds, openUserMedia, stopStream } from './media.js';
import { FileRegistry } from './files.js';
import { CALL_PROTOCOL, Connection } from './peer.js';
import { SignalingClient } from './signaling.js';

/** Signals held for a call that is ringing here (its offer and candidates). */
const MAX_HELD_SIGNALS = 128;
/** Signals held while the signaling session is reconnecting. */
const MAX_OUTBOX = 1024;

const PEER_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}@[^\s/@]{1,253}(\/[A-Za-z0-9._-]{1,32})?$/;

/**
 * @typedef {object} ClientOptions
 * @property {string | string[]} signalingServer `ws(s)://host/signal`, or a
 *   list: primary first, then backups
 * @property {{type: 'token', token: string | (() => string | Promise<string>),
 *   refreshPolicy?: 'automatic' | 'manual'}} authentication a JWT, or a
 *   function returning a fresh one. 'automatic' (the default) refreshes
 *   before expiry when `token` is a function; 'manual' leaves it to
 *   refreshToken()
 * @property {string} [device] this device's name (kept across reconnects;
 *   the server picks one when absent)
 * @property {RTCIceServer[]} [iceServers] added after the server's
 * @property {RTCConfiguration} [rtcConfiguration] e.g. {iceTransportPolicy: 'relay'}
 * @property {number} [callTimeoutMs=30000] an unanswered call gives up ('no-answer')
 * @property {number} [setupTimeoutMs=30000] an answered call must connect within this
 * @property {import('./data.js').DataOptions} [data] data-channel flow control
 * @property {Partial<import('./signaling.js').SignalingOptions>} [signaling]
 *   further options of the signaling session (backoff, timeouts)
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string} peerId `user@domain` (every device rings) or `user@domain/device`
 * @property {import('./media.js').MediaConstraints} [mediaConstraints] omitted
 *   or {} for a data-only connection
 * @property {AbortSignal} [signal] aborting it before connect() resolves
 *   cancels the call (the callee stops ringing) and rejects with 'cancelled'
 */

/**
 * @typedef {object} Outgoing
 * @property {string} callId
 * @property {string} target what the invite was sent to
 * @property {string} user the callee, `user@domain`
 * @property {string | undefined} device the callee's device, if the target named one
 * @property {boolean} bound a device accepted
 * @property {Connection} conn
 * @property {(c: Connection | Promise<Connection>) => void} resolve
 * @property {(e: Error) => void} reject
 * @property {ReturnType<typeof setTimeout>} timer
 */

/**
 * A call ringing here. `accept()` answers it, `reject()` declines it.
 */
export class IncomingRequest {
  /** @type {WebRTC2Client} */ #client;
  /** @type {'ringing' | 'accepting' | 'accepted' | 'rejected' | 'cancelled'} */ #state = 'ringing';
  /** @type {Record<string, ReplaySlot<any>>} */ _slots;
  /** @type {any[]} the caller's offer and candidates, until accepted */ _held = [];
  /** @type {Connection | null} */ _conn = null;
  /** Why the call stopped ringing, once it did. @type {string | undefined} */ _cancelReason;

  /** The caller, `user@domain`. @type {string} */ from;
  /** The caller's device. @type {string} */ fromDevice;
  /** @type {string} */ callId;
  /** What the caller sends. @type {{audio: boolean, video: boolean}} */ media;

  /**
   * @param {WebRTC2Client} client
   * @param {string} from
   * @param {string} fromDevice
   * @param {string} callId
   * @param {{audio?: unknown, video?: unknown}} media
   */
  constructor(client, from, fromDevice, callId, media) {
    this.#client = client;
    this.from = from;
    this.fromDevice = fromDevice;
    this.callId = callId;
    this.media = { audio: Boolean(media?.audio), video: Boolean(media?.video) };
    this._slots = { onCancel: new ReplaySlot('latest', (e) => client._report(e)) };
  }

  /** 'ringing', 'accepting', 'accepted', 'rejected' or 'cancelled'. */
  get state() {
    return this.#state;
  }

  /**
   * Answers the call: opens this side's devices, connects, and resolves
   * with the Connection once its data channel is open.
   * @param {{mediaConstraints?: import('./media.js').MediaConstraints}} [opts]
   * @returns {Promise<Connection>}
   * @throws {WebRTC2Error} (rejects) 'cancelled' / 'answered-elsewhere' when the
   *   call is gone, 'media-denied' / 'media-unavailable' (the caller is told
   *   the call was declined), 'connection-failed'
   */
  async accept(opts = {}) {
    if (this.#state !== 'ringing') throw this.#gone();
    this.#state = 'accepting';
    let stream;
    try {
      stream = await openUserMedia(opts.mediaConstraints);
    } catch (e) {
      if (this.#state === 'accepting') {
        this.#state = 'rejected';
        this.#client._answer(this, 'reject', { reason: /** @type {WebRTC2Error} */ (e).code });
      }
      throw e;
    }
    return this._acceptWith(stream);
  }

  /**
   * Answers with an already open stream (accept(), and glare).
   * @param {MediaStream | null} stream
   * @returns {Promise<Connection>}
   */
  async _acceptWith(stream) {
    if (this.#state !== 'accepting' && this.#state !== 'ringing') {
      stopStream(stream);
      throw this.#gone();
    }
    this.#state = 'accepted';
    const conn = this.#client._openIncoming(this, stream);
    await conn.ready;
    return conn;
  }

  /**
   * Declines the call; the caller's connect() rejects with 'rejected'.
   * @param {string} [reason='declined']
   */
  reject(reason = 'declined') {
    if (this.#state !== 'ringing') return;
    this.#state = 'rejected';
    this.#client._answer(this, 'reject', { reason: String(reason).slice(0, 64) });
  }

  /**
   * The caller gave up, or another device answered.
   * @param {string} reason 'cancelled', 'no-answer', 'answered-elsewhere'
   */
  _cancel(reason) {
    if (this.#state !== 'ringing' && this.#state !== 'accepting') return;
    this.#state = 'cancelled';
    this._cancelReason = reason;
    this._slots.onCancel.emit(reason);
  }

  /**
   * This side's own connect() to the caller answers the call: it stops
   * ringing (onCancel gets 'answered-here') and goes on to be accepted.
   */
  _takenByConnect() {
    this._slots.onCancel.emit('answered-here');
  }

  #gone() {
    if (this._cancelReason === 'answered-elsewhere') {
      return new WebRTC2Error(SdkErrorCode.ANSWERED_ELSEWHERE, 'the call was answered on another device');
    }
    return new WebRTC2Error(SdkErrorCode.CANCELLED, `the call from ${this.from} is no longer ringing (${this.#state})`);
  }
}
defineHandlers(IncomingRequest.prototype, ['onCancel']);

export class WebRTC2Client {
  /** @type {SignalingClient} */ #sig;
  /** @type {ClientOptions} */ #opts;
  /** @type {string} the token hello uses next */ #token = '';
  /** @type {Map<string, Connection>} live connections by call id */ #conns = new Map();
  /** @type {Map<string, Outgoing>} calls placed here, not yet connected */ #outgoing = new Map();
  /** @type {Map<string, IncomingRequest>} calls ringing or being accepted here */ #incoming = new Map();
  /** @type {{to: string, data: object, resolve: () => void, reject: (e: Error) => void}[]} */ #outbox = [];
  /** @type {Record<string, ReplaySlot<any>>} */ _slots;
  /** File transfers that outlive a connection (files.js). */
  #files = new FileRegistry();

  /**
   * Resolves on the server's welcome with who this client is; rejects with a
   * WebRTC2Error whose code is the server's ('unauthorized', ...) or
   * 'unreachable'.
   * @type {Promise<{peerId: string, device: string, iceServers: RTCIceServer[]}>}
   */
  ready;

  /** @param {ClientOptions} options */
  constructor(options) {
    const auth = options?.authentication;
    if (!auth || auth.type !== 'token' || (typeof auth.token !== 'string' && typeof auth.token !== 'function')) {
      throw new TypeError("WebRTC2Client: authentication must be {type: 'token', token} (a JWT or a function returning one)");
    }
    if (auth.refreshPolicy !== undefined && auth.refreshPolicy !== 'automatic' && auth.refreshPolicy !== 'manual') {
      throw new TypeError("WebRTC2Client: refreshPolicy must be 'automatic' or 'manual'");
    }
    this.#opts = options;
    this._slots = {
      onIncoming: new ReplaySlot('queue', (e) => this._report(e)),
      onMember: new ReplaySlot('queue', (e) => this._report(e)),
      onStateChange: new ReplaySlot('latest', (e) => this._report(e)),
      onError: new ReplaySlot('queue', (e) => console.error('webrtc2: an onError handler threw', e)),
    };
    const manual = auth.refreshPolicy === 'manual' || typeof auth.token === 'string';
    if (typeof auth.token === 'string') this.#token = auth.token;
    const token = manual ? () => this.#token : auth.token;
    this.#sig = new SignalingClient({
      ...options.signaling,
      servers: options.signalingServer,
      token,
      autoRefresh: !manual,
      device: options.device,
    });
    this.#sig.addEventListener('signal', (e) => this.#onSignal(/** @type {CustomEvent} */ (e).detail));
    this.#sig.addEventListener('member', (e) => this._slots.onMember.emit(/** @type {CustomEvent} */ (e).detail));
    this.#sig.addEventListener('error', (e) => this._report(/** @type {CustomEvent} */ (e).detail));
    this.#sig.addEventListener('state', (e) => this.#onState(/** @type {CustomEvent} */ (e).detail.state));
    this.#sig.addEventListener('welcome', () => this.#onWelcome());
    this.#sig.addEventListener('iceservers', () => this.#applyIceServers());
    this.ready = this.#sig.ready.then((w) => ({ peerId: w.peer, device: w.device, iceServers: w.iceServers ?? [] }));
    this.ready.catch(() => {});
  }

  /** This user, `user@domain` (after ready). */
  get peerId() {
    return this.#sig.welcome?.peer;
  }

  /** This session's device (after ready). */
  get device() {
    return this.#sig.welcome?.device;
  }

  /** The signaling session's state: 'connecting', 'open', 'reconnecting', 'closed'. */
  get state() {
    return this.#sig.state;
  }

  /** The connections that are up or being set up. @type {Connection[]} */
  get connections() {
    return [...this.#conns.values()];
  }

  /** The signaling layer, for developers who need the raw protocol. */
  get signaling() {
    return this.#sig;
  }

  /**
   * Calls a peer. Resolves with the Connection once it is usable (its data
   * channel is open; media has usually arrived too: see onRemoteStream).
   * @param {ConnectOptions} options
   * @returns {Promise<Connection>}
   * @throws {WebRTC2Error} (rejects) 'peer-unavailable', 'rejected',
   *   'no-answer', 'media-denied', 'media-unavailable', 'connection-failed',
   *   'closed', or the reason ready rejected
   */
  async connect(options) {
    const target = options?.peerId;
    if (typeof target !== 'string' || !PEER_RE.test(target)) {
      throw new TypeError(`connect(): peerId must be "user@domain" or "user@domain/device", got ${JSON.stringify(target)}`);
    }
    await this.ready;
    const slash = target.indexOf('/');
    const user = slash < 0 ? target : target.slice(0, slash);
    const device = slash < 0 ? undefined : target.slice(slash + 1);
    // Calling someone whose call is ringing here answers it: checked before
    // opening the devices and again after, since their invite may arrive
    // while the devices open (before our own invite exists, so it is not
    // glare on this side, and on theirs ours may lose).
    const ringing = () => [...this.#incoming.values()].find((req) => req.state === 'ringing'
      && req.from === user && (device === undefined || device === req.fromDevice));
    const early = ringing();
    if (early) {
      early._takenByConnect();
      return early.accept({ mediaConstraints: options.mediaConstraints });
    }
    const abort = options.signal;
    const cancelled = () => new WebRTC2Error(SdkErrorCode.CANCELLED, `the call to ${target} was cancelled`);
    if (abort?.aborted) throw cancelled();
    const stream = await openUserMedia(options.mediaConstraints);
    if (this.state === 'closed' || abort?.aborted) {
      stopStream(stream);
      throw abort?.aborted ? cancelled() : new WebRTC2Error(SdkErrorCode.CLOSED, 'the client was closed');
    }
    const late = ringing();
    if (late) {
      late._takenByConnect();
      return late._acceptWith(stream);
    }
    const callId = randomId();
    return new Promise((resolve, reject) => {
      /** @type {Outgoing} */
      const out = {
        callId, target, user, device, bound: false, resolve, reject,
        conn: /** @type {any} */ (null),
        timer: setTimeout(() => this.#abandon(out, 'no-answer',
          new WebRTC2Error(SdkErrorCode.NO_ANSWER, `${target} did not answer`)), this.#opts.callTimeoutMs ?? 30000),
      };
      this.#outgoing.set(callId, out);
      // The invite goes before the offer the connection makes next.
      this.#send(target, { w2: CALL_PROTOCOL, call: callId, op: 'invite', media: mediaKinds(options.mediaConstraints) })
        .catch((e) => this.#abandon(out, null, e));
      out.conn = this.#newConnection({ callId, peerId: user, to: target, polite: false, localStream: stream });
      out.conn.ready.then(() => this.#settle(out, null, out.conn), (e) => this.#settle(out, e, null));
      abort?.addEventListener('abort', () => this.#abandon(out, 'cancelled', cancelled()), { once: true });
    });
  }

  /**
   * Joins a room (e.g. the organisation's lobby, for presence).
   * @param {string} room
   * @returns {Promise<{peer: string, device: string}[]>} the others in it
   */
  async joinRoom(room) {
    const joined = await this.#sig.join(room);
    return joined.members ?? [];
  }

  /** @param {string} room */
  async leaveRoom(room) {
    await this.#sig.leave(room);
  }

  /**
   * Sends a new token now (refreshPolicy 'manual', or a string token about
   * to expire); it is also the one used after a reconnect.
   * @param {string} token
   */
  async refreshToken(token) {
    if (typeof token !== 'string') throw new TypeError('refreshToken(): the token must be a string');
    await this.#sig.request({ type: 'refresh', token });
    this.#token = token;
  }

  /**
   * Hangs up every connection, declines ringing calls, ends the session.
   */
  close() {
    for (const out of [...this.#outgoing.values()]) {
      this.#abandon(out, 'cancelled', new WebRTC2Error(SdkErrorCode.CLOSED, 'the client was closed'));
    }
    for (const req of this.#incoming.values()) req.reject('closed');
    for (const c of [...this.#conns.values()]) c._end('client-closed', undefined, true);
    const err = new WebRTC2Error(SdkErrorCode.CLOSED, 'the client was closed');
    for (const m of this.#outbox) m.reject(err);
    this.#outbox = [];
    this.#sig.close();
  }

  // ------------------------------------------------ for IncomingRequest --

  /** @param {unknown} e an error no promise reports */
  _report(e) {
    this._slots.onError.emit(e);
  }

  /**
   * Sends accept/reject for `req` to the caller's device.
   * @param {IncomingRequest} req
   * @param {'accept' | 'reject'} op
   * @param {Record<string, unknown>} [extra]
   */
  _answer(req, op, extra = {}) {
    if (op !== 'accept') this.#incoming.delete(req.callId);
    this.#send(`${req.from}/${req.fromDevice}`, { w2: CALL_PROTOCOL, call: req.callId, op, ...extra })
      .catch((e) => { if (e?.code !== 'peer-unavailable') this._report(e); });
  }

  /**
   * Creates the callee's connection and feeds it what arrived so far.
   * @param {IncomingRequest} req
   * @param {MediaStream | null} stream
   * @returns {Connection}
   */
  _openIncoming(req, stream) {
    this._answer(req, 'accept');
    const conn = this.#newConnection({
      callId: req.callId, peerId: req.from, to: `${req.from}/${req.fromDevice}`, polite: true, localStream: stream,
    });
    req._conn = conn;
    for (const d of req._held) conn._receive(d);
    req._held = [];
    this.#incoming.delete(req.callId);
    return conn;
  }

  // ------------------------------------------------------------ internal --

  /**
   * @param {{callId: string, peerId: string, to: string, polite: boolean, localStream: MediaStream | null}} p
   * @returns {Connection}
   */
  #newConnection(p) {
    const iceServers = [...(this.#sig.welcome?.iceServers ?? []), ...(this.#opts.iceServers ?? [])];
    const conn = new Connection({
      ...p,
      rtcConfig: { ...this.#opts.rtcConfiguration, iceServers },
      signal: (to, data) => this.#send(to, data),
      onEnd: (c) => { if (this.#conns.get(c.callId) === c) this.#conns.delete(c.callId); },
      onError: (e) => this._report(e),
      data: this.#opts.data,
      setupTimeoutMs: this.#opts.setupTimeoutMs,
      files: this.#files,
    });
    this.#conns.set(p.callId, conn);
    return conn;
  }

  /**
   * Sends a payload now, or when the session is back.
   * @param {string} to
   * @param {object} data
   * @returns {Promise<void>}
   */
  #send(to, data) {
    if (this.#sig.state === 'open') return this.#sig.signal(to, data);
    if (this.#sig.state === 'closed') {
      return Promise.reject(new WebRTC2Error(SdkErrorCode.CLOSED, 'the signaling session is closed'));
    }
    if (this.#outbox.length >= MAX_OUTBOX) {
      return Promise.reject(new WebRTC2Error(SdkErrorCode.BACKPRESSURE,
        `more than ${MAX_OUTBOX} signals are waiting for the server to come back`));
    }
    return new Promise((resolve, reject) => this.#outbox.push({ to, data, resolve, reject }));
  }

  /** Gives every connection the latest server-issued ICE servers. */
  #applyIceServers() {
    const iceServers = [...(this.#sig.welcome?.iceServers ?? []), ...(this.#opts.iceServers ?? [])];
    for (const c of this.#conns.values()) c._setIceServers(iceServers);
  }

  #onWelcome() {
    this.#applyIceServers();
    const held = this.#outbox;
    this.#outbox = [];
    for (const m of held) this.#sig.signal(m.to, m.data).then(m.resolve, m.reject);
  }

  /** @param {import('./signaling.js').SignalingState} state */
  #onState(state) {
    this._slots.onStateChange.emit(state);
    if (state !== 'closed') return;
    const err = new WebRTC2Error(SdkErrorCode.CLOSED, 'the signaling session ended');
    for (const m of this.#outbox) m.reject(err);
    this.#outbox = [];
  }

  /**
   * Settles a placed call once.
   * @param {Outgoing} out
   * @param {Error | null} err
   * @param {Connection | null} conn
   */
  #settle(out, err, conn) {
    if (this.#outgoing.get(out.callId) !== out) return;
    this.#outgoing.delete(out.callId);
    clearTimeout(out.timer);
    if (err) out.reject(err);
    else out.resolve(/** @type {Connection} */ (conn));
  }

  /**
   * Gives a placed call up: tells the callee (when `cancel` names a reason:
   * 'cancel' while it rings, 'bye' once a device answered), ends its
   * connection, rejects connect().
   * @param {Outgoing} out
   * @param {string | null} cancel
   * @param {Error} err
   */
  #abandon(out, cancel, err) {
    if (this.#outgoing.get(out.callId) !== out) return;
    if (cancel && !out.bound) {
      this.#send(out.target, { w2: CALL_PROTOCOL, call: out.callId, op: 'cancel', reason: cancel }).catch(() => {});
    }
    out.conn?._end('cancelled', err instanceof WebRTC2Error ? err : undefined, Boolean(cancel) && out.bound);
    this.#settle(out, err, null);
  }

  /** @param {import('./signaling.js').SignalEventDetail} s */
  #onSignal(s) {
    const d = /** @type {any} */ (s.data);
    if (!d || typeof d !== 'object' || d.w2 !== CALL_PROTOCOL || typeof d.call !== 'string'
      || typeof d.op !== 'string' || d.call.length > 64) return; // not ours
    switch (d.op) {
      case 'invite': this.#onInvite(s.from, s.fromDevice, d); return;
      case 'accept': this.#onAccept(s.from, s.fromDevice, d); return;
      case 'reject': this.#onReject(s.from, s.fromDevice, d); return;
      case 'cancel': this.#onCancel(s.from, s.fromDevice, d); return;
      default: this.#onCallSignal(s.from, s.fromDevice, d);
    }
  }

  /**
   * @param {string} from
   * @param {string} fromDevice
   * @param {any} d
   */
  #onInvite(from, fromDevice, d) {
    if (this.#incoming.has(d.call) || this.#conns.has(d.call)) return; // a duplicate
    const req = new IncomingRequest(this, from, fromDevice, d.call, d.media);
    // Glare: we are calling the one who is calling us.
    for (const out of this.#outgoing.values()) {
      if (out.bound || out.user !== from || (out.device !== undefined && out.device !== fromDevice)) continue;
      if (out.callId < d.call) return; // ours wins; they will answer it
      // Theirs wins: answer it with the devices we opened for ours.
      const stream = out.conn._releaseStream();
      this.#outgoing.delete(out.callId);
      clearTimeout(out.timer);
      this.#send(out.target, { w2: CALL_PROTOCOL, call: out.callId, op: 'cancel', reason: 'glare' }).catch(() => {});
      out.conn._end('cancelled');
      this.#incoming.set(d.call, req);
      out.resolve(req._acceptWith(stream));
      return;
    }
    this.#incoming.set(d.call, req);
    // A caller that vanished without cancelling must not ring forever.
    setTimeout(() => {
      if (this.#incoming.get(d.call) !== req || req.state !== 'ringing') return;
      this.#incoming.delete(d.call);
      req._cancel('no-answer');
    }, (this.#opts.callTimeoutMs ?? 30000) + 5000);
    this._slots.onIncoming.emit(req);
  }

  /**
   * @param {string} from
   * @param {string} fromDevice
   * @param {any} d
   */
  #onAccept(from, fromDevice, d) {
    const out = this.#outgoing.get(d.call);
    const mine = out && out.user === from && (out.device === undefined || out.device === fromDevice);
    if (!mine || out.bound) {
      // Late: another device answered first, or the call is over.
      if (out?.user === from || this.#conns.get(d.call)?.peerId === from) {
        this.#send(`${from}/${fromDevice}`, { w2: CALL_PROTOCOL, call: d.call, op: 'bye', reason: 'answered-elsewhere' })
          .catch(() => {});
      }
      return;
    }
    out.bound = true;
    out.conn._bind(`${from}/${fromDevice}`);
    if (out.device === undefined) {
      // Stop the user's other devices ringing.
      this.#send(out.target, { w2: CALL_PROTOCOL, call: d.call, op: 'cancel', reason: 'answered-elsewhere', answeredBy: fromDevice })
        .catch(() => {});
    }
  }

  /**
   * @param {string} from
   * @param {string} fromDevice
   * @param {any} d
   */
  #onReject(from, fromDevice, d) {
    const out = this.#outgoing.get(d.call);
    if (!out || out.bound || out.user !== from || (out.device !== undefined && out.device !== fromDevice)) return;
    const reason = typeof d.reason === 'string' ? d.reason.slice(0, 64) : 'declined';
    this.#abandon(out, out.device === undefined ? 'cancelled' : null,
      new WebRTC2Error(SdkErrorCode.REJECTED, `${from} declined the call (${reason})`));
  }

  /**
   * @param {string} from
   * @param {string} fromDevice
   * @param {any} d
   */
  #onCancel(from, fromDevice, d) {
    const req = this.#incoming.get(d.call);
    if (!req || req.from !== from || req.fromDevice !== fromDevice) return;
    if (d.reason === 'answered-elsewhere' && d.answeredBy === this.device) return;
    this.#incoming.delete(d.call);
    req._cancel(typeof d.reason === 'string' ? d.reason.slice(0, 64) : 'cancelled');
  }

  /**
   * desc, cand, bye (and later versions' ops) for a call.
   * @param {string} from
   * @param {string} fromDevice
   * @param {any} d
   */
  #onCallSignal(from, fromDevice, d) {
    const conn = this.#conns.get(d.call);
    if (conn) {
      const dev = conn.remoteDevice;
      if (conn.peerId === from && dev === fromDevice) conn._receive(d);
      return;
    }
    const req = this.#incoming.get(d.call);
    if (!req || req.from !== from || req.fromDevice !== fromDevice) return;
    if (d.op === 'bye') {
      this.#incoming.delete(d.call);
      req._cancel('cancelled');
    } else if (req._held.length < MAX_HELD_SIGNALS) {
      req._held.push(d);
    }
  }
}
defineHandlers(WebRTC2Client.prototype, ['onIncoming', 'onMember', 'onStateChange', 'onError']);

/** A random call id: 128 bits, base64url. */
function randomId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export { SignalingError };
