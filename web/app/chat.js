// Chat over a call's data channel. Every message is a small JSON envelope,
// {"t":"chat","text":"..."}, so that other kinds (files, reactions) can be
// added later: a receiver ignores kinds it does not know.

import { errorText } from './ui.js';

/** The longest chat text sent or shown (characters). */
export const MAX_CHAT_CHARS = 4000;

/**
 * Encodes a chat message.
 * @param {string} text
 * @returns {string}
 */
export function encodeChat(text) {
  return JSON.stringify({ t: 'chat', text: text.slice(0, MAX_CHAT_CHARS) });
}

/**
 * Decodes an envelope; null when it is not one, or of a kind this app does
 * not know.
 * @param {unknown} data a data-channel message
 * @returns {{t: 'chat', text: string} | null}
 */
export function decodeEnvelope(data) {
  if (typeof data !== 'string') return null;
  try {
    const m = JSON.parse(data);
    if (m && m.t === 'chat' && typeof m.text === 'string') return { t: 'chat', text: m.text.slice(0, MAX_CHAT_CHARS) };
  } catch { /* not an envelope */ }
  return null;
}

export class ChatPanel {
  /** @type {HTMLOListElement} */ #log;
  /** @type {HTMLFormElement} */ #form;
  /** @type {HTMLInputElement} */ #input;
  /** @type {import('../sdk/webrtc2.js').Connection | null} */ #conn = null;
  #peerName = '';

  /**
   * @param {HTMLOListElement} log
   * @param {HTMLFormElement} form
   * @param {HTMLInputElement} input
   * @param {(text: string) => void} onError shows a failure
   */
  constructor(log, form, input, onError) {
    this.#log = log;
    this.#form = form;
    this.#input = input;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.#send().catch((err) => onError(errorText(err, this.#peerName)));
    });
  }

  /**
   * Follows `conn`'s messages and starts an empty log.
   * @param {import('../sdk/webrtc2.js').Connection} conn
   * @param {string} peerName
   */
  attach(conn, peerName) {
    this.#conn = conn;
    this.#peerName = peerName;
    this.#log.replaceChildren();
    this.#input.value = '';
    conn.onMessage = (m) => {
      const env = decodeEnvelope(m);
      if (env) this.#append(peerName, env.text, 'theirs');
    };
  }

  detach() {
    this.#conn = null;
  }

  async #send() {
    const text = this.#input.value.trim();
    if (!text || !this.#conn) return;
    await this.#conn.send(encodeChat(text));
    this.#input.value = '';
    this.#append('You', text, 'mine');
  }

  /**
   * @param {string} who
   * @param {string} text
   * @param {'mine' | 'theirs'} side
   */
  #append(who, text, side) {
    const li = document.createElement('li');
    li.className = `chat-${side}`;
    const b = document.createElement('b');
    b.textContent = `${who}: `;
    li.append(b, document.createTextNode(text));
    this.#log.append(li);
    li.scrollIntoView({ block: 'nearest' });
  }
}
