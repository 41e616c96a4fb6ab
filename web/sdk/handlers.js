// Handler properties that do not lose what happened before they were set.
//
// The SDK's documented usage assigns handlers after awaiting a promise:
//   const connection = await client.connect(...);
//   connection.onRemoteStream = (stream) => ...;
// by which time the remote stream has usually arrived. So a handler property
// remembers its events until a handler is assigned and then delivers them:
// a "latest" property replays the last event only (a stream, a close
// reason), a "queue" property replays every event in order (messages).

/**
 * @typedef {'latest' | 'queue'} ReplayKind
 */

/** Events a queue property holds while no handler is set. */
export const MAX_REPLAY_EVENTS = 10000;

/**
 * One replaying handler slot.
 * @template T
 */
export class ReplaySlot {
  /** @type {((value: T) => void) | null} */ #handler = null;
  /** @type {T[]} */ #held = [];
  /** @type {ReplayKind} */ #kind;
  /** @type {(err: unknown) => void} */ #onThrow;
  /** Events dropped because the queue was full (never silently: see emit). */
  dropped = 0;

  /**
   * @param {ReplayKind} kind
   * @param {(err: unknown) => void} onThrow called when a handler throws
   */
  constructor(kind, onThrow) {
    this.#kind = kind;
    this.#onThrow = onThrow;
  }

  /** @returns {((value: T) => void) | null} */
  get handler() {
    return this.#handler;
  }

  /**
   * Sets the handler; held events are delivered to it in a microtask, in
   * order, unless the handler is replaced before then.
   * @param {((value: T) => void) | null | undefined} fn
   */
  set handler(fn) {
    if (fn !== null && fn !== undefined && typeof fn !== 'function') {
      throw new TypeError('a handler must be a function or null');
    }
    this.#handler = fn ?? null;
    if (!this.#handler || this.#held.length === 0) return;
    const held = this.#held;
    this.#held = [];
    const h = this.#handler;
    queueMicrotask(() => {
      for (const v of held) this.#call(h, v);
    });
  }

  /**
   * Delivers `value` now, or holds it until a handler is set.
   * @param {T} value
   * @returns {boolean} false when a queue slot was full and dropped it
   */
  emit(value) {
    if (this.#handler) {
      this.#call(this.#handler, value);
      return true;
    }
    if (this.#kind === 'latest') {
      this.#held = [value];
      return true;
    }
    if (this.#held.length >= MAX_REPLAY_EVENTS) {
      this.dropped += 1;
      return false;
    }
    this.#held.push(value);
    return true;
  }

  /**
   * @param {(value: T) => void} h
   * @param {T} v
   */
  #call(h, v) {
    try {
      h(v);
    } catch (e) {
      this.#onThrow(e);
    }
  }
}

/**
 * Defines replaying `on*` handler properties on a class prototype, each
 * backed by `this._slots[name]` (see {@link ReplaySlot}).
 * @param {object} proto a class prototype
 * @param {string[]} names property names, e.g. ['onRemoteStream']
 */
export function defineHandlers(proto, names) {
  for (const name of names) {
    Object.defineProperty(proto, name, {
      get() { return this._slots[name].handler; },
      set(fn) { this._slots[name].handler = fn; },
      enumerable: true,
      configurable: false,
    });
  }
}
