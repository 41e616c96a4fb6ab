// File transfer, the receiver's storage (docs/file-transfer.md, "Resume
// state"): each accepted file is written in place, chunk by chunk, to the
// origin private file system (OPFS) or to a file the user chose, with its
// resume state beside it in OPFS:
//
//   webrtc2-files/<id>/<name>        the file (unless the user chose one)
//   webrtc2-files/<id>/state.json    manifest, verified ranges, last change
//
// An OPFS part is written in place by a worker holding a
// FileSystemSyncAccessHandle (files-worker.js); a commit is a flush. A file
// the user chose can only be written through a FileSystemWritableFileStream,
// whose swap copy becomes the file on close(), so there a commit is a close
// and a reopen that copies the file, and commits are spaced out. Either
// way writes are committed in batches and state.json is saved after each:
// its ranges are always ones whose bytes are in the file. Nothing secret is
// stored.

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
 * @typedef {object} Sink where a part's bytes go
 * @property {(offset: number, bytes: Uint8Array) => Promise<void>} write
 * @property {() => Promise<void>} commit makes what was written durable
 * @property {() => Promise<void>} close commits and lets go of the file
 * @property {() => Promise<void>} abort lets go, keeping nothing uncommitted
 * @property {boolean} cheapCommit whether commit() costs little whatever the size
 */

/**
 * An OPFS file written in place through a FileSystemSyncAccessHandle in a
 * dedicated worker (files-worker.js): a commit is a flush, not a copy.
 * @implements {Sink}
 */
class WorkerSink {
  cheapCommit = true;
  /** @type {Worker} */ #worker;
  #seq = 0;
  /** @type {Map<number, {resolve: (v: any) => void, reject: (e: Error) => void}>} */ #waiting = new Map();
  /** The first failure of a write nobody waited for; every later call throws it. @type {Error | null} */
  #failed = null;
  /**
   * Each chunk's fate, in the order they were handed over: stored and
   * hashed (ok), refused by its tag (!ok), or a storage failure (error).
   * @type {(index: number, ok: boolean, error?: string) => void}
   */
  onVerdict = () => {};

  /** @param {Worker} worker */
  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = (e) => {
      const m = e.data;
      if (m.op === 'verdict') {
        if (m.error) this.#failed ??= new Error(m.error);
        this.onVerdict(m.index, m.ok, m.error);
        return;
      }
      if (m.op === 'failed') {
        this.#failed ??= new Error(m.message);
        return;
      }
      const w = this.#waiting.get(m.seq);
      this.#waiting.delete(m.seq);
      if (!m.ok) this.#failed ??= new Error(m.message);
      if (m.ok) w?.resolve(m);
      else w?.reject(new Error(m.message));
    };
    worker.onerror = (e) => {
      this.#failed ??= new Error(e.message || 'the storage worker failed');
      for (const w of this.#waiting.values()) w.reject(this.#failed);
      this.#waiting.clear();
    };
  }

  /**
   * @param {string[]} dirs folder names from the OPFS root
   * @param {string} name
   * @param {{size: number, chunkSize: number, held: [number, number][]}} part
   * @param {boolean} fresh a new part (its length is set; a resumed one keeps its bytes)
   * @returns {Promise<WorkerSink>}
   */
  static async open(dirs, name, part, fresh) {
    const worker = new Worker(new URL('./files-worker.js', import.meta.url), { type: 'module', name: 'webrtc2-files' });
    const sink = new WorkerSink(worker);
    try {
      await sink.#call({ op: 'open', dirs, name, size: part.size, chunkSize: part.chunkSize, held: part.held, fresh });
    } catch (e) {
      worker.terminate();
      throw e;
    }
    return sink;
  }

  /** @param {Record<string, unknown>} msg @returns {Promise<any>} */
  #call(msg) {
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#waiting.set(seq, { resolve, reject });
      this.#worker.postMessage({ ...msg, seq });
    });
  }

  /**
   * The key (null: encryption 'none') of the chunks handed over from now on.
   * @param {Uint8Array} id the transfer's id
   * @param {Uint8Array | null} key
   */
  setKey(id, key) {
    this.#worker.postMessage({ op: 'key', id, key });
  }

  /**
   * Hands a received frame over (its buffer moves to the worker): the
   * worker opens, writes and hashes it and answers through onVerdict.
   * @param {number} index
   * @param {boolean} last
   * @param {ArrayBuffer} frame
   */
  chunk(index, last, frame) {
    if (this.#failed) throw this.#failed;
    this.#worker.postMessage({ op: 'chunk', index, last, frame }, [frame]);
  }

  /** @returns {Promise<string>} the SHA-256 of the whole file as stored */
  async digest() {
    if (this.#failed) throw this.#failed;
    return (await this.#call({ op: 'digest' })).hash;
  }

  /** A chunk's bytes written by the page (not used: chunks go through chunk()). */
  async write() {
    throw new Error('the worker sink takes whole frames');
  }

  async commit() {
    if (this.#failed) throw this.#failed;
    await this.#call({ op: 'flush' });
  }

  async close() {
    try {
      await this.#call({ op: 'close' });
    } finally {
      this.#worker.terminate();
    }
  }

  async abort() {
    await this.close().catch(() => {});
  }
}

/**
 * Any FileSystemFileHandle (a file the user chose) through a writable
 * stream: its swap copy becomes the file only on close, so a commit is a
 * close and a reopen that copies the file; commits are spaced out for
 * large files (see PartStore).
 * @implements {Sink}
 */
class WritableSink {
  cheapCommit = false;
  /** @type {FileSystemFileHandle} */ #file;
  /** @type {FileSystemWritableFileStream | null} */ #w = null;

  /** @param {FileSystemFileHandle} file */
  constructor(file) {
    this.#file = file;
  }

  /**
   * @param {FileSystemFileHandle} file
   * @param {number} size
   * @param {boolean} fresh
   */
  static async open(file, size, fresh) {
    const sink = new WritableSink(file);
    sink.#w = await file.createWritable({ keepExistingData: !fresh });
    if (fresh) await sink.#w.truncate(size);
    return sink;
  }

  /** @param {number} offset @param {Uint8Array} bytes */
  async write(offset, bytes) {
    if (!this.#w) throw new Error('the file is closed');
    await this.#w.write({ type: 'write', position: offset, data: bytes });
  }

  async commit() {
    if (!this.#w) return;
    await this.#w.close();
    this.#w = await this.#file.createWritable({ keepExistingData: true });
  }

  async close() {
    const w = this.#w;
    this.#w = null;
    await w?.close();
  }

  async abort() {
    const w = this.#w;
    this.#w = null;
    await w?.abort().catch(() => {});
  }
}

/**
 * One file being received.
 */
export class PartStore {
  /** @type {FileSystemDirectoryHandle} */ #dir;
  /** @type {FileSystemFileHandle} */ #file;
  /** @type {Sink | null} */ #sink = null;
  /** @type {PartState} */ #state;
  #sinceCommit = 0;
  #lastCommit = 0;
  /** @type {Promise<void>} writes (of a writable) and commits, one at a time */
  #queue = Promise.resolve();
  /** @type {Promise<void> | null} a commit running beside the worker's writes */
  #committing = null;
  /** @type {Error | null} why a detached commit failed (later writes throw it) */
  #failed = null;

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

  /** 'worker' (in place, OPFS) or 'writable' (a chosen file, or no worker support). */
  kind = '';

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
    store.#sink = await openSink(chosen ? null : [ROOT, info.id], file, fileName,
      { size: info.size, chunkSize: info.chunkSize, held: state.ranges }, !resume);
    store.kind = store.#sink.cheapCommit ? 'worker' : 'writable';
    store.#lastCommit = performance.now();
    await store.#saveState();
    return { store, ranges: state.ranges };
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
   * Writes a verified chunk at `offset` (a 'writable' store). `ranges()` is
   * what becomes state.json at the next commit, so the caller marks the
   * chunk verified only after this resolves.
   * @param {number} offset
   * @param {Uint8Array} bytes
   * @param {() => [number, number][]} ranges the verified ranges after this write
   */
  write(offset, bytes, ranges) {
    return this.#enqueue(async () => {
      if (!this.#sink) throw new Error('the file is closed');
      await this.#sink.write(offset, bytes);
      this.#sinceCommit += bytes.length;
      // A commit of a writable copies the whole file: past COMMIT_BYTES,
      // one every eighth of the file at most, so the copies add up to a
      // few times the file, not its square.
      const batch = Math.max(COMMIT_BYTES, this.#state.size / 8);
      if (this.#sinceCommit >= batch && performance.now() - this.#lastCommit >= COMMIT_MS) {
        await this.#commit(ranges);
      }
    });
  }

  /** The worker's sink ('worker' stores only). */
  get #worker() {
    const sink = this.#sink;
    if (!(sink instanceof WorkerSink)) throw new Error(this.#sink ? 'not a worker store' : 'the file is closed');
    return sink;
  }

  /**
   * ('worker' stores) Where each handed-over chunk ends: see WorkerSink.
   * @param {(index: number, ok: boolean, error?: string) => void} fn
   */
  set onVerdict(fn) {
    this.#worker.onVerdict = fn;
  }

  /** ('worker' stores) @param {Uint8Array} id @param {Uint8Array | null} key */
  setKey(id, key) {
    this.#worker.setKey(id, key);
  }

  /**
   * ('worker' stores) Hands a frame over; its verdict comes to onVerdict.
   * @param {number} index @param {boolean} last @param {ArrayBuffer} frame
   */
  chunk(index, last, frame) {
    if (this.#failed) throw this.#failed;
    this.#worker.chunk(index, last, frame);
  }

  /**
   * ('worker' stores) A chunk of `len` bytes was stored: a due commit runs
   * beside the chunks that follow (the worker keeps the order, so its
   * flush covers every chunk verdicted before), with the ranges as they
   * are now. So a slow commit (state.json on a busy disk) holds nothing back.
   * @param {number} len
   * @param {() => [number, number][]} ranges
   */
  stored(len, ranges) {
    this.#sinceCommit += len;
    if (this.#committing || this.#sinceCommit < COMMIT_BYTES || performance.now() - this.#lastCommit < COMMIT_MS) return;
    this.#sinceCommit = 0;
    this.#committing = this.#enqueue(() => this.#commit(ranges)).catch((e) => { this.#failed ??= e; })
      .finally(() => { this.#committing = null; });
  }

  /** ('worker' stores) @returns {Promise<string>} the stored file's SHA-256, hashed as it arrived */
  digest() {
    return this.#worker.digest();
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
    if (!this.#sink) return;
    const snapshot = ranges();
    await this.#sink.commit();
    this.#state.ranges = snapshot;
    await this.#saveState();
    this.#sinceCommit = 0;
    this.#lastCommit = performance.now();
  }

  /**
   * Closes the file (all chunks are in) and returns it as stored.
   * @param {() => [number, number][]} ranges
   * @returns {Promise<File>}
   */
  finish(ranges) {
    return this.#enqueue(async () => {
      const sink = this.#sink;
      this.#sink = null;
      await sink?.close();
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
      const sink = this.#sink;
      this.#sink = null;
      await sink?.abort();
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

/**
 * The in-place worker sink for an OPFS part, or a writable when there is
 * no folder path (a chosen file) or the worker cannot open it.
 * @param {string[] | null} dirs
 * @param {FileSystemFileHandle} file
 * @param {string} name
 * @param {{size: number, chunkSize: number, held: [number, number][]}} part
 * @param {boolean} fresh
 * @returns {Promise<Sink>}
 */
async function openSink(dirs, file, name, part, fresh) {
  if (dirs && typeof Worker !== 'undefined') {
    try {
      return await WorkerSink.open(dirs, name, part, fresh);
    } catch {
      // e.g. no FileSystemSyncAccessHandle here: the slower path below
    }
  }
  return WritableSink.open(file, part.size, fresh);
}
