// The list of people online: everyone signed in to the app is in the room
// `people` (client.joinRoom), one entry per session; the list shows one row
// per user however many devices (tabs, phones) they have, each with a call
// button and a chat-only button.

import { displayName } from './ui.js';

/** The room every signed-in app joins. */
export const PEOPLE_ROOM = 'people';

export class PresenceList {
  /** @type {HTMLUListElement} */ #list;
  /** @type {HTMLElement} */ #empty;
  /** @type {(peer: string, mode: 'av' | 'chat') => void} */ #onPick;
  /** @type {(peer: string, files: File[]) => void} */ #onDrop;
  /** @type {Map<string, Set<string>>} user -> devices */ #users = new Map();
  /** @type {string} this user, left out of the list */ #self = '';
  #busy = false;

  /**
   * @param {HTMLUListElement} list
   * @param {HTMLElement} empty shown when no one else is online
   * @param {(peer: string, mode: 'av' | 'chat') => void} onPick a call or chat button was pressed
   * @param {(peer: string, files: File[]) => void} onDrop files were dropped on a person
   */
  constructor(list, empty, onPick, onDrop) {
    this.#list = list;
    this.#empty = empty;
    this.#onPick = onPick;
    this.#onDrop = onDrop;
  }

  /**
   * Starts over from a joinRoom answer.
   * @param {string} self this user, `user@domain`
   * @param {{peer: string, device: string}[]} members
   */
  reset(self, members) {
    this.#self = self;
    this.#users.clear();
    for (const m of members) this.#add(m.peer, m.device);
    this.#render();
  }

  /** @param {{room: string, peer: string, device: string, event: string}} m */
  update(m) {
    if (m.room !== PEOPLE_ROOM) return;
    if (m.event === 'joined') this.#add(m.peer, m.device);
    else if (m.event === 'left') this.#remove(m.peer, m.device);
    this.#render();
  }

  /** Empties the list (signed out). */
  clear() {
    this.#users.clear();
    this.#render();
  }

  /**
   * Disables the call buttons while a call is ringing or running.
   * @param {boolean} busy
   */
  setBusy(busy) {
    this.#busy = busy;
    for (const b of this.#list.querySelectorAll('button')) /** @type {HTMLButtonElement} */ (b).disabled = busy;
  }

  /** @param {string} peer */
  isOnline(peer) {
    return this.#users.has(peer);
  }

  /**
   * @param {string} peer
   * @param {string} device
   */
  #add(peer, device) {
    if (typeof peer !== 'string' || peer === this.#self) return;
    if (!this.#users.has(peer)) this.#users.set(peer, new Set());
    this.#users.get(peer)?.add(device);
  }

  /**
   * @param {string} peer
   * @param {string} device
   */
  #remove(peer, device) {
    const devices = this.#users.get(peer);
    if (!devices) return;
    devices.delete(device);
    if (devices.size === 0) this.#users.delete(peer);
  }

  #render() {
    const peers = [...this.#users.keys()].sort((a, b) => a.localeCompare(b));
    this.#list.replaceChildren(...peers.map((p) => this.#row(p)));
    this.#empty.hidden = peers.length > 0;
  }

  /** @param {string} peer */
  #row(peer) {
    const name = displayName(peer);
    const n = this.#users.get(peer)?.size ?? 0;
    const li = document.createElement('li');
    li.className = 'person';
    li.dataset.peer = peer;
    const who = document.createElement('span');
    who.className = 'person-name';
    who.textContent = name;
    if (n > 1) {
      const dev = document.createElement('span');
      dev.className = 'person-devices';
      dev.textContent = ` (${n} devices)`;
      who.append(dev);
    }
    li.append(who, this.#button('Call', `Call ${name}`, 'call', () => this.#onPick(peer, 'av')),
      this.#button('Chat', `Chat with ${name}`, 'secondary', () => this.#onPick(peer, 'chat')));
    li.title = `Drop files here to send them to ${name}`;
    li.addEventListener('dragover', (e) => {
      if (this.#busy) return;
      e.preventDefault();
      li.classList.add('drop-target');
    });
    li.addEventListener('dragleave', () => li.classList.remove('drop-target'));
    li.addEventListener('drop', (e) => {
      li.classList.remove('drop-target');
      const files = [...(e.dataTransfer?.files ?? [])];
      if (this.#busy || files.length === 0) return;
      e.preventDefault();
      this.#onDrop(peer, files);
    });
    return li;
  }

  /**
   * @param {string} text
   * @param {string} label
   * @param {string} cls
   * @param {() => void} onClick
   */
  #button(text, label, cls, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = cls;
    b.textContent = text;
    b.setAttribute('aria-label', label);
    b.disabled = this.#busy;
    b.addEventListener('click', onClick);
    return b;
  }
}
