// The storage worker of file transfer (files-store.js): it holds one OPFS
// file open through a FileSystemSyncAccessHandle, which only workers get,
// and takes the received frames whole (transferred, not copied): it opens
// each chunk in place in libsodium's heap, writes it where it belongs, and
// keeps the whole file's SHA-256 running over the bytes in order, reading
// back from the file only the chunks that arrived ahead of their turn. So
// the page's thread does no per-chunk work but the frame check, a commit is
// a flush, and the final hash needs no second pass over the file.
//
// Requests, in order:
//   {seq, op: 'open', dirs, name, size, fresh, chunkSize, held}  held: chunk ranges already stored
//   {op: 'key', id, key}           the session's chunk key (null: encryption 'none'); no answer
//   {op: 'chunk', index, last, frame}    answered {op: 'verdict', index, ok, error?}
//   {seq, op: 'digest'}            answered {seq, ok, hash} once every byte is hashed
//   {seq, op: 'flush'} | {seq, op: 'close'}
// Requests with a seq are answered {seq, ok: true} or {seq, ok: false, message}.
import { ChunkBox, loadSodium } from './files-crypto.js';
import { FRAME_HEADER, TAG_BYTES, ChunkSet, chunkCount, chunkLength } from './files-frame.js';

/** @type {FileSystemSyncAccessHandle | null} */
let handle = null;
/** @type {ChunkBox | null} */
let box = null;
/** @type {{size: number, chunkSize: number, held: ChunkSet, hashPos: number, id: Uint8Array, keyed: boolean} | null} */
let file = null;

// Memory. Each frame is 64 KiB outside V8's heap (an ArrayBuffer's
// backing store), spent as soon as it is written. Left alone, V8 frees
// such memory at a full collection, and starts one only once ~64 MiB of it
// piled up since the last (or when the young generation fills, which
// grows as the transfer goes on): the page's memory would climb and fall
// by 60-110 MiB (bench/file_transfer.mjs). collectSoon() asks for a
// collection without costing memory: an untouched 64 MiB ArrayBuffer has
// no resident pages but counts as external memory, which puts V8 over its
// limit at once. It runs when the file opens and after every COLLECT_EVERY
// bytes of frames, so at most that much waits to be freed; a collection of
// this worker's small heap takes a few milliseconds. Measured in Chromium
// 156 (docs/benchmarks.md, "the receiver's memory").
const COLLECT_EVERY = 16 << 20;
let sinceCollect = 0;

function collectSoon() {
  sinceCollect = 0;
  try {
    // Kept in a variable for a moment, so that it is really allocated.
    let nudge = /** @type {ArrayBuffer | null} */ (new ArrayBuffer(64 << 20));
    if (nudge.byteLength === 0) throw new Error('unreachable');
    nudge = null;
  } catch {
    // no address space for it (a 32-bit device): only the memory peak differs
  }
}

/** Hashes the chunks held from where the hash stands, reading them back from the file. */
function catchUp() {
  const f = /** @type {NonNullable<typeof file>} */ (file);
  const b = /** @type {ChunkBox} */ (box);
  const h = /** @type {FileSystemSyncAccessHandle} */ (handle);
  while (f.hashPos < f.size) {
    const index = f.hashPos / f.chunkSize;
    if (!f.held.has(index)) return;
    const len = chunkLength(f.size, f.chunkSize, index);
    const n = h.read(b.payload(len), { at: f.hashPos });
    if (n !== len) throw new Error(`read ${n} of ${len} bytes back`);
    b.hashPayload(len);
    f.hashPos += len;
  }
}

/** @type {Record<string, (m: any) => Promise<unknown> | unknown>} */
const OPS = {
  async open(m) {
    let dir = await navigator.storage.getDirectory();
    for (const name of m.dirs) dir = await dir.getDirectoryHandle(name, { create: true });
    const fh = await dir.getFileHandle(m.name, { create: true });
    handle = await fh.createSyncAccessHandle();
    if (m.fresh || handle.getSize() !== m.size) handle.truncate(m.size);
    box = new ChunkBox(await loadSodium(), m.chunkSize);
    const held = new ChunkSet(chunkCount(m.size, m.chunkSize));
    held.addRanges(m.held);
    file = { size: m.size, chunkSize: m.chunkSize, held, hashPos: 0, id: new Uint8Array(16), keyed: false };
    catchUp();
    collectSoon();
  },
  key(m) {
    const f = /** @type {NonNullable<typeof file>} */ (file);
    f.id = m.id;
    f.keyed = Boolean(m.key);
    if (m.key) /** @type {ChunkBox} */ (box).setKey(m.key);
  },
  chunk(m) {
    const f = /** @type {NonNullable<typeof file>} */ (file);
    const b = /** @type {ChunkBox} */ (box);
    const len = chunkLength(f.size, f.chunkSize, m.index);
    const payload = new Uint8Array(m.frame, FRAME_HEADER);
    let plain = payload;
    if (f.keyed) {
      if (payload.length !== len + TAG_BYTES || !b.open(f.id, m.index, m.last, payload)) {
        self.postMessage({ op: 'verdict', index: m.index, ok: false });
        return;
      }
      plain = b.payload(len);
    }
    const at = m.index * f.chunkSize;
    const n = /** @type {FileSystemSyncAccessHandle} */ (handle).write(plain, { at });
    if (n !== len) throw new Error(`wrote ${n} of ${len} bytes`);
    f.held.add(m.index);
    if (at === f.hashPos) {
      if (f.keyed) b.hashPayload(len);
      else b.hashBytes(plain);
      f.hashPos += len;
      catchUp();
    }
    self.postMessage({ op: 'verdict', index: m.index, ok: true });
    sinceCollect += m.frame.byteLength;
    if (sinceCollect >= COLLECT_EVERY) collectSoon(); // see "Memory" above
  },
  digest() {
    const f = /** @type {NonNullable<typeof file>} */ (file);
    catchUp();
    if (f.hashPos !== f.size) throw new Error(`only ${f.hashPos} of ${f.size} bytes are stored in order`);
    return { hash: /** @type {ChunkBox} */ (box).hashDigest() };
  },
  flush() {
    handle?.flush();
  },
  close() {
    handle?.flush();
    handle?.close();
    handle = null;
    box?.free();
    box = null;
  },
};

self.onmessage = async (e) => {
  const m = e.data;
  try {
    const op = Object.hasOwn(OPS, m.op) ? OPS[m.op] : null;
    if (!op) throw new Error(`unknown op ${m.op}`);
    const out = await op(m);
    if (m.seq !== undefined) self.postMessage({ seq: m.seq, ok: true, ...(out ?? {}) });
  } catch (err) {
    const message = String(err?.message ?? err);
    if (m.op === 'chunk') self.postMessage({ op: 'verdict', index: m.index, ok: false, error: message });
    else if (m.seq !== undefined) self.postMessage({ seq: m.seq, ok: false, message });
    else self.postMessage({ op: 'failed', message });
  }
};
