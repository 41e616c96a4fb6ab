// The storage worker of file transfer (files-store.js): it holds one OPFS
// file open through a FileSystemSyncAccessHandle, which only workers get,
// and writes received chunks in place, so that making them durable is a
// flush rather than a copy of the whole file. One request at a time:
//   {seq, op: 'open', dirs, name, size, fresh} | {seq, op: 'write', offset, bytes}
//   | {seq, op: 'flush'} | {seq, op: 'close'}
// each answered {seq, ok: true} or {seq, ok: false, message}.

/** @type {FileSystemSyncAccessHandle | null} */
let handle = null;

/** @type {Record<string, (m: any) => Promise<void> | void>} */
const OPS = {
  async open(m) {
    let dir = await navigator.storage.getDirectory();
    for (const name of m.dirs) dir = await dir.getDirectoryHandle(name, { create: true });
    const file = await dir.getFileHandle(m.name, { create: true });
    handle = await file.createSyncAccessHandle();
    if (m.fresh || handle.getSize() !== m.size) handle.truncate(m.size);
  },
  write(m) {
    if (!handle) throw new Error('the file is not open');
    const n = handle.write(m.bytes, { at: m.offset });
    if (n !== m.bytes.length) throw new Error(`wrote ${n} of ${m.bytes.length} bytes`);
  },
  flush() {
    handle?.flush();
  },
  close() {
    handle?.flush();
    handle?.close();
    handle = null;
  },
};

self.onmessage = async (e) => {
  const m = e.data;
  try {
    const op = Object.hasOwn(OPS, m.op) ? OPS[m.op] : null;
    if (!op) throw new Error(`unknown op ${m.op}`);
    await op(m);
    self.postMessage({ seq: m.seq, ok: true });
  } catch (err) {
    self.postMessage({ seq: m.seq, ok: false, message: String(err?.message ?? err) });
  }
};
