// Page-side helpers for the file-transfer tests (tests/e2e/files.test.mjs):
// test files made from a seeded PRNG (the same bytes in the page and in
// Node, so Node's SHA-256 is the reference), and recorders of what a
// transfer's handlers see.
import crypto from 'node:crypto';

/**
 * `size` bytes of xorshift32 output from `seed` (little-endian words). The
 * same source runs in the page (installed by installFileHelpers).
 * @param {number} seed
 * @param {number} size
 * @returns {Uint8Array}
 */
export function prngBytes(seed, size) {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >> 2);
  let x = seed >>> 0 || 1;
  const step = () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
  for (let i = 0; i < words.length; i++) words[i] = step();
  for (let i = words.length * 4; i < size; i++) out[i] = step() & 255;
  return out;
}

/** Node's SHA-256 (hex) of the PRNG file. */
export function prngSha256(seed, size) {
  return crypto.createHash('sha256').update(prngBytes(seed, size)).digest('hex');
}

/**
 * Installs in the page: makeFile(seed, size, name), track(transfer, key)
 * (handlers record into window.tx[key], the transfer into window.tr[key]),
 * and a receiver (window.fileMode: 'accept' | 'reject' | 'hold') on the
 * page's connection, re-installed on every new connection.
 * @param {import('playwright-core').Page} page
 */
export async function installFileHelpers(page) {
  await page.evaluate(`window.prngBytes = ${prngBytes.toString()}`);
  await page.evaluate(() => {
    window.tx = {};
    window.tr = {};
    window.offers = [];
    window.received = {};
    window.fileMode = 'accept';
    window.makeFile = (seed, size, name) => new File([window.prngBytes(seed, size)], name, { type: 'application/octet-stream' });
    window.track = (t, key) => {
      const rec = { id: t.id, progress: 0, last: null, complete: null, error: null, maxRate: 0 };
      window.tx[key] = rec;
      window.tr[key] = t;
      t.onProgress = (p) => {
        rec.progress += 1;
        rec.last = p;
        rec.maxRate = Math.max(rec.maxRate, p.bytesPerSecond);
      };
      t.onComplete = (r) => {
        rec.complete = { hash: r.hash, name: r.name, size: r.size, path: r.path, fileSize: r.file?.size, fileName: r.file?.name };
        if (r.file) window.received[key] = r.file;
      };
      t.onError = (e) => { rec.error = { code: e.code, message: e.message }; };
      return t;
    };
    window.receiveFiles = (conn) => {
      conn.onFile = async (incoming) => {
        window.offers.push({
          id: incoming.id, name: incoming.name, size: incoming.size, path: incoming.path, resumedBytes: incoming.resumedBytes,
        });
        if (window.fileMode === 'reject') {
          incoming.reject('not wanted');
          return;
        }
        if (window.fileMode === 'hold') {
          window.held = incoming;
          return;
        }
        try {
          // window.chooseHandle(incoming) may name a file to write to (as a user's pick would).
          const handle = await window.chooseHandle?.(incoming);
          window.track(await incoming.accept(handle ? { handle } : {}), incoming.path || incoming.name);
        } catch (e) {
          window.acceptError = { code: e.code, message: e.message };
        }
      };
    };
    const watch = window.watch;
    window.watch = (conn) => {
      watch(conn);
      window.receiveFiles(conn);
      return conn;
    };
    if (window.conn) window.receiveFiles(window.conn);
  });
}

/** SHA-256 (hex) of a File kept in the page as window.received[key], read there. */
export function pageFileSha256(page, key) {
  return page.evaluate(async (k) => {
    const buf = await window.received[k].arrayBuffer();
    const h = await crypto.subtle.digest('SHA-256', buf);
    return [...new Uint8Array(h)].map((x) => x.toString(16).padStart(2, '0')).join('');
  }, key);
}
