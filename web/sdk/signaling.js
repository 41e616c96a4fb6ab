// The signaling layer of the webrtc2 browser SDK (@webrtc2/client): one
// WebSocket session with webrtc2d speaking protocol v1 (docs/protocol.md),
// kept alive across network drops and daemon restarts.
//
// It is the bottom layer of WebRTC2Client: the peer, media and group layers
// talk to the server only through request(), signal() and the events below.
// No build step and no dependencies: the daemon serves this file as an ES
// module at /sdk/signaling.js.

import { backoffDelay } from './backoff.js';
import { SdkErrorCode, SignalingError } from './errors.js';

export { SignalingError, SdkErrorCode } from './errors.js';

/** The WebSocket subprotocol of protocol v1. */
export const SUBPROTOCOL = 'webrtc2.v1';

/** The answer type of each request type (docs/protocol.md). */
const ANSWER_OF = Object.freeze({ join: 'joined', leave: 'left', ping: 'pong', refresh: 'refreshed' });

/**
 * Close codes after which reconnecting cannot help: the same hello would be
 * refused again, or (4006) a newer session of this device has taken over and
 * coming back would throw that one out in turn.
 */
const FINAL_CLOSE = Object.freeze({
  4000: 'unsupported-version',
  4001: 'unauthorized',
  4004: 'too-many-sessions',
  4006: SdkErrorCode.REPLACED,
});

/** Close code of a token that expired: fetch a new token and reconnect. */
const CLOSE_TOKEN_EXPIRED = 4002;

/** Largest delay setTimeout accepts (ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * @typedef {'connecting' | 'open' | 'reconnecting' | 'closed'} SignalingState
 */

/**
 * The server's `welcome` message (docs/protocol.md, "Session start").
 * @typedef {object} Welcome
 * @property {'welcome'} type
 * @property {number} v protocol version (1)
 * @property {string} session opaque session id
 * @property {string} peer this user's peer id, `user@domain`
 * @property {string} device this session's device name
 * @property {number} [expires] the token's expiry (Unix seconds)
 * @property {RTCIceServer[]} iceServers STUN/TURN servers to use
 * @property {Record<string, number>} limits the limits the server enforces
 */

/**
 * Detail of a 'signal' event: a payload relayed from another session.
 * @typedef {object} SignalEventDetail
 * @property {string} from sender's peer id, `user@domain`
 * @property {string} fromDevice sender's device; answer it with
 *   `to: from + '/' + fromDevice`
 * @property {unknown} data the payload, exactly as the sender sent it
 */

/**
 * Detail of a 'member' event (docs/protocol.md, "Rooms").
 * @typedef {object} MemberEventDetail
 * @property {string} room
 * @property {string} peer
 * @property {string} device
 * @property {'joined' | 'left'} event
 */

/**
 * @typedef {object} SignalingOptions
 * @property {string | string[]} servers WebSocket URL(s) of `/signal`,
 *   primary first, then backups (e.g. `wss://host/signal`)
 * @property {string | (() => string | Promise<string>)} token a JWT, or a
 *   function returning one. Only a function lets the client refresh the
 *   token before it expires and reconnect after 4002 (token expired).
 * @property {string} [device] this session's device name; when absent the
 *   server picks one, and the client keeps it across reconnects
 * @property {number} [signalQuietMs=250] how long signal() waits for an error
 * @property {number} [requestTimeoutMs=5000] how long request() waits
 * @property {number} [connectTimeoutMs=5000] open + hello + welcome, per attempt
 * @property {number} [refreshBeforeMs=60000] refresh this long before expiry
 * @property {boolean} [autoRefresh=true] refresh the token (when it is a
 *   function) before it expires; false leaves it to the caller's refresh()
 * @property {import('./backoff.js').BackoffOptions} [backoff] reconnect delays
 * @property {typeof WebSocket} [WebSocket] WebSocket constructor (tests)
 * @property {() => number} [now=Date.now] clock in ms (tests)
 */

/**
 * @typedef {object} Pending
 * @property {string | null} answer the answer type, null for a signal
 * @property {string} [room] for join/leave: the room the answer names
 * @property {(m: any) => void} resolve
 * @property {(e: SignalingError) => void} reject
 * @property {ReturnType<typeof setTimeout>} timer
 */

/**
 * A signaling session with webrtc2d that survives reconnects.
 *
 * Lifecycle: construction starts connecting at once. `ready` resolves with
 * the first `welcome`. After that, a lost connection (network, daemon
 * restart, drain) is re-established with exponential backoff, cycling
 * through `servers` starting with the primary, with a fresh token from the
 * token function; rooms joined through request()/join() are joined again.
 * Only close(), a refused hello (4000, 4001, 4004) or replacement by a newer
 * session of the same device (4006) end it: state 'closed'.
 *
 * Events (`addEventListener`; the payload is `event.detail`):
 * - 'state': {state: SignalingState} on every state change
 * - 'welcome': {@link Welcome}, on every (re)connection
 * - 'signal': {@link SignalEventDetail}
 * - 'member': {@link MemberEventDetail}
 * - 'error': a {@link SignalingError} that no promise reports: server errors
 *   without a `ref` of a pending request, a failed token refresh or re-join,
 *   and the reason of a final close after `ready` resolved
 * - 'message': every parsed server message, for layers above
 */
export class SignalingClient extends EventTarget {
  /** @type {string[]} */ #servers;
  /** @type {SignalingOptions['token']} */ #token;
  /** @type {string | undefined} */ #device;
  /** @type {Required<Pick<SignalingOptions, 'signalQuietMs' | 'requestTimeoutMs' | 'connectTimeoutMs' | 'refreshBeforeMs'>>} */ #opts;
  /** @type {import('./backoff.js').BackoffOptions} */ #backoff;
  /** @type {typeof WebSocket} */ #WebSocket;
  /** @type {() => number} */ #now;
  #autoRefresh = true;

  /** @type {WebSocket | null} the current socket; events of older ones are ignored */
  #ws = null;
  /** True once the current socket got its welcome. */
  #sessionOpen = false;
  /** @type {SignalingState} */ #state = 'connecting';
  #serverIndex = 0;
  /** Failed attempts since the last welcome (backoff exponent). */
  #attempt = 0;
  /** True once any welcome arrived: from then on the client reconnects forever. */
  #everOpen = false;
  /** @type {Set<string>} rooms to be in, re-joined after a reconnect */
  #rooms = new Set();
  /** @type {Map<string, Pending>} requests in flight by id */
  #pending = new Map();
  #nextId = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #reconnectTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #connectTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #refreshTimer;
  /** @type {((w: Welcome) => void) | null} */ #resolveReady;
  /** @type {((e: SignalingError) => void) | null} */ #rejectReady;

  /**
   * The latest welcome (undefined before the first one).
   * @type {Welcome | undefined}
   */
  welcome;

  /**
   * Resolves with the first {@link Welcome}; rejects with a
   * {@link SignalingError}: the server's code and sentence when the hello is
   * refused ('unauthorized', 'unsupported-version', 'too-many-sessions',
   * ...), 'unreachable' when every server failed once, 'token-failed' when
   * the token function threw, 'closed' after close(). A rejected client
   * does not retry.
   * @type {Promise<Welcome>}
   */
  ready;

  /**
   * Starts connecting to the first server at once.
   * @param {SignalingOptions} options
   */
  constructor(options) {
    super();
    const servers = typeof options?.servers === 'string' ? [options.servers] : options?.servers;
    if (!Array.isArray(servers) || servers.length === 0 || !servers.every((s) => typeof s === 'string')) {
      throw new TypeError('SignalingClient: servers must be a URL or a non-empty array of URLs');
    }
    if (typeof options.token !== 'string' && typeof options.token !== 'function') {
      throw new TypeError('SignalingClient: token must be a string or a function returning one');
    }
    this.#servers = [...servers];
    this.#token = options.token;
    this.#device = options.device;
    this.#opts = {
      signalQuietMs: options.signalQuietMs ?? 250,
      requestTimeoutMs: options.requestTimeoutMs ?? 5000,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      refreshBeforeMs: options.refreshBeforeMs ?? 60000,
    };
    this.#backoff = options.backoff ?? {};
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.#now = options.now ?? Date.now;
    this.#autoRefresh = options.autoRefresh ?? true;
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // A caller who never awaits `ready` must not get an unhandled rejection;
    // one who does still sees it.
    this.ready.catch(() => {});
    this.#connect();
  }

  /**
   * The current state: 'connecting' until the first welcome, then 'open',
   * 'reconnecting' while a lost session is being re-established, and
   * 'closed' for good. Every change after construction fires 'state'.
   * @type {SignalingState}
   */
  get state() {
    return this.#state;
  }

  /** Rooms this client is in (or will re-join after a reconnect). @type {string[]} */
  get rooms() {
    return [...this.#rooms];
  }

  /**
   * Sends a message without waiting for anything (fire-and-forget).
   * @param {{type: string} & Record<string, unknown>} msg a protocol message
   * @throws {SignalingError} code 'not-open' while no session is open
   */
  send(msg) {
    if (!this.#sessionOpen || !this.#ws || this.#ws.readyState !== 1) {
      throw new SignalingError(SdkErrorCode.NOT_OPEN, `cannot send "${msg?.type}": the session is ${this.#state}`);
    }
    this.#ws.send(JSON.stringify(msg));
  }

  /**
   * Sends a request (join, leave, ping, refresh) with a fresh `id` and waits
   * for its answer (joined, left, pong, refreshed).
   *
   * Every answer carries the request's id as `ref` (docs/protocol.md), which
   * is how it is matched; an answer without one (an older server) falls back
   * to the oldest request waiting for that answer type (and room).
   *
   * @param {{type: 'join' | 'leave' | 'ping' | 'refresh'} & Record<string, unknown>} msg
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<any>} the answer message
   * @throws {SignalingError} (rejects) the server's code with `ref` set when
   *   an error answers it ('room-full', 'not-in-room', ...), or 'timeout',
   *   'disconnected', 'not-open', 'closed'
   */
  request(msg, opts = {}) {
    const answer = ANSWER_OF[msg?.type];
    if (!answer) {
      return Promise.reject(new TypeError(`request(): "${msg?.type}" has no answer; use send() or signal()`));
    }
    if (msg.type === 'leave') this.#rooms.delete(/** @type {string} */ (msg.room));
    return this.#track(msg, answer, opts.timeoutMs ?? this.#opts.requestTimeoutMs);
  }

  /**
   * Joins a room; resolves with `joined` (its `members` are the others).
   * The client re-joins it after every reconnect until leave().
   * @param {string} room
   * @returns {Promise<{type: 'joined', room: string, members: {peer: string, device: string}[]}>}
   */
  join(room) {
    return this.request({ type: 'join', room });
  }

  /**
   * Leaves a room; resolves with `left`.
   * @param {string} room
   * @returns {Promise<{type: 'left', room: string}>}
   */
  leave(room) {
    return this.request({ type: 'leave', room });
  }

  /**
   * Relays `data` to a peer (`user@domain`: all of its sessions) or to one
   * session (`user@domain/device`).
   *
   * The protocol has no success answer for a signal, only an error. So the
   * promise resolves after `signalQuietMs` (250 ms) without an error about
   * it; that means "the server did not refuse it", not "it was delivered".
   * An error that arrives later still comes as an 'error' event.
   *
   * @param {string} to peer id, optionally with `/device`
   * @param {unknown} data any JSON value (e.g. an SDP or ICE candidate)
   * @returns {Promise<void>}
   * @throws {SignalingError} (rejects) 'peer-unavailable' when no session
   *   received it, another server code, or 'not-open' / 'disconnected'
   */
  signal(to, data) {
    return this.#track({ type: 'signal', to, data }, null, this.#opts.signalQuietMs);
  }

  /**
   * Ends the session for good: closes the socket (1000), stops reconnecting
   * and refreshing, rejects pending requests (and `ready`, if still pending)
   * with 'closed'. Idempotent.
   */
  close() {
    if (this.#state === 'closed') return;
    this.#finish(new SignalingError(SdkErrorCode.CLOSED, 'the client was closed'), false);
  }

  // ------------------------------------------------------------ requests --

  /**
   * Sends `msg` with a fresh id and registers it as pending. A signal
   * (answer null) resolves when its timer fires; a request rejects then.
   * @param {Record<string, unknown>} msg
   * @param {string | null} answer
   * @param {number} waitMs
   * @returns {Promise<any>}
   */
  #track(msg, answer, waitMs) {
    return new Promise((resolve, reject) => {
      const id = `c${(this.#nextId += 1)}`;
      try {
        this.send({ ...msg, id });
      } catch (e) {
        reject(e);
        return;
      }
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        if (answer === null) resolve(undefined);
        else reject(new SignalingError(SdkErrorCode.TIMEOUT, `no "${answer}" within ${waitMs} ms`, id));
      }, waitMs);
      const room = typeof msg.room === 'string' ? msg.room : undefined;
      this.#pending.set(id, { answer, room, resolve, reject, timer });
    });
  }

  /** Rejects every pending request with `err` (a fresh copy each, with its ref). */
  #rejectAllPending(err) {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new SignalingError(err.code, err.message, id));
    }
    this.#pending.clear();
  }

  /** Resolves the request answered by `m` (joined, left, pong, refreshed). */
  #handleAnswer(m) {
    if (m.type === 'joined') this.#rooms.add(m.room);
    let id = typeof m.ref === 'string' && this.#pending.has(m.ref) ? m.ref : undefined;
    if (id === undefined) {
      for (const [pid, p] of this.#pending) {
        if (p.answer === m.type && (p.room === undefined || p.room === m.room)) {
          id = pid;
          break;
        }
      }
    }
    if (id === undefined) return;
    const p = /** @type {Pending} */ (this.#pending.get(id));
    this.#pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(m);
  }

  // ------------------------------------------------------------ messages --

  /** Handlers of server messages by type; unknown types are ignored. */
  static #HANDLERS = Object.freeze({
    welcome: (c, m) => c.#handleWelcome(m),
    error: (c, m) => c.#handleError(m),
    signal: (c, m) => c.#emit('signal', { from: m.from, fromDevice: m.fromDevice, data: m.data }),
    member: (c, m) => c.#emit('member', { room: m.room, peer: m.peer, device: m.device, event: m.event }),
    joined: (c, m) => c.#handleAnswer(m),
    left: (c, m) => c.#handleAnswer(m),
    pong: (c, m) => c.#handleAnswer(m),
    refreshed: (c, m) => {
      // A refresh renews the relay credential too (it expires with the
      // token it was minted for): later ICE gathering uses the new one.
      if (Array.isArray(m.iceServers) && c.welcome) {
        c.welcome = { ...c.welcome, iceServers: m.iceServers };
        c.#emit('iceservers', { iceServers: m.iceServers });
      }
      c.#handleAnswer(m);
    },
  });

  /** @param {string} text one text frame */
  #handleFrame(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return; // the server sends JSON only; ignore anything else
    }
    if (!m || typeof m !== 'object' || typeof m.type !== 'string') return;
    this.#emit('message', m);
    const handler = SignalingClient.#HANDLERS[m.type];
    if (handler) handler(this, m);
  }

  /** @param {Welcome} m */
  #handleWelcome(m) {
    clearTimeout(this.#connectTimer);
    this.#sessionOpen = true;
    this.#everOpen = true;
    this.#attempt = 0;
    this.#device = m.device; // stable device name across reconnects
    this.welcome = m;
    this.#setState('open');
    this.#emit('welcome', m);
    if (this.#resolveReady) this.#resolveReady(m);
    this.#resolveReady = null;
    this.#rejectReady = null;
    this.#scheduleRefresh(m.expires);
    for (const room of this.#rooms) {
      this.request({ type: 'join', room }).catch((e) => this.#emit('error', e));
    }
  }

  #handleError(m) {
    const err = new SignalingError(String(m.code), typeof m.message === 'string' ? m.message : '',
      typeof m.ref === 'string' ? m.ref : undefined);
    if (!this.#sessionOpen) {
      // An error before welcome refuses our hello; the same hello would be
      // refused again, so this ends the client (the server closes too).
      this.#finish(err, true);
      return;
    }
    const p = err.ref !== undefined ? this.#pending.get(err.ref) : undefined;
    if (!p) {
      this.#emit('error', err);
      return;
    }
    this.#pending.delete(/** @type {string} */ (err.ref));
    clearTimeout(p.timer);
    p.reject(err);
  }

  // ---------------------------------------------------------- connection --

  #connect() {
    const url = this.#servers[this.#serverIndex];
    this.#sessionOpen = false;
    let ws;
    try {
      ws = new this.#WebSocket(url, SUBPROTOCOL);
    } catch {
      this.#handleDrop(ws, 1006);
      return;
    }
    this.#ws = ws;
    this.#connectTimer = setTimeout(() => this.#handleDrop(ws, 1006), this.#opts.connectTimeoutMs);
    ws.onopen = () => this.#sendHello(ws);
    ws.onmessage = (e) => {
      if (this.#ws === ws && typeof e.data === 'string') this.#handleFrame(e.data);
    };
    ws.onclose = (e) => this.#handleDrop(ws, e.code);
  }

  /** @param {WebSocket} ws */
  async #sendHello(ws) {
    let token;
    try {
      token = typeof this.#token === 'function' ? await this.#token() : this.#token;
      if (typeof token !== 'string') throw new TypeError('the token function returned no string');
    } catch (e) {
      if (this.#ws !== ws) return;
      const err = new SignalingError(SdkErrorCode.TOKEN_FAILED, `could not get a token: ${e?.message ?? e}`);
      if (this.#everOpen) {
        this.#emit('error', err);
        this.#handleDrop(ws, 1006);
      } else {
        this.#finish(err, true);
      }
      return;
    }
    if (this.#ws !== ws || ws.readyState !== 1) return;
    /** @type {Record<string, unknown>} */
    const hello = { type: 'hello', v: 1, token };
    if (this.#device !== undefined) hello.device = this.#device;
    ws.send(JSON.stringify(hello));
  }

  /**
   * The socket `ws` is gone (closed by either side, failed, or timed out):
   * decide between giving up and trying again.
   * @param {WebSocket | undefined} ws
   * @param {number} code WebSocket close code (1006: no close frame)
   */
  #handleDrop(ws, code) {
    if (ws !== undefined && this.#ws !== ws) return; // an abandoned socket
    this.#abandonSocket();
    const wasOpen = this.#sessionOpen;
    this.#sessionOpen = false;
    this.#rejectAllPending(new SignalingError(SdkErrorCode.DISCONNECTED, 'the connection to the server was lost'));
    if (this.#state === 'closed') return;
    const final = FINAL_CLOSE[code];
    if (final) {
      const why = final === SdkErrorCode.REPLACED ? 'replaced by a newer session of this device' : `closed by the server (${code})`;
      this.#finish(new SignalingError(final, why), true);
      return;
    }
    if (!this.#everOpen) {
      // Initial connection: try each server once, then give up.
      this.#serverIndex += 1;
      if (this.#serverIndex >= this.#servers.length) {
        this.#finish(new SignalingError(SdkErrorCode.UNREACHABLE,
          `no signaling server could be reached (${this.#servers.join(', ')})`), true);
        return;
      }
      this.#connect();
      return;
    }
    this.#setState('reconnecting');
    if (wasOpen) {
      this.#serverIndex = 0; // primary first
      this.#attempt = 0;
    } else {
      this.#serverIndex = (this.#serverIndex + 1) % this.#servers.length;
    }
    // After 4002 the token function gives a fresh token: come back at once.
    const delay = code === CLOSE_TOKEN_EXPIRED ? 0 : backoffDelay(this.#attempt, this.#backoff);
    this.#attempt += 1;
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  /** Detaches and closes the current socket and clears its timers. */
  #abandonSocket() {
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#refreshTimer);
    const ws = this.#ws;
    this.#ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (ws.readyState === 0 || ws.readyState === 1) {
      try {
        ws.close(1000);
      } catch { /* already closing */ }
    }
  }

  /**
   * Ends the client: state 'closed', no more reconnects. `err` rejects
   * `ready` if it is still pending, else (when `report`) becomes an 'error'
   * event.
   * @param {SignalingError} err
   * @param {boolean} report
   */
  #finish(err, report) {
    clearTimeout(this.#reconnectTimer);
    this.#abandonSocket();
    this.#sessionOpen = false;
    this.#rejectAllPending(err);
    this.#setState('closed');
    if (this.#rejectReady) {
      this.#rejectReady(err);
      this.#resolveReady = null;
      this.#rejectReady = null;
    } else if (report) {
      this.#emit('error', err);
    }
  }

  // ------------------------------------------------------- token refresh --

  /**
   * Schedules a `refresh` `refreshBeforeMs` before `expires` (or halfway
   * there, for short-lived tokens), when the token is a function.
   * @param {number | undefined} expires Unix seconds
   */
  #scheduleRefresh(expires) {
    clearTimeout(this.#refreshTimer);
    if (!this.#autoRefresh || typeof this.#token !== 'function' || typeof expires !== 'number') return;
    const remaining = expires * 1000 - this.#now();
    const before = this.#opts.refreshBeforeMs;
    const delay = Math.min(MAX_TIMER_MS, Math.max(1000, remaining > 2 * before ? remaining - before : remaining / 2));
    this.#refreshTimer = setTimeout(() => this.#refresh(), delay);
  }

  async #refresh() {
    try {
      const token = await /** @type {() => string | Promise<string>} */ (this.#token)();
      if (typeof token !== 'string') throw new TypeError('the token function returned no string');
      const answer = await this.request({ type: 'refresh', token });
      this.#scheduleRefresh(answer.expires);
    } catch (e) {
      // The session goes on with its old token; if it expires the server
      // closes with 4002 and the reconnect fetches a new one.
      this.#emit('error', e instanceof SignalingError ? e
        : new SignalingError(SdkErrorCode.TOKEN_FAILED, `could not get a token: ${e?.message ?? e}`));
    }
  }

  // -------------------------------------------------------------- events --

  /** @param {SignalingState} state */
  #setState(state) {
    if (this.#state === state) return;
    this.#state = state;
    this.#emit('state', { state });
  }

  /**
   * @param {string} type
   * @param {unknown} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
