// File transfer, the receiver's storage (docs/file-transfer.md, "Resume
// state"): each accepted file is written in place, chunk by chunk, to the
// origin private file system (OPFS) or to a file the user chose, with its
// resume state beside it in OPFS:
//
//   webrtc2-files/<id>/<name>        the file (unless the user chose one)
//   webrtc2-files/<id>/state.json    manifest, verified ranges, last change
//
// A FileSystemWritableFileStream writes to a swap copy that becomes the file
// only on close(), so writes are committed in batches (close, save the
// state, reopen keeping the data): the ranges in state.json are always ones
// whose bytes are in the file. Nothing secret is stored.

const ROOT = 'webrtc2-files';
const STATE = 'state.json';
/** Partial transfers older than this are deleted (docs/file-transfer.md). */
export const RETENTION_MS = 7 * 24 * 3600 * 1000;
/** A batch is committed once this many bytes were written ... */
const COMMIT_BYTES = 8 << 20;
/** ... and at least this long after the previous commit. */
const COMMIT_MS = 1000;

/**
 * @typedef {object} PartState what state.json holds
 * @property {1} v
 * @property {string} id hex
 * @property {string} manifest hex of the manifest's encoding
 * @property {string} peer the sender, `user@domain`
 * @property {string} name
 * @property {string} path
 * @property {number} size
 * @property {number} chunkSize
 * @property {string} fileName the stored file's name in the folder ('' when the user chose the file)
 * @property {[number, number][]} ranges verified chunks, committed to the file
 * @property {number} updated ms since the epoch
 * @property {boolean} complete
 */

/** Files the user chose (accept({handle})), by transfer id: not storable in JSON. */
const chosenHandles = new Map();

/** @returns {Promise<FileSystemDirectoryHandle>} */
async function rootDir() {
  const opfs = await navigator.storage.getDirectory();
  return opfs.getDirectoryHandle(ROOT, { create: true });
}

/**
 * A name safe as one OPFS entry (no separators, no control characters).
 * @param {string} name
 */
export function safeFileName(name) {
  const base = name.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f<>:"|?*]/g, '_').replace(/^\.+$/, '_').slice(0, 200);
  return clean === '' || clean === STATE ? 'file' : clean;
}

/**
 * The stored state of transfer `idHex`, or null.
 * @param {string} idHex
 * @returns {Promise<PartState | null>}
 */
export async function readPartState(idHex) {
  try {
    const dir = await (await rootDir()).getDirectoryHandle(idHex);
    const text = await (await (await dir.getFileHandle(STATE)).getFile()).text();
    const st = JSON.parse(text);
    if (st?.v !== 1 || st.id !== idHex || st.complete) return null;
    if (st.fileName === '' && !chosenHandles.has(idHex)) return null; // the user's file is out of reach
    return st;
  } catch {
    return null;
  }
}

/**
 * Deletes what is stored for transfer `idHex` (ignores what is not there).
 * @param {string} idHex
 */
export async function removePart(idHex) {
  chosenHandles.delete(idHex);
  try {
    await (await rootDir()).removeEntry(idHex, { recursive: true });
  } catch {
    // gone already
  }
}

/**
 * Deletes partial transfers untouched for longer than the retention.
 * @param {number} [now]
 */
export async function sweepParts(now = Date.now()) {
  const root = await rootDir();
  // @ts-ignore entries() is in Chromium
  for await (const [name, handle] of root.entries()) {
    if (handle.kind !== 'directory') continue;
    let stale = false;
    try {
      const st = JSON.parse(await (await (await handle.getFileHandle(STATE)).getFile()).text());
      stale = !st.complete && now - st.updated > RETENTION_MS;
    } catch {
      stale = true; // a folder without state is debris
    }
    if (stale) await root.removeEntry(name, { recursive: true }).catch(() => {});
  }
}

/**
 * Bytes the origin may still store, or Infinity when unknown.
 */
export async function freeBytes() {
  try {
    const { quota, usage } = await navigator.storage.estimate();
    if (typeof quota === 'number' && typeof usage === 'number') return quota - usage;
  } catch {
    // unknown
  }
  return Infinity;
}

/**
 * One file being received.
 */
export class PartStore {
  /** @type {FileSystemDirectoryHandle} */ #dir;
  /** @type {FileSystemFileHandle} */ #file;
  /** @type {FileSystemWritableFileStream | null} */ #w = null;
  /** @type {PartState} */ #state;
  #sinceCommit = 0;
  #lastCommit = 0;
  /** @type {Promise<void>} writes and commits, one at a time */
  #queue = Promise.resolve();

  /**
   * @param {FileSystemDirectoryHandle} dir
   * @param {FileSystemFileHandle} file
   * @param {PartState} state
   */
  constructor(dir, file, state) {
    this.#dir = dir;
    this.#file = file;
    this.#state = state;
  }

  /**
   * Opens (or creates) the storage of a transfer. With `handle` the data
   * goes to that file; otherwise to OPFS. A stored part whose manifest
   * differs is discarded first (a different file under the same id).
   * @param {Omit<PartState, 'v' | 'ranges' | 'updated' | 'complete' | 'fileName'>} info
   * @param {FileSystemFileHandle} [handle]
   * @returns {Promise<{store: PartStore, ranges: [number, number][]}>}
   */
  static async open(info, handle) {
    const old = await readPartState(info.id);
    const resume = old && old.manifest === info.manifest && old.peer === info.peer ? old : null;
    if (old && !resume) await removePart(info.id);
    const dir = await (await rootDir()).getDirectoryHandle(info.id, { create: true });
    if (handle) chosenHandles.set(info.id, handle);
    const chosen = handle ?? chosenHandles.get(info.id);
    const fileName = chosen ? '' : resume?.fileName ?? safeFileName(info.name);
    const file = chosen ?? await dir.getFileHandle(fileName, { create: true });
    /** @type {PartState} */
    const state = {
      v: 1, ...info, fileName, ranges: resume?.ranges ?? [], updated: Date.now(), complete: false,
    };
    const store = new PartStore(dir, file, state);
    await store.#reopen(Boolean(resume));
    await store.#saveState();
    return { store, ranges: state.ranges };
  }

  /** @param {boolean} keep keep the file's bytes (a resumed part) */
  async #reopen(keep) {
    this.#w = await this.#file.createWritable({ keepExistingData: keep });
    if (!keep) await this.#w.truncate(this.#state.size);
    this.#lastCommit = performance.now();
    this.#sinceCommit = 0;
  }

  async #saveState() {
    this.#state.updated = Date.now();
    const h = await this.#dir.getFileHandle(STATE, { create: true });
    const w = await h.createWritable();
    await w.write(JSON.stringify(this.#state));
    await w.close();
  }

  /**
   * @param {() => Promise<void>} job
   * @returns {Promise<void>}
   */
  #enqueue(job) {
    const p = this.#queue.then(job);
    this.#queue = p.catch(() => {});
    return p;
  }

  /**
   * Writes a verified chunk at `offset`. `ranges()` is what becomes
   * state.json at the next commit, so the caller marks the chunk verified
   * only after this resolves.
   * @param {number} offset
   * @param {Uint8Array} bytes
   * @param {() => [number, number][]} ranges the verified ranges after this write
   */
  write(offset, bytes, ranges) {
    return this.#enqueue(async () => {
      if (!this.#w) throw new Error('the file is closed');
      await this.#w.write({ type: 'write', position: offset, data: bytes });
      this.#sinceCommit += bytes.length;
      if (this.#sinceCommit >= COMMIT_BYTES && performance.now() - this.#lastCommit >= COMMIT_MS) {
        await this.#commit(ranges);
      }
    });
  }

  /**
   * Commits what was written and saves the ranges (the connection dropped,
   * or a batch is full).
   * @param {() => [number, number][]} ranges
   */
  commit(ranges) {
    return this.#enqueue(() => this.#commit(ranges));
  }

  /** @param {() => [number, number][]} ranges */
  async #commit(ranges) {
    if (!this.#w) return;
    const snapshot = ranges();
    await this.#w.close();
    this.#state.ranges = snapshot;
    await this.#saveState();
    await this.#reopen(true);
  }

  /**
   * Closes the file (all chunks are in) and returns it as stored.
   * @param {() => [number, number][]} ranges
   * @returns {Promise<File>}
   */
  finish(ranges) {
    return this.#enqueue(async () => {
      if (this.#w) await this.#w.close();
      this.#w = null;
      this.#state.ranges = ranges();
      await this.#saveState();
    }).then(() => this.#file.getFile());
  }

  /** Marks the transfer complete: it is no longer a part to resume. */
  async markComplete() {
    this.#state.complete = true;
    chosenHandles.delete(this.#state.id);
    await this.#saveState();
  }

  /** Deletes the stored part (cancelled, or failed to verify). */
  remove() {
    return this.#enqueue(async () => {
      try {
        await this.#w?.abort();
      } catch {
        // closed already
      }
      this.#w = null;
      if (this.#state.fileName === '') {
        // The user's file: empty it rather than leave unverified bytes.
        try {
          const w = await this.#file.createWritable();
          await w.close();
        } catch {
          // nothing more to do
        }
      }
      await removePart(this.#state.id);
    });
  }
}
