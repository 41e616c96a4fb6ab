// Files in the web app: send files or a folder during a call (the "Send
// files" buttons, or dropped on the call view or on a person in the list,
// which first starts a chat-only call), accept or decline what the other
// side offers, and follow every transfer: a progress bar with speed and time
// left, pause, resume and cancel, a clear message when it fails, and the
// verified SHA-256 when it completes. Received files are saved by the SDK
// to the browser's private storage as they arrive; "Save" hands the
// finished file to the browser's download.

import { $, announce, displayName } from './ui.js';

/**
 * @typedef {import('../sdk/webrtc2.js').Connection} Connection
 * @typedef {{percentage: number, bytes: number, total: number, bytesPerSecond: number}} Progress
 */

/** Human sizes: 1.5 MB, 730 KB. */
export function formatBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = Number(n) || 0;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** "12 s", "3 min", "1 h 5 min" left at this speed. */
export function formatTimeLeft(bytesLeft, bytesPerSecond) {
  if (!(bytesPerSecond > 0)) return '';
  const s = Math.ceil(bytesLeft / bytesPerSecond);
  if (s < 60) return `${s} s left`;
  if (s < 3600) return `${Math.ceil(s / 60)} min left`;
  return `${Math.floor(s / 3600)} h ${Math.ceil((s % 3600) / 60)} min left`;
}

/** The sentence for a transfer that failed, from its error code. */
export function transferErrorText(err) {
  const code = err?.code ?? '';
  const text = {
    'integrity': 'the file arrived damaged and could not be repaired',
    'storage': 'the browser could not store it (is the disk or the site storage full?)',
    'too-large': 'it is larger than this browser can store',
    'cancelled': 'it was cancelled',
    'rejected': 'it was declined',
    'connection-closed': 'the call ended before it finished; send it again in a new call to resume',
  }[code];
  return text ?? `${code || 'error'}: ${err?.message ?? err}`;
}

export class FilesPanel {
  /** @type {Connection | null} */ #conn = null;
  #name = '';
  /** @type {File[]} files waiting for the call a drop started */ #pending = [];

  constructor() {
    const pick = /** @type {HTMLInputElement} */ ($('file-pick'));
    const folder = /** @type {HTMLInputElement} */ ($('folder-pick'));
    $('send-files').addEventListener('click', () => pick.click());
    $('send-folder').addEventListener('click', () => folder.click());
    for (const input of [pick, folder]) {
      input.addEventListener('change', () => {
        this.send([...(input.files ?? [])]);
        input.value = '';
      });
    }
    const drop = $('view-call');
    drop.addEventListener('dragover', (e) => {
      if (!this.#conn) return;
      e.preventDefault();
      drop.classList.add('drop-target');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('drop-target'));
    drop.addEventListener('drop', (e) => {
      drop.classList.remove('drop-target');
      if (!this.#conn) return;
      e.preventDefault();
      this.send([...(e.dataTransfer?.files ?? [])]);
    });
  }

  /**
   * Files to send as soon as the call that is being placed connects.
   * @param {File[]} files
   */
  queue(files) {
    this.#pending = files;
  }

  /**
   * Follows a call's connection: its incoming offers and our sends.
   * @param {Connection} conn
   * @param {string} name the other person's name
   */
  attach(conn, name) {
    this.#conn = conn;
    this.#name = name;
    // Rows of earlier calls stay: an unfinished transfer to the same person
    // is offered again on this connection and its row follows it.
    conn.onFile = (incoming) => this.#offered(incoming);
    const pending = this.#pending;
    this.#pending = [];
    if (pending.length) this.send(pending);
  }

  detach() {
    this.#conn = null;
    this.#pending = [];
  }

  /** @param {File[]} files */
  send(files) {
    const conn = this.#conn;
    if (!conn || files.length === 0) return;
    for (const file of files) {
      const row = this.#row(file.webkitRelativePath || file.name, file.size, 'out');
      try {
        const t = conn.sendFile({
          file, path: file.webkitRelativePath || undefined,
          encryption: 'ChaCha20-Poly1305', integrity: 'SHA-256', resumable: true,
        });
        this.#follow(t, row, 'out');
      } catch (e) {
        this.#failed(row, e);
      }
    }
    announce(`Sending ${files.length === 1 ? files[0].name : `${files.length} files`} to ${this.#name}…`);
  }

  /** An offer from the other side: ask whether to take it. */
  #offered(incoming) {
    const label = incoming.path || incoming.name;
    const row = this.#row(label, incoming.size, 'in');
    const accept = this.#button('Accept', 'primary', async () => {
      row.actions.replaceChildren();
      try {
        this.#follow(await incoming.accept(), row, 'in');
      } catch (e) {
        this.#failed(row, e);
      }
    });
    const decline = this.#button('Decline', 'danger', () => {
      incoming.reject();
      row.status.textContent = 'Declined';
      row.actions.replaceChildren();
    });
    row.actions.replaceChildren(accept, decline);
    const resumed = incoming.resumedBytes ? ` (resumes at ${formatBytes(incoming.resumedBytes)})` : '';
    row.status.textContent = `${displayName(this.#name)} offers this file${resumed}.`;
    announce(`${this.#name} wants to send you ${label} (${formatBytes(incoming.size)}).`);
  }

  /**
   * Wires a transfer's events to its row.
   * @param {any} t the SDK's transfer
   * @param {ReturnType<FilesPanel['#row']>} row
   * @param {'in' | 'out'} dir
   */
  #follow(t, row, dir) {
    let paused = false;
    const pause = this.#button('Pause', 'secondary', () => {
      paused = !paused;
      if (paused) t.pause();
      else t.resume();
      pause.textContent = paused ? 'Resume' : 'Pause';
    });
    const cancel = this.#button('Cancel', 'danger', () => t.cancel());
    row.actions.replaceChildren(pause, cancel);
    t.onProgress = (/** @type {Progress} */ p) => {
      row.bar.value = p.percentage;
      const speed = p.bytesPerSecond > 0 ? `, ${formatBytes(p.bytesPerSecond)}/s` : '';
      const left = formatTimeLeft(p.total - p.bytes, p.bytesPerSecond);
      row.status.textContent = `${formatBytes(p.bytes)} of ${formatBytes(p.total)}${speed}${left ? `, ${left}` : ''}`;
    };
    t.onComplete = (r) => {
      row.bar.value = 100;
      row.status.textContent = `Done. SHA-256 ${r.hash}`;
      row.li.dataset.state = 'done';
      row.actions.replaceChildren();
      if (dir === 'in' && r.file) row.actions.append(this.#saveLink(r.file, r.name));
      announce(`${r.name} ${dir === 'in' ? 'received' : 'sent'} and verified.`);
    };
    t.onError = (e) => this.#failed(row, e);
  }

  #failed(row, e) {
    row.li.dataset.state = 'failed';
    row.status.textContent = `Failed: ${transferErrorText(e)}.`;
    row.actions.replaceChildren();
    announce(`A file transfer failed: ${transferErrorText(e)}.`, 'error');
  }

  /** A download link for a received (disk-backed) File. */
  #saveLink(file, name) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(file);
    a.download = name;
    a.className = 'button';
    a.textContent = 'Save';
    return a;
  }

  /**
   * @param {string} label
   * @param {number} size
   * @param {'in' | 'out'} dir
   */
  #row(label, size, dir) {
    const li = document.createElement('li');
    li.className = `transfer ${dir}`;
    li.dataset.state = 'active';
    const title = document.createElement('span');
    title.className = 'transfer-name';
    title.textContent = `${dir === 'in' ? '⬇' : '⬆'} ${label} (${formatBytes(size)})`;
    const bar = document.createElement('progress');
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute('aria-label', `Progress of ${label}`);
    const status = document.createElement('span');
    status.className = 'transfer-status';
    const actions = document.createElement('span');
    actions.className = 'transfer-actions';
    li.append(title, bar, status, actions);
    $('transfers').append(li);
    return { li, bar, status, actions };
  }

  /**
   * @param {string} text
   * @param {string} cls
   * @param {() => void} onClick
   */
  #button(text, cls, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = cls;
    b.textContent = text;
    b.addEventListener('click', onClick);
    return b;
  }
}
