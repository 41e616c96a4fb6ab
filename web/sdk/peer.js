// The peer layer: one RTCPeerConnection to one device of another user, with
// its media, its data channel and its quality figures.
//
// Negotiation follows the "perfect negotiation" pattern (W3C WebRTC 1.0,
// section 10.7): either side may renegotiate at any time (adding video,
// sharing the screen, restarting ICE); when both offer at once the polite
// side (the callee) rolls its offer back and the impolite side (the caller)
// ignores the other's. Candidates trickle. A path that breaks is restarted
// (ICE restart) while the signaling session, even if it is itself
// reconnecting, carries the new offer when it can; a path that stays
// broken ends the connection with 'connection-failed'.
//
// The call protocol around it (invite, accept, reject, cancel) lives in
// client.js; the wire format of both is in docs/sdk.md.

import { DataLink, CHANNEL_ID, CHANNEL_LABEL } from './data.js';
import { SdkErrorCode, WebRTC2Error } from './errors.js';
import { FileHub, FileRegistry } from './files.js';
import { defineHandlers, ReplaySlot } from './handlers.js';
import { openScreen, openUserMedia, stopStream } from './media.js';
import { readStats } from './stats.js';

/** The version tag every call-protocol payload carries (docs/sdk.md). */
export const CALL_PROTOCOL = 'webrtc2.call/1';

/**
 * @typedef {'connecting' | 'connected' | 'reconnecting' | 'closed'} ConnectionState
 */

/**
 * Why a connection ended, as onClose receives it.
 * - 'hangup': close() was called here
 * - 'remote-hangup': the peer hung up
 * - 'connection-failed': the peer-to-peer path failed and could not be restored
 * - 'client-closed': the WebRTC2Client was closed
 * - 'cancelled': the call was cancelled before it was set up (glare, no answer)
 * @typedef {'hangup' | 'remote-hangup' | 'connection-failed' | 'client-closed' | 'cancelled'} CloseReason
 */

/**
 * What the client gives a connection.
 * @typedef {object} ConnectionInit
 * @property {string} callId
 * @property {string} peerId the other user, `user@domain`
 * @property {string} to where signals go now: `user@domain` or `user@domain/device`
 * @property {boolean} polite true for the callee
 * @property {RTCConfiguration} rtcConfig including the welcome's iceServers
 * @property {MediaStream | null} localStream owned by the connection from now on
 * @property {(to: string, data: object) => Promise<void>} signal sends a
 *   payload; rejects as SignalingClient.signal() does
 * @property {(c: Connection) => void} onEnd tells the client it ended
 * @property {(e: unknown) => void} onError reports an error no promise reports
 * @property {import('./data.js').DataOptions} [data]
 * @property {number} [restartAfterMs=2000] a 'disconnected' path this long is restarted
 * @property {number} [failAfterMs=20000] a path not restored this long ends the connection
 * @property {number} [setupTimeoutMs=30000] the data channel must open within this
 * @property {FileRegistry} [files] the client's file transfers that outlive
 *   a connection (resumed on the next connection to the same peer)
 */

export class Connection {
  /** @type {RTCPeerConnection} */ #pc;
  /** @type {ConnectionInit} */ #init;
  /** @type {DataLink} */ #data;
  /** @type {ConnectionState} */ #state = 'connecting';
  #makingOffer = false;
  #ignoreOffer = false;
  /** The callee attaches its media when the first offer is applied. */
  #localAttached = false;
  /** @type {MediaStream | null} */ #remoteStream = null;
  /** @type {Promise<void>} incoming signals are handled one at a time */
  #inbox = Promise.resolve();
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #restartTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #failTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #setupTimer;
  /** @type {import('./stats.js').StatsSample | null} */ #lastSample = null;
  #startedAt = performance.now();
  /** @type {{track: MediaStreamTrack, sender: RTCRtpSender, replaced: MediaStreamTrack | null} | null} */
  #screen = null;
  /** @type {(() => void) | null} */ #resolveReady = null;
  /** @type {((e: Error) => void) | null} */ #rejectReady = null;
  /** @type {FileHub} file transfers on this connection (files.js) */ #files;

  /** @type {Record<string, ReplaySlot<any>>} handler slots (see handlers.js) */
  _slots;

  /** The call's id (random, shared by both sides). @type {string} */
  callId;
  /** The other user, `user@domain`. @type {string} */
  peerId;

  /**
   * Resolves when the data channel is open (the connection is usable);
   * rejects with a WebRTC2Error if it ends first.
   * @type {Promise<void>}
   */
  ready;

  /** @param {ConnectionInit} init */
  constructor(init) {
    this.#init = init;
    this.callId = init.callId;
    this.peerId = init.peerId;
    const report = (e) => init.onError(e);
    this._slots = {
      onRemoteStream: new ReplaySlot('latest', report),
      onMessage: new ReplaySlot('queue', report),
      onClose: new ReplaySlot('latest', report),
      onStateChange: new ReplaySlot('latest', report),
      onFile: new ReplaySlot('queue', report),
    };
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {});

    const pc = new RTCPeerConnection(init.rtcConfig);
    this.#pc = pc;
    pc.onnegotiationneeded = () => this.#negotiate();
    pc.onicecandidate = ({ candidate }) => {
      // null marks the end of gathering; the peer does not need it.
      if (candidate && candidate.candidate) this.#signal({ op: 'cand', candidate: candidate.toJSON() });
    };
    pc.ontrack = (e) => this.#onTrack(e);
    pc.onconnectionstatechange = () => this.#onPathState();
    this.#files = new FileHub({
      pc, peerId: init.peerId, registry: init.files ?? new FileRegistry(),
      onFile: (f) => this._slots.onFile.emit(f), report,
    });
    // Transfers to this peer that an earlier connection left unfinished go on here.
    this.ready.then(() => this.#files.up(), () => {});

    if (!init.polite) {
      // The caller offers first: media and channel now, the offer follows
      // from negotiationneeded.
      this.#attachLocal();
    }
    this.#setupTimer = setTimeout(() => {
      if (this.#state === 'connecting') {
        this.#end('connection-failed', new WebRTC2Error(SdkErrorCode.CONNECTION_FAILED,
          `no connection to ${this.peerId} within ${(init.setupTimeoutMs ?? 30000) / 1000} s`));
      }
    }, init.setupTimeoutMs ?? 30000);
  }

  // ------------------------------------------------------------- public --

  /** 'connecting', 'connected', 'reconnecting' (ICE restart) or 'closed'. */
  get state() {
    return this.#state;
  }

  /** The device of the peer this connection talks to (after the answer). */
  get remoteDevice() {
    const i = this.#init.to.indexOf('/');
    return i < 0 ? undefined : this.#init.to.slice(i + 1);
  }

  /** This side's camera/microphone stream, or null for data only. */
  get localStream() {
    return this.#init.localStream;
  }

  /** The peer's media (one stream; tracks added later appear on it), or null. */
  get remoteStream() {
    return this.#remoteStream;
  }

  /** The underlying RTCPeerConnection, for getStats() and advanced use. */
  get peerConnection() {
    return this.#pc;
  }

  /** The data channel (the SDK's negotiated channel, id 0). */
  get dataChannel() {
    return this.#data?.channel;
  }

  /**
   * Sends a message on the connection's reliable, ordered data channel.
   * Resolves once it is handed to the browser (see data.js for the limits).
   * @param {string | ArrayBuffer | ArrayBufferView | Blob} data
   * @returns {Promise<void>}
   */
  send(data) {
    if (!this.#data) {
      return Promise.reject(new WebRTC2Error(SdkErrorCode.CONNECTION_CLOSED, 'the connection is not set up yet'));
    }
    return this.#data.send(data);
  }

  /**
   * Sends a file (docs/sdk.md, "Files"): encrypted and verified chunk by
   * chunk, resumed after a drop. Returns at once; follow it with the
   * transfer's onProgress / onComplete / onError.
   * @param {import('./files.js').SendFileOptions} options
   * @returns {import('./files.js').OutgoingTransfer}
   * @throws {TypeError} on bad options
   */
  sendFile(options) {
    this.#assertOpen();
    return this.#files.sendFile(options);
  }

  /**
   * Sends several files, e.g. a folder from `<input webkitdirectory>`: each
   * keeps its `webkitRelativePath` as its path.
   * @param {Iterable<File> | ArrayLike<File>} files
   * @param {Omit<import('./files.js').SendFileOptions, 'file' | 'name' | 'path'>} [options]
   * @returns {import('./files.js').OutgoingTransfer[]}
   */
  sendFiles(files, options = {}) {
    this.#assertOpen();
    return Array.from(files, (file) => this.#files.sendFile({
      ...options, file, path: file.webkitRelativePath || undefined,
    }));
  }

  /** Turns the microphone on or off (the track stays open; silence is sent). */
  setMicrophoneEnabled(on) {
    for (const t of this.localStream?.getAudioTracks() ?? []) t.enabled = Boolean(on);
  }

  /** Turns the camera on or off (black frames are sent while off). */
  setCameraEnabled(on) {
    for (const t of this.localStream?.getVideoTracks() ?? []) t.enabled = Boolean(on);
  }

  /** True when an audio track is sending sound. */
  get microphoneEnabled() {
    return (this.localStream?.getAudioTracks() ?? []).some((t) => t.enabled);
  }

  /** True when a video track is sending pictures. */
  get cameraEnabled() {
    return (this.localStream?.getVideoTracks() ?? []).some((t) => t.enabled);
  }

  /**
   * Adds media to a running connection (e.g. video to a voice call, or a
   * microphone to a data-only one): opens the devices and renegotiates.
   * Kinds already sent are left alone.
   * @param {import('./media.js').MediaConstraints} constraints
   * @returns {Promise<MediaStream>} the local stream
   */
  async addMedia(constraints) {
    this.#assertOpen();
    const have = this.localStream;
    const want = {
      audio: have?.getAudioTracks().length ? false : constraints?.audio,
      video: have?.getVideoTracks().length ? false : constraints?.video,
    };
    const fresh = await openUserMedia(want);
    if (this.#state === 'closed') {
      stopStream(fresh);
      throw new WebRTC2Error(SdkErrorCode.CONNECTION_CLOSED, 'the connection closed while the devices were opening');
    }
    const stream = have ?? new MediaStream();
    this.#init.localStream = stream;
    for (const t of fresh?.getTracks() ?? []) {
      stream.addTrack(t);
      this.#pc.addTrack(t, stream);
    }
    return stream;
  }

  /**
   * Shares a screen, window or tab chosen by the user, in place of the
   * camera (or as the video of a call that had none). Ends when the user
   * stops it in the browser's UI or stopScreenShare() is called; the camera
   * comes back then.
   * @returns {Promise<MediaStreamTrack>} the screen track
   * @throws {WebRTC2Error} 'screen-share-failed'
   */
  async shareScreen() {
    this.#assertOpen();
    if (this.#screen) return this.#screen.track;
    const track = await openScreen();
    if (this.#state === 'closed') {
      track.stop();
      throw new WebRTC2Error(SdkErrorCode.CONNECTION_CLOSED, 'the connection closed while the screen was chosen');
    }
    const camera = this.#pc.getSenders().find((s) => s.track?.kind === 'video');
    if (camera) {
      const replaced = camera.track;
      await camera.replaceTrack(track);
      this.#screen = { track, sender: camera, replaced };
    } else {
      const stream = this.localStream ?? new MediaStream();
      this.#init.localStream = stream;
      const sender = this.#pc.addTrack(track, stream);
      this.#screen = { track, sender, replaced: null };
    }
    track.addEventListener('ended', () => this.stopScreenShare());
    return track;
  }

  /** Stops sharing the screen; the camera (if any) is sent again. */
  async stopScreenShare() {
    const s = this.#screen;
    if (!s) return;
    this.#screen = null;
    s.track.stop();
    if (this.#state === 'closed') return;
    if (s.replaced) await s.sender.replaceTrack(s.replaced);
    else this.#pc.removeTrack(s.sender);
  }

  /** True while the screen is being shared. */
  get sharingScreen() {
    return this.#screen !== null;
  }

  /**
   * The connection's quality now (see stats.js for every field and the
   * qualityScore formula). Rates and loss are since the previous call.
   * @returns {Promise<import('./stats.js').ConnectionStats>}
   */
  async getConnectionStats() {
    const { stats, sample } = await readStats(this.#pc, this.#lastSample, this.#startedAt);
    this.#lastSample = sample;
    return stats;
  }

  /** Hangs up: tells the peer, closes the path, stops this side's devices. */
  close() {
    this.#end('hangup');
  }

  // ----------------------------------------------------- client-facing --

  /**
   * A call-protocol payload from the peer for this call (op desc, cand, bye).
   * Handled strictly in arrival order.
   * @param {any} d
   */
  _receive(d) {
    this.#inbox = this.#inbox.then(() => this.#process(d)).catch((e) => this.#init.onError(e));
  }

  /**
   * The callee's device answered: from now on signals go to that device.
   * @param {string} to `user@domain/device`
   */
  _bind(to) {
    this.#init.to = to;
  }

  /**
   * Ends the connection for the client.
   * @param {CloseReason} reason
   * @param {WebRTC2Error} [err] rejects `ready` if still pending
   * @param {boolean} [tellPeer=false] send 'bye' first
   */
  _end(reason, err, tellPeer = false) {
    this.#end(reason, err, tellPeer);
  }

  /**
   * Gives up ownership of the local stream (it lives on in another
   * connection) so that ending this one does not stop its tracks.
   * @returns {MediaStream | null}
   */
  _releaseStream() {
    const s = this.#init.localStream;
    for (const sender of this.#pc.getSenders()) {
      if (sender.track) this.#pc.removeTrack(sender);
    }
    this.#init.localStream = null;
    return s;
  }

  /**
   * New ICE servers (fresh TURN credentials after a reconnect) for later
   * ICE restarts.
   * @param {RTCIceServer[]} iceServers
   */
  _setIceServers(iceServers) {
    if (this.#state === 'closed') return;
    try {
      this.#pc.setConfiguration({ ...this.#pc.getConfiguration(), iceServers });
    } catch (e) {
      this.#init.onError(e);
    }
  }

  // ---------------------------------------------------------- internals --

  /**
   * @param {Record<string, unknown>} body
   * @returns {Promise<void> | undefined} settles as the server takes or refuses it
   */
  #signal(body) {
    if (this.#state === 'closed' && body.op !== 'bye') return undefined;
    const sent = this.#init.signal(this.#init.to, { w2: CALL_PROTOCOL, call: this.callId, ...body });
    // A peer that is away (its session reconnecting, or gone) is normal
    // here: the path may not need signaling, and a failed one times out.
    sent.catch((e) => {
      if (e?.code !== 'peer-unavailable' && e?.code !== 'disconnected') this.#init.onError(e);
    });
    return sent;
  }

  #assertOpen() {
    if (this.#state === 'closed') throw new WebRTC2Error(SdkErrorCode.CONNECTION_CLOSED, 'the connection is closed');
  }

  /** Adds this side's tracks and the negotiated data channel. */
  #attachLocal() {
    if (this.#localAttached) return;
    this.#localAttached = true;
    const stream = this.localStream;
    for (const t of stream?.getTracks() ?? []) this.#pc.addTrack(t, stream);
    const dc = this.#pc.createDataChannel(CHANNEL_LABEL, { negotiated: true, id: CHANNEL_ID, ordered: true });
    this.#data = new DataLink(dc, (m) => this._slots.onMessage.emit(m),
      () => this.#pc.sctp?.maxMessageSize || 65536, this.#init.data);
    dc.addEventListener('open', () => {
      clearTimeout(this.#setupTimer);
      if (this.#resolveReady) this.#resolveReady();
      this.#resolveReady = this.#rejectReady = null;
    });
  }

  async #negotiate() {
    if (this.#state === 'closed') return;
    try {
      this.#makingOffer = true;
      await this.#pc.setLocalDescription();
      this.#sendOffer(this.#pc.localDescription);
    } catch (e) {
      this.#init.onError(e);
    } finally {
      this.#makingOffer = false;
    }
  }

  /**
   * Sends our offer. If the peer's session is away (its signaling is
   * reconnecting), the offer is sent again every second while it is still
   * the pending one, until the connection ends.
   * @param {RTCSessionDescription | null} offer
   */
  #sendOffer(offer) {
    if (!offer) return;
    this.#signal({ op: 'desc', description: offer.toJSON() })?.catch((e) => {
      if (e?.code !== 'peer-unavailable' && e?.code !== 'disconnected') return; // reported by #signal
      setTimeout(() => {
        if (this.#state !== 'closed' && this.#pc.signalingState === 'have-local-offer'
          && this.#pc.localDescription?.sdp === offer.sdp) this.#sendOffer(offer);
      }, 1000);
    });
  }

  /** @param {any} d */
  async #process(d) {
    if (this.#state === 'closed') return;
    if (d.op === 'bye') {
      this.#end('remote-hangup', new WebRTC2Error(SdkErrorCode.CONNECTION_CLOSED, `${this.peerId} hung up`), false);
      return;
    }
    if (d.op === 'cand') {
      if (!d.candidate || typeof d.candidate !== 'object') throw protocolError('cand without a candidate');
      try {
        await this.#pc.addIceCandidate(d.candidate);
      } catch (e) {
        if (!this.#ignoreOffer) throw e;
      }
      return;
    }
    if (d.op !== 'desc') return; // a later version's op: ignored
    const desc = d.description;
    if (!desc || (desc.type !== 'offer' && desc.type !== 'answer') || typeof desc.sdp !== 'string') {
      throw protocolError('desc without a valid description');
    }
    const collision = desc.type === 'offer' && (this.#makingOffer || this.#pc.signalingState !== 'stable');
    this.#ignoreOffer = !this.#init.polite && collision;
    if (this.#ignoreOffer) return;
    await this.#pc.setRemoteDescription(desc); // rolls a colliding local offer back (polite side)
    if (desc.type !== 'offer') return;
    this.#attachLocal(); // the callee's media rides on the caller's m-lines
    await this.#pc.setLocalDescription();
    this.#signal({ op: 'desc', description: this.#pc.localDescription?.toJSON() });
  }

  /** @param {RTCTrackEvent} e */
  #onTrack(e) {
    let stream = e.streams[0];
    if (!stream) {
      stream = this.#remoteStream ?? new MediaStream();
      stream.addTrack(e.track);
    }
    if (stream === this.#remoteStream) return;
    this.#remoteStream = stream;
    this._slots.onRemoteStream.emit(stream);
  }

  /** Follows the path: connected, broken (restart ICE), failed for good. */
  #onPathState() {
    const s = this.#pc.connectionState;
    if (this.#state === 'closed') return;
    if (s === 'connected') {
      clearTimeout(this.#restartTimer);
      clearTimeout(this.#failTimer);
      this.#restartTimer = this.#failTimer = undefined;
      this.#setState('connected');
      return;
    }
    if (s !== 'disconnected' && s !== 'failed') return;
    if (this.#state === 'connected') this.#setState('reconnecting');
    if (this.#failTimer === undefined) {
      this.#failTimer = setTimeout(() => this.#end('connection-failed', new WebRTC2Error(SdkErrorCode.CONNECTION_FAILED,
        `the connection to ${this.peerId} broke and could not be restored`)), this.#init.failAfterMs ?? 20000);
    }
    clearTimeout(this.#restartTimer);
    // 'disconnected' often heals by itself within a second or two; 'failed'
    // does not.
    const wait = s === 'failed' ? 0 : this.#init.restartAfterMs ?? 2000;
    this.#restartTimer = setTimeout(() => {
      if (this.#state !== 'closed' && this.#pc.connectionState !== 'connected') this.#pc.restartIce();
    }, wait);
  }

  /** @param {ConnectionState} state */
  #setState(state) {
    if (this.#state === state) return;
    this.#state = state;
    this._slots.onStateChange.emit(state);
  }

  /**
   * @param {CloseReason} reason
   * @param {WebRTC2Error} [err]
   * @param {boolean} [tellPeer]
   */
  #end(reason, err, tellPeer = true) {
    if (this.#state === 'closed') return;
    if (tellPeer) this.#signal({ op: 'bye', reason });
    clearTimeout(this.#restartTimer);
    clearTimeout(this.#failTimer);
    clearTimeout(this.#setupTimer);
    this.#setState('closed');
    this.#files.close();
    const why = err ?? new WebRTC2Error(SdkErrorCode.CONNECTION_CLOSED, `the connection was closed (${reason})`);
    this.#data?.fail(why);
    if (this.#rejectReady) this.#rejectReady(why);
    this.#resolveReady = this.#rejectReady = null;
    if (this.#screen) this.#screen.track.stop();
    this.#screen = null;
    stopStream(this.localStream);
    this.#pc.close();
    this.#init.onEnd(this);
    this._slots.onClose.emit(reason);
  }
}

defineHandlers(Connection.prototype, ['onRemoteStream', 'onMessage', 'onClose', 'onStateChange', 'onFile']);

/** @param {string} what */
function protocolError(what) {
  return new WebRTC2Error(SdkErrorCode.PROTOCOL, `call protocol: ${what}`);
}
