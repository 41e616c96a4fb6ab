// A large file (300 MB) between two real Chromium pages: the saved file's
// SHA-256 equals what `sha256sum` prints for the original, and the
// receiving page's JS heap stays bounded (far below the file's size) while
// it arrives, because chunks stream to disk instead of piling up in memory.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { DOMAIN, mintToken, sleep, uniqueUser } from '../integration/lib.mjs';
import { launchBrowser } from './browser.mjs';
import { installFileHelpers } from './files-pages.mjs';
import { pageCall, pageClient, startWebDaemon, waitFor } from './pages.mjs';

const MB = 1000 * 1000;
const SIZE = 300 * MB;
/** The receiver's JS heap may grow this much at most: ~1/9 of the file. */
const HEAP_BOUND = 32 * 1024 * 1024;

describe('a 300 MB file between two Chromium pages', { timeout: 290000 }, () => {
  let d;
  let browser;
  let file;
  before(async () => {
    file = path.join(os.tmpdir(), `w2-large-${process.pid}.bin`);
    // Random bytes written in 1 MB blocks: the test never holds the file.
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < SIZE / MB; i++) fs.writeSync(fd, crypto.randomBytes(MB));
    fs.closeSync(fd);
    [d, browser] = await Promise.all([startWebDaemon(), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await d?.stop();
    if (file) fs.rmSync(file, { force: true });
  });

  test('arrives whole: the receiver\'s hash equals sha256sum of the original; its JS heap stays bounded', async () => {
    const users = [uniqueUser('la'), uniqueUser('lb')];
    const [pa, pb] = await Promise.all(users.map(async () => {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`http://127.0.0.1:${d.port}/`);
      return page;
    }));
    const ids = await Promise.all([pa, pb].map((p, i) => pageClient(p, { token: mintToken(users[i]), autoAccept: {} })));
    for (const id of ids) assert.ok(id.peerId, JSON.stringify(id));
    await Promise.all([pa, pb].map((p) => installFileHelpers(p)));
    const call = await pageCall(pa, `${users[1]}@${DOMAIN}`);
    assert.ok(call.ok, JSON.stringify(call));
    await waitFor(pb, () => window.conn?.state === 'connected');

    // The original's hash, as the command-line tool prints it.
    const sum = spawnSync('sha256sum', [file], { encoding: 'utf8' });
    assert.equal(sum.status, 0, sum.stderr);
    const want = sum.stdout.split(/\s+/)[0];

    // The receiver's JS heap, from the DevTools protocol, every 250 ms.
    const cdp = await pb.context().newCDPSession(pb);
    await cdp.send('Performance.enable');
    const heap = async () => {
      const { metrics } = await cdp.send('Performance.getMetrics');
      return metrics.find((m) => m.name === 'JSHeapUsedSize').value;
    };
    await pb.evaluate(() => window.gc?.());
    const base = await heap();
    let peak = base;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await heap());
        await sleep(250);
      }
    })();

    // The sender picks the file as a user would: a file input (the browser
    // reads it from disk as it is sent; the page never holds it).
    await pa.evaluate(() => {
      const input = document.createElement('input');
      input.type = 'file';
      input.id = 'large-pick';
      document.body.append(input);
    });
    await pa.locator('#large-pick').setInputFiles(file);
    const t0 = Date.now();
    await pa.evaluate(() => {
      const f = /** @type {HTMLInputElement} */ (document.getElementById('large-pick')).files[0];
      window.track(window.conn.sendFile({ file: f, encryption: 'ChaCha20-Poly1305', integrity: 'SHA-256', resumable: true }), 'large');
    });
    const key = path.basename(file);
    const rx = await waitFor(pb, (k) => window.tx[k] && (window.tx[k].complete || window.tx[k].error) && window.tx[k],
      270000, key);
    const secs = (Date.now() - t0) / 1000;
    sampling = false;
    await sampler;

    assert.equal(rx.error, null, JSON.stringify(rx.error));
    assert.equal(rx.complete.hash, want, 'the hash the receiver checked equals sha256sum of the original');
    assert.equal(rx.complete.size, SIZE);
    assert.equal(rx.complete.fileSize, SIZE, 'the File read back from storage is whole');
    const tx = await waitFor(pa, () => window.tx.large?.complete ?? window.tx.large?.error, 15000);
    assert.equal(tx.hash, want, JSON.stringify(tx));
    const growth = peak - base;
    console.log(`# 300 MB encrypted: ${secs.toFixed(1)} s, ${(SIZE / secs / MB).toFixed(2)} MB/s; `
      + `receiver JS heap ${(base / 2 ** 20).toFixed(1)} MiB, peak growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    assert.ok(growth < HEAP_BOUND, `receiver JS heap grew ${growth} bytes (bound ${HEAP_BOUND}) for a ${SIZE}-byte file`);
    await Promise.all([pa, pb].map((p) => p.context().close()));
  });
});
