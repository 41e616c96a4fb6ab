// Calls in the web app: placing one (audio+video, or chat only), answering
// or declining one that rings here, and the call view with its controls
// (mute, camera, screen share, hang up), chat and quality panel.
//
// The call is in one phase at a time: 'idle' (the people list shows),
// 'outgoing' (ringing the other side), 'incoming' (ringing here) or 'call'.
// A second call that rings while this one is not idle is declined as busy.

import { $, announce, displayName, errorText } from './ui.js';

/** What a video call asks of the devices. */
const AV = { audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } } };

/**
 * @typedef {'idle' | 'outgoing' | 'incoming' | 'call'} CallPhase
 * @typedef {import('../sdk/webrtc2.js').Connection} Connection
 * @typedef {import('../sdk/webrtc2.js').IncomingRequest} IncomingRequest
 */

export class CallController {
  /** @type {import('../sdk/webrtc2.js').WebRTC2Client | null} */ #client = null;
  /** @type {CallPhase} */ #phase = 'idle';
  /** @type {Connection | null} */ #conn = null;
  /** @type {IncomingRequest | null} */ #request = null;
  /** @type {{peer: string, cancelled: boolean, abort: AbortController} | null} */ #outgoing = null;
  /** @type {import('./chat.js').ChatPanel} */ #chat;
  /** @type {import('./stats-panel.js').StatsPanel} */ #stats;
  /** @type {import('./files.js').FilesPanel} */ #files;
  /** @type {(phase: CallPhase) => void} */ #onPhase;

  /**
   * @param {import('./chat.js').ChatPanel} chat
   * @param {import('./stats-panel.js').StatsPanel} stats
   * @param {import('./files.js').FilesPanel} files
   * @param {(phase: CallPhase) => void} onPhase told of every phase change
   */
  constructor(chat, stats, files, onPhase) {
    this.#chat = chat;
    this.#stats = stats;
    this.#files = files;
    this.#onPhase = onPhase;
    $('accept').addEventListener('click', () => this.#accept());
    $('decline').addEventListener('click', () => this.#decline());
    $('cancel-call').addEventListener('click', () => this.#cancel());
    $('hang-up').addEventListener('click', () => this.#conn?.close());
    $('toggle-mic').addEventListener('click', () => this.#toggleMic());
    $('toggle-camera').addEventListener('click', () => this.#toggleCamera());
    $('toggle-screen').addEventListener('click', () => this.#toggleScreen());
    $('view-incoming').addEventListener('keydown', (e) => {
      if (/** @type {KeyboardEvent} */ (e).key === 'Escape') this.#decline();
    });
  }

  /** @returns {CallPhase} */
  get phase() {
    return this.#phase;
  }

  /**
   * Takes calls for `client` (after it signed in).
   * @param {import('../sdk/webrtc2.js').WebRTC2Client} client
   */
  setClient(client) {
    this.#client = client;
    client.onIncoming = (req) => this.#onIncoming(req);
  }

  /** Ends whatever is going on (signing out); the client is closed by the caller. */
  reset() {
    if (this.#outgoing) this.#cancel();
    this.#request?.reject('closed');
    this.#request = null;
    this.#conn?.close();
    this.#client = null;
    this.#setPhase('idle');
  }

  /**
   * Calls `peer`: with camera and microphone ('av') or chat only.
   * @param {string} peer `user@domain`
   * @param {'av' | 'chat'} mode
   */
  async call(peer, mode) {
    const client = this.#client;
    if (!client || this.#phase !== 'idle') return;
    const name = displayName(peer);
    const out = { peer, cancelled: false, abort: new AbortController() };
    this.#outgoing = out;
    $('outgoing-text').textContent = mode === 'av' ? `Calling ${name}…` : `Asking ${name} to chat…`;
    this.#setPhase('outgoing');
    announce(`Calling ${name}…`);
    try {
      const conn = await client.connect({
        peerId: peer, mediaConstraints: mode === 'av' ? AV : undefined, signal: out.abort.signal,
      });
      if (out.cancelled) {
        conn.close();
        return;
      }
      this.#outgoing = null;
      this.#enterCall(conn, name);
    } catch (e) {
      if (out.cancelled) return;
      this.#outgoing = null;
      this.#files.detach();
      this.#setPhase('idle');
      announce(errorText(/** @type {any} */ (e), name), 'error');
    }
  }

  // ------------------------------------------------------------ ringing --

  /** Cancels the call being placed: the callee stops ringing. */
  #cancel() {
    const out = this.#outgoing;
    if (!out) return;
    out.cancelled = true;
    this.#outgoing = null;
    this.#setPhase('idle');
    announce(`You cancelled the call to ${displayName(out.peer)}.`);
    out.abort.abort();
  }

  /** @param {IncomingRequest} req */
  #onIncoming(req) {
    // Both called each other at once: the SDK settles such crossed calls
    // into one (glare), so this one is left to it rather than declined as
    // busy, which would tell the other side "declined".
    if (this.#phase === 'outgoing' && this.#outgoing?.peer === req.from) return;
    if (this.#phase !== 'idle') {
      req.reject('busy');
      return;
    }
    this.#request = req;
    const name = displayName(req.from);
    const kind = req.media.video ? 'video call' : req.media.audio ? 'audio call' : 'chat';
    $('incoming-text').textContent = `${name} wants to start a ${kind}.`;
    this.#setIncomingButtons(true);
    this.#setPhase('incoming');
    announce(`Incoming ${kind} from ${name}.`);
    $('accept').focus();
    req.onCancel = (reason) => {
      if (this.#request !== req) return;
      this.#request = null;
      this.#setPhase('idle');
      announce(reason === 'no-answer' ? `You missed a call from ${name}.` : errorText({ code: reason === 'answered-elsewhere' ? reason : 'cancelled' }, name));
    };
  }

  async #accept() {
    const req = this.#request;
    if (!req || req.state !== 'ringing') return;
    const name = displayName(req.from);
    this.#setIncomingButtons(false);
    announce(`Connecting to ${name}…`);
    const mediaConstraints = req.media.video ? AV : req.media.audio ? { audio: true } : undefined;
    try {
      const conn = await req.accept({ mediaConstraints });
      if (this.#request !== req) {
        conn.close();
        return;
      }
      this.#request = null;
      this.#enterCall(conn, name);
    } catch (e) {
      if (this.#request !== req) return;
      this.#request = null;
      this.#setPhase('idle');
      announce(errorText(/** @type {any} */ (e), name), 'error');
    }
  }

  #decline() {
    const req = this.#request;
    if (!req || req.state !== 'ringing') return;
    this.#request = null;
    req.reject('declined');
    this.#setPhase('idle');
    announce(`You declined the call from ${displayName(req.from)}.`);
  }

  /** @param {boolean} on */
  #setIncomingButtons(on) {
    /** @type {HTMLButtonElement} */ ($('accept')).disabled = !on;
    /** @type {HTMLButtonElement} */ ($('decline')).disabled = !on;
  }

  // -------------------------------------------------------------- a call --

  /**
   * @param {Connection} conn
   * @param {string} name
   */
  #enterCall(conn, name) {
    this.#conn = conn;
    const remote = /** @type {HTMLVideoElement} */ ($('remote-video'));
    const local = /** @type {HTMLVideoElement} */ ($('local-video'));
    $('call-title').textContent = `In call with ${name}`;
    remote.setAttribute('aria-label', `Video of ${name}`);
    local.srcObject = conn.localStream;
    local.hidden = !conn.localStream?.getVideoTracks().length;
    $('call-media').hidden = !conn.localStream;
    conn.onRemoteStream = (stream) => {
      remote.srcObject = stream;
      $('call-media').hidden = false;
    };
    conn.onStateChange = (s) => this.#showPathState(s, name);
    conn.onClose = (reason) => this.#leaveCall(conn, reason, name);
    this.#showPathState(conn.state, name);
    this.#syncControls();
    this.#chat.attach(conn, name);
    this.#files.attach(conn, name);
    this.#stats.start(conn);
    this.#setPhase('call');
    announce(`Connected to ${name}.`);
    $('hang-up').focus();
  }

  /**
   * @param {Connection} conn
   * @param {string} reason a CloseReason of the SDK
   * @param {string} name
   */
  #leaveCall(conn, reason, name) {
    if (this.#conn !== conn) return;
    this.#conn = null;
    this.#stats.stop();
    this.#chat.detach();
    this.#files.detach();
    for (const id of ['remote-video', 'local-video']) /** @type {HTMLVideoElement} */ ($(id)).srcObject = null;
    // Said before the phase changes: going idle may sign out (a token that
    // expired during the call), and that message must be the last one.
    if (reason === 'hangup') announce(`Call with ${name} ended.`);
    else if (reason === 'remote-hangup') announce(`${name} hung up.`);
    else if (reason === 'connection-failed') announce(errorText({ code: 'connection-failed' }, name), 'error');
    this.#setPhase('idle');
  }

  /**
   * @param {string} s the connection's state
   * @param {string} name
   */
  #showPathState(s, name) {
    const text = {
      connecting: `Connecting to ${name}…`,
      connected: 'Connected',
      reconnecting: `The connection to ${name} was interrupted. Reconnecting…`,
      closed: 'Call ended',
    }[s] ?? s;
    $('call-state').textContent = text;
  }

  #toggleMic() {
    const c = this.#conn;
    if (!c) return;
    c.setMicrophoneEnabled(!c.microphoneEnabled);
    this.#syncControls();
    announce(c.microphoneEnabled ? 'Microphone on.' : 'Microphone muted.');
  }

  #toggleCamera() {
    const c = this.#conn;
    if (!c) return;
    c.setCameraEnabled(!c.cameraEnabled);
    this.#syncControls();
    announce(c.cameraEnabled ? 'Camera on.' : 'Camera off.');
  }

  async #toggleScreen() {
    const c = this.#conn;
    if (!c) return;
    if (c.sharingScreen) {
      await c.stopScreenShare();
      this.#syncControls();
      announce('You stopped sharing your screen.');
      return;
    }
    try {
      const track = await c.shareScreen();
      // The browser's own "stop sharing" ends the track; the SDK then
      // restores the camera, and the button follows.
      track.addEventListener('ended', () => setTimeout(() => this.#syncControls(), 0));
      this.#syncControls();
      announce('You are sharing your screen.');
    } catch (e) {
      announce(errorText(/** @type {any} */ (e)), 'error');
    }
  }

  /** Shows each control with the label of what pressing it does now. */
  #syncControls() {
    const c = this.#conn;
    const mic = /** @type {HTMLButtonElement} */ ($('toggle-mic'));
    const cam = /** @type {HTMLButtonElement} */ ($('toggle-camera'));
    const screen = /** @type {HTMLButtonElement} */ ($('toggle-screen'));
    mic.hidden = !c?.localStream?.getAudioTracks().length;
    cam.hidden = !c?.localStream?.getVideoTracks().length;
    mic.textContent = c?.microphoneEnabled ? 'Mute' : 'Unmute';
    cam.textContent = c?.cameraEnabled ? 'Camera off' : 'Camera on';
    screen.textContent = c?.sharingScreen ? 'Stop sharing' : 'Share screen';
    mic.classList.toggle('off', !c?.microphoneEnabled);
    cam.classList.toggle('off', !c?.cameraEnabled);
  }

  /** @param {CallPhase} phase */
  #setPhase(phase) {
    this.#phase = phase;
    $('people-panel').hidden = phase === 'call';
    $('view-outgoing').hidden = phase !== 'outgoing';
    $('view-incoming').hidden = phase !== 'incoming';
    $('view-call').hidden = phase !== 'call';
    this.#onPhase(phase);
  }
}
