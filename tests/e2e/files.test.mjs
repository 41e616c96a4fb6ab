// File transfer (docs/file-transfer.md, the SDK's files*.js) between two
// real Chromium pages through a real webrtc2d: a data-only call, then files
// sent with connection.sendFile() and received into OPFS by connection.onFile.
// Every file is made from a seeded PRNG, so Node's SHA-256 of the same bytes
// is the reference both sides' hashes must equal.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DOMAIN, mintToken, sleep, uniqueUser } from '../integration/lib.mjs';
import { launchBrowser } from './browser.mjs';
import { installFileHelpers, pageFileSha256, prngSha256 } from './files-pages.mjs';
import { pageCall, pageClient, startWebDaemon, waitFor } from './pages.mjs';

const MB = 1000 * 1000;

describe('file transfer between two Chromium pages', { timeout: 240000 }, () => {
  let d;
  let browser;
  before(async () => {
    [d, browser] = await Promise.all([startWebDaemon(), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await d?.stop();
  });

  /** Two users (a sends, b receives), connected by a data-only call. */
  async function connectedPair() {
    const users = [uniqueUser('fa'), uniqueUser('fb')];
    const pages = await Promise.all(users.map(async () => {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
      await page.goto(`http://127.0.0.1:${d.port}/`);
      return page;
    }));
    const ids = await Promise.all(pages.map((p, i) => pageClient(p, { token: mintToken(users[i]), autoAccept: {} })));
    for (const id of ids) assert.ok(id.peerId, JSON.stringify(id));
    const [pa, pb] = pages;
    await Promise.all(pages.map((p) => installFileHelpers(p)));
    const b = `${users[1]}@${DOMAIN}`;
    const call = await pageCall(pa, b);
    assert.ok(call.ok, JSON.stringify(call));
    await waitFor(pb, () => window.conn?.state === 'connected');
    return { pa, pb, b };
  }

  async function closePages(...pages) {
    await Promise.all(pages.map((p) => p.context().close()));
  }

  /** Starts sendFile() in the sender's page with a PRNG file; `opts` are sendFile's. */
  function send(page, key, seed, size, opts = {}) {
    return page.evaluate(([k, s, n, o]) => {
      const file = window.makeFile(s, n, k.split('/').pop());
      window.track(window.conn.sendFile({ file, ...o }), k);
      return window.tr[k].id;
    }, [key, seed, size, opts]);
  }

  /** Waits until the transfer `key` in `page` completed or failed; returns its record. */
  async function settled(page, key, timeout = 60000) {
    await waitFor(page, (k) => window.tx[k] && (window.tx[k].complete || window.tx[k].error), timeout, key);
    return page.evaluate((k) => ({ ...window.tx[k], stats: { ...window.tr[k].stats }, state: window.tr[k].state }), key);
  }

  /**
   * What `read()` gives once it stopped changing (the same twice, 1 s apart,
   * within 20 s), after one more second for anything still on its way.
   */
  async function steady(read) {
    let v = await read();
    for (const deadline = Date.now() + 20000; Date.now() < deadline;) {
      await sleep(1000);
      const now = await read();
      if (now === v) break;
      v = now;
    }
    await sleep(1000);
    return v;
  }

  /** Whether the receiver's OPFS still has a folder for transfer `id`. */
  function storedPart(page, id) {
    return page.evaluate(async (i) => {
      const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('webrtc2-files', { create: true });
      try {
        await root.getDirectoryHandle(i);
        return true;
      } catch {
        return false;
      }
    }, id);
  }

  test('a 20 MB file, encrypted: both hashes equal Node\'s SHA-256, the received File is whole', async () => {
    const { pa, pb } = await connectedPair();
    const size = 20 * MB;
    const sodiumLoaded = (page) => page.evaluate(() => performance.getEntriesByType('resource').some((e) => e.name.includes('/sdk/vendor/libsodium')));
    assert.equal(await sodiumLoaded(pa), false, 'libsodium is not loaded before a transfer');
    assert.equal(await sodiumLoaded(pb), false, 'libsodium is not loaded before a transfer');
    const t0 = Date.now();
    const id = await send(pa, 'big.bin', 1, size, { encryption: 'ChaCha20-Poly1305', integrity: 'SHA-256', resumable: true });
    const rx = await settled(pb, 'big.bin', 90000);
    const tx = await settled(pa, 'big.bin', 10000);
    const secs = (Date.now() - t0) / 1000;
    assert.equal(rx.error, null, JSON.stringify(rx.error));
    assert.equal(tx.error, null, JSON.stringify(tx.error));
    const want = prngSha256(1, size);
    assert.equal(tx.complete.hash, want, 'the sender\'s hash is Node\'s');
    assert.equal(rx.complete.hash, want, 'the receiver\'s hash (read back from OPFS) is Node\'s');
    assert.equal(rx.complete.fileSize, size);
    assert.equal(rx.complete.fileName, 'big.bin');
    assert.equal(await pageFileSha256(pb, 'big.bin'), want, 'the File onComplete gave reads back whole');
    assert.equal(rx.last.percentage, 100);
    assert.equal(rx.last.bytes, size);
    assert.ok(rx.maxRate > 0 && tx.maxRate > 0, 'bytesPerSecond was reported');
    assert.equal(tx.stats.chunksSent, Math.ceil(size / 65536), 'every chunk sent once');
    assert.equal(rx.stats.chunksFailed, 0);
    // libsodium came in only with the transfer: the offer names it.
    assert.deepEqual(await pb.evaluate(() => window.offers.map((o) => [o.name, o.size, o.resumedBytes])), [['big.bin', size, 0]]);
    assert.ok(await storedPart(pb, id), 'the file stays in OPFS');
    assert.equal(await sodiumLoaded(pb), true);
    assert.equal(await pb.evaluate(() => window.tr['big.bin'].storage), 'worker', 'written in place by the storage worker');
    console.log(`# 20 MB encrypted: ${secs.toFixed(1)} s, ${(size / secs / MB).toFixed(1)} MB/s end to end`);
    await closePages(pa, pb);
  });

  test('several files at once: unencrypted, two lanes, a folder path, an empty file, one into a chosen file handle', async () => {
    const { pa, pb } = await connectedPair();
    // b.bin goes to a file the "user" picked (a handle of its own, outside the SDK's folder).
    await pb.evaluate(() => {
      window.chooseHandle = async (incoming) => (incoming.name === 'b.bin'
        ? (await navigator.storage.getDirectory()).getFileHandle('picked-b.bin', { create: true }) : null);
    });
    const files = [
      { key: 'folder/a.bin', seed: 2, size: 3 * MB + 7, opts: { encryption: 'none', path: 'folder/a.bin' } },
      { key: 'folder/sub/b.bin', seed: 3, size: 4 * MB, opts: { lanes: 2, chunkSize: 262100, path: 'folder/sub/b.bin' } },
      { key: 'empty.txt', seed: 4, size: 0, opts: {} },
    ];
    for (const f of files) await send(pa, f.key, f.seed, f.size, f.opts);
    for (const f of files) {
      const rx = await settled(pb, f.key, 60000);
      const tx = await settled(pa, f.key, 10000);
      assert.equal(rx.error, null, `${f.key}: ${JSON.stringify(rx.error)}`);
      assert.equal(rx.complete.hash, prngSha256(f.seed, f.size), f.key);
      assert.equal(tx.complete.hash, rx.complete.hash, f.key);
      assert.equal(rx.complete.fileSize, f.size, f.key);
      assert.equal(rx.complete.path, f.opts.path ?? '', f.key);
    }
    const offers = await pb.evaluate(() => window.offers.map((o) => o.path || o.name).sort());
    assert.deepEqual(offers, ['empty.txt', 'folder/a.bin', 'folder/sub/b.bin']);
    const picked = await pb.evaluate(async () => {
      const f = await (await (await navigator.storage.getDirectory()).getFileHandle('picked-b.bin')).getFile();
      return { size: f.size, sameAsOnComplete: window.received['folder/sub/b.bin'].name === f.name };
    });
    assert.deepEqual(picked, { size: 4 * MB, sameAsOnComplete: true }, 'b.bin was written into the picked file');
    assert.deepEqual(await pb.evaluate(() => [window.tr['folder/a.bin'].storage, window.tr['folder/sub/b.bin'].storage]),
      ['worker', 'writable']);
    await closePages(pa, pb);
  });

  test('reject: the sender\'s transfer fails with rejected; cancel: both sides stop and the part is deleted', async () => {
    const { pa, pb } = await connectedPair();
    await pb.evaluate(() => { window.fileMode = 'reject'; });
    await send(pa, 'no.bin', 5, 1 * MB);
    const rej = await settled(pa, 'no.bin', 10000);
    assert.equal(rej.error?.code, 'rejected', JSON.stringify(rej));
    assert.equal(rej.state, 'failed');

    await pb.evaluate(() => { window.fileMode = 'accept'; });
    const id = await send(pa, 'gone.bin', 6, 20 * MB);
    await waitFor(pb, () => window.tx['gone.bin']?.last?.bytes > 2e6, 30000);
    await pa.evaluate(() => window.tr['gone.bin'].cancel());
    const tx = await settled(pa, 'gone.bin', 5000);
    const rx = await settled(pb, 'gone.bin', 10000);
    assert.equal(tx.error?.code, 'cancelled');
    assert.equal(rx.error?.code, 'cancelled');
    assert.equal(rx.complete, null);
    assert.equal(rx.state, 'cancelled');
    await waitFor(pb, async (i) => {
      const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('webrtc2-files');
      try { await root.getDirectoryHandle(i); return false; } catch { return true; }
    }, 5000, id);
    await closePages(pa, pb);
  });

  test('pause stops the flow, resume finishes it', async () => {
    const { pa, pb } = await connectedPair();
    const size = 12 * MB;
    await send(pa, 'p.bin', 7, size);
    await waitFor(pb, () => window.tx['p.bin']?.last?.bytes > 2e6, 30000);
    await pa.evaluate(() => window.tr['p.bin'].pause());
    assert.equal(await pa.evaluate(() => window.tr['p.bin'].state), 'paused');
    const sentAtPause = await pa.evaluate(() => window.tr['p.bin'].stats.chunksSent);
    // What was in flight (up to the lane's 4 MiB high water) lands, then nothing more.
    const a = await steady(() => pb.evaluate(() => window.tx['p.bin'].last.bytes));
    assert.equal(await pb.evaluate(() => window.tx['p.bin'].last.bytes), a, 'nothing arrives while paused');
    assert.ok(a < size, `paused before the end (${a})`);
    assert.equal(await pa.evaluate(() => window.tr['p.bin'].stats.chunksSent), sentAtPause, 'the sender sent nothing while paused');
    await pa.evaluate(() => window.tr['p.bin'].resume());
    const rx = await settled(pb, 'p.bin', 60000);
    assert.equal(rx.complete?.hash, prngSha256(7, size), JSON.stringify(rx.error));
    await closePages(pa, pb);
  });

  test('the receiver pauses: the sender stops sending until it resumes; a file larger than the storage quota is refused with too-large', async () => {
    const { pa, pb } = await connectedPair();
    const size = 12 * MB;
    await send(pa, 'rp.bin', 11, size);
    await waitFor(pb, () => window.tx['rp.bin']?.last?.bytes > 2e6, 30000);
    await pb.evaluate(() => window.tr['rp.bin'].pause());
    assert.equal(await pb.evaluate(() => window.tr['rp.bin'].state), 'paused');
    // What was in flight lands; then the sender is held.
    const sent = await steady(() => pa.evaluate(() => window.tr['rp.bin'].stats.chunksSent));
    assert.equal(await pa.evaluate(() => window.tr['rp.bin'].stats.chunksSent), sent, 'the sender sends nothing while the receiver is paused');
    const held = await pb.evaluate(() => window.tx['rp.bin'].last.bytes);
    assert.ok(held < size, `paused before the end (${held})`);
    await pb.evaluate(() => window.tr['rp.bin'].resume());
    const rx = await settled(pb, 'rp.bin', 60000);
    assert.equal(rx.complete?.hash, prngSha256(11, size), JSON.stringify(rx.error));

    // A Blob of one 1 MiB Blob repeated is as large as needed without
    // memory: one MiB more than the receiving origin may store.
    const quota = await pb.evaluate(async () => (await navigator.storage.estimate()).quota);
    assert.ok(quota > 0, `a quota (${quota})`);
    await pa.evaluate((parts) => {
      const part = new Blob([new Uint8Array(1 << 20)]);
      const file = new File(new Array(parts).fill(part), 'huge.bin');
      window.track(window.conn.sendFile({ file }), 'huge.bin');
    }, Math.ceil(quota / 2 ** 20) + 1);
    await waitFor(pb, () => window.acceptError, 30000);
    assert.equal(await pb.evaluate(() => window.acceptError.code), 'too-large');
    const tx = await settled(pa, 'huge.bin', 30000);
    assert.equal(tx.error?.code, 'too-large', JSON.stringify(tx.error));
    assert.match(tx.error.message, /does not fit/);
    await closePages(pa, pb);
  });

  test('a corrupted chunk is caught, nacked and sent again; one that stays corrupt fails with integrity', async () => {
    const { pa, pb } = await connectedPair();
    const size = 4 * MB;
    // Chunk 3 of the first file is corrupted once; chunk 5 of the second every time.
    await pa.evaluate(() => {
      const seen = new Set();
      window.__webrtc2TestHooks = {
        corruptChunk: (id, index) => {
          if (id === window.tr['once.bin']?.id && index === 3 && !seen.has(id)) {
            seen.add(id);
            return true;
          }
          return id === window.tr['always.bin']?.id && index === 5;
        },
      };
    });
    await send(pa, 'once.bin', 8, size);
    const rx = await settled(pb, 'once.bin', 60000);
    const tx = await settled(pa, 'once.bin', 10000);
    assert.equal(rx.error, null, JSON.stringify(rx.error));
    assert.equal(rx.complete.hash, prngSha256(8, size));
    assert.equal(rx.stats.chunksFailed, 1, 'the receiver counted the bad chunk');
    assert.equal(tx.stats.chunksResent, 1, 'the sender sent it again');
    assert.equal(tx.stats.chunksSent, Math.ceil(size / 65536) + 1);

    const id = await send(pa, 'always.bin', 9, size);
    const rx2 = await settled(pb, 'always.bin', 60000);
    const tx2 = await settled(pa, 'always.bin', 10000);
    assert.equal(rx2.error?.code, 'integrity', JSON.stringify(rx2));
    assert.equal(tx2.error?.code, 'integrity', JSON.stringify(tx2));
    assert.equal(rx2.complete, null, 'never presented as complete');
    assert.equal(rx2.stats.chunksFailed, 4, 'the first try and three resends');
    await waitFor(pb, async (i) => {
      const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('webrtc2-files');
      try { await root.getDirectoryHandle(i); return false; } catch { return true; }
    }, 5000, id);
    await closePages(pa, pb);
  });

  test('the connection is cut mid-transfer: a new call resumes it, only the missing chunks are sent', async () => {
    const { pa, pb, b } = await connectedPair();
    const size = 24 * MB;
    const n = Math.ceil(size / 65536);
    const id = await send(pa, 'cut.bin', 10, size);
    await waitFor(pb, () => window.tx['cut.bin']?.last?.bytes > 4e6, 30000);
    // The receiver's peer connection goes away under the SDK (as a crash of the path would).
    await pb.evaluate(() => window.conn.peerConnection.close());
    await waitFor(pa, () => window.tr['cut.bin'].state === 'interrupted', 20000);
    const atCut = await pa.evaluate(() => ({ ...window.tr['cut.bin'].stats }));
    const heldAtCut = await pb.evaluate(() => window.tx['cut.bin'].last.bytes);
    assert.ok(atCut.chunksSent < n, `cut before the end (${atCut.chunksSent} of ${n} sent)`);
    // The two users call again; the sender offers the file again by itself.
    const call = await pageCall(pa, b);
    assert.ok(call.ok, JSON.stringify(call));
    const rx = await settled(pb, 'cut.bin', 60000);
    const tx = await settled(pa, 'cut.bin', 10000);
    assert.equal(rx.error, null, JSON.stringify(rx.error));
    assert.equal(rx.complete.hash, prngSha256(10, size));
    assert.equal(tx.complete.hash, rx.complete.hash);
    assert.equal(rx.complete.fileSize, size);
    // The same receiving transfer went on (no second onFile) ...
    assert.deepEqual(await pb.evaluate(() => window.offers.map((o) => o.id)), [id]);
    assert.equal(tx.stats.sessions, 2);
    // ... and after the cut only what the receiver lacked was sent.
    const resumed = tx.stats.resumedChunks;
    assert.ok(resumed * 65536 >= heldAtCut - 65536, `the receiver held ${resumed} chunks, ${heldAtCut} bytes at the cut`);
    assert.equal(tx.stats.chunksSent - atCut.chunksSent, n - resumed, 'chunks sent after the cut = the missing ones');
    console.log(`# cut at ${atCut.chunksSent}/${n} chunks sent, ${resumed} held by the receiver, ${tx.stats.chunksSent - atCut.chunksSent} sent after`);
    await closePages(pa, pb);
  });

  test('the receiving page reloads mid-transfer: the stored part is found by id and only the rest is sent', async () => {
    const { pa, pb, b } = await connectedPair();
    const size = 16 * MB;
    const n = Math.ceil(size / 65536);
    const id = await send(pa, 'reload.bin', 11, size);
    // Past the first committed batch (8 MiB): state.json beside the part holds ranges.
    await waitFor(pb, async (i) => {
      try {
        const dir = await (await (await navigator.storage.getDirectory()).getDirectoryHandle('webrtc2-files')).getDirectoryHandle(i);
        const st = JSON.parse(await (await (await dir.getFileHandle('state.json')).getFile()).text());
        return st.ranges.length > 0;
      } catch {
        return false;
      }
    }, 30000, id);
    const userB = b.split('@')[0];
    await pb.reload();
    await waitFor(pa, () => window.tr['reload.bin'].state === 'interrupted', 20000);
    const atCut = await pa.evaluate(() => ({ ...window.tr['reload.bin'].stats }));
    assert.ok((await pageClient(pb, { token: mintToken(userB), autoAccept: {} })).peerId);
    await installFileHelpers(pb);
    const call = await pageCall(pa, b);
    assert.ok(call.ok, JSON.stringify(call));
    const rx = await settled(pb, 'reload.bin', 60000);
    const tx = await settled(pa, 'reload.bin', 10000);
    assert.equal(rx.error, null, JSON.stringify(rx.error));
    assert.equal(rx.complete.hash, prngSha256(11, size));
    assert.equal(tx.complete.hash, rx.complete.hash);
    const offers = await pb.evaluate(() => window.offers);
    assert.equal(offers.length, 1);
    assert.equal(offers[0].id, id);
    assert.ok(offers[0].resumedBytes >= 7 * 1024 * 1024, `the reloaded page held ${offers[0].resumedBytes} bytes`);
    assert.equal(tx.stats.resumedChunks * 65536, offers[0].resumedBytes);
    assert.equal(tx.stats.chunksSent - atCut.chunksSent, n - tx.stats.resumedChunks, 'chunks sent after the reload = the missing ones');
    console.log(`# reload: ${atCut.chunksSent}/${n} sent before, ${tx.stats.resumedChunks} held after the reload, ${tx.stats.chunksSent - atCut.chunksSent} sent after`);
    await closePages(pa, pb);
  });
});
