// The web app (web/index.html, web/app/, web/sw.js) driven the way people
// use it: two people in two browser contexts, one on a phone-sized screen,
// through the UI only (clicks and typing, found by role and label), against
// a real webrtc2d with guest sign-in on. Screenshots of a call are written
// under ${W2_BUILD_DIR:-build}/artifacts/.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { shellPaths, shellVersion, stampedVersion } from '../../scripts/sw-version.mjs';
import { httpGet, LIMITS, mintToken, nowS, uniqueUser } from '../integration/lib.mjs';
import { launchBrowser } from './browser.mjs';
import { startWebDaemon, waitFor, WEB } from './pages.mjs';

const ARTIFACTS = path.resolve(process.env.W2_BUILD_DIR ?? 'build', 'artifacts');
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 800 } };
/** UI waits: generous for a loaded CI machine, far below the file's budget. */
const UI_MS = 15000;

describe('the web app between two people in Chromium', () => {
  let d;
  let browser;
  let base;
  before(async () => {
    [d, browser] = await Promise.all([
      startWebDaemon(undefined, {
        auth: ['guest_tokens: true'],
        // Every open app is in the room `people`: more than the default 3.
        limits: { ...LIMITS, room_size: 32, sessions_per_user: 4 },
      }),
      launchBrowser(),
    ]);
    base = `http://127.0.0.1:${d.port}`;
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    assert.deepEqual(pageErrors, [], 'no uncaught exceptions in the pages');
    await browser?.close();
    await d?.stop();
  });

  /** Uncaught exceptions of any page: there must be none. */
  const pageErrors = [];

  /** A new person (browser context) with the app open at the sign-in page. */
  async function openApp(device = DESKTOP, url = base) {
    const ctx = await browser.newContext(device);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${url}/`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: UI_MS });
    return page;
  }

  /** Signs in by name through the form; waits for the home view. */
  async function signIn(page, name) {
    await page.getByLabel('Your name').fill(name);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText(`Signed in as ${name}`, { exact: true }).waitFor({ timeout: UI_MS });
    await page.getByRole('heading', { name: 'Online now' }).waitFor({ timeout: UI_MS });
  }

  /** The row of `name` in the list of people online. */
  function person(page, name) {
    return page.getByRole('listitem').filter({ has: page.getByText(name, { exact: true }) });
  }

  /** Waits until the status region says something matching `re`. */
  async function statusMatches(page, re) {
    const text = await waitFor(page, (src) => {
      const t = document.getElementById('status')?.textContent ?? '';
      return new RegExp(src).test(t) && t;
    }, UI_MS, re.source);
    return text;
  }

  /** True when the remote <video> plays live tracks and its time advances. */
  async function remoteVideoPlays(page) {
    const t0 = await waitFor(page, () => {
      const v = /** @type {HTMLVideoElement} */ (document.getElementById('remote-video'));
      const s = /** @type {MediaStream | null} */ (v.srcObject);
      const live = s && s.getVideoTracks().some((t) => t.readyState === 'live');
      return live && v.currentTime > 0 && v.videoWidth > 0 && { t: v.currentTime };
    }, UI_MS);
    await waitFor(page, (t) => document.getElementById('remote-video').currentTime > t + 0.3, UI_MS, t0.t);
  }

  async function screenshot(page, name) {
    const file = path.join(ARTIFACTS, name);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`screenshot: ${file}`);
  }

  test('sign in, see each other, call, accept, video both ways, chat, controls, stats, hang up', async () => {
    const [na, nb] = [uniqueUser('ann'), uniqueUser('bob')];
    const [pa, pb] = await Promise.all([openApp(DESKTOP), openApp(PHONE)]);
    await signIn(pa, na);
    await signIn(pb, nb);
    await person(pa, nb).waitFor({ timeout: UI_MS });
    await person(pb, na).waitFor({ timeout: UI_MS });

    // A reload signs back in with the token kept in sessionStorage.
    await pb.reload();
    await pb.getByText(`Signed in as ${nb}`, { exact: true }).waitFor({ timeout: UI_MS });
    await person(pb, na).waitFor({ timeout: UI_MS });
    await person(pa, nb).waitFor({ timeout: UI_MS });
    // The token is in sessionStorage, not in the address.
    assert.ok(!pb.url().includes('token') && !pb.url().includes('eyJ'), pb.url());

    await pa.getByRole('button', { name: `Call ${nb}` }).click();
    const ringing = pb.getByRole('alertdialog', { name: 'Incoming call' });
    await ringing.waitFor({ timeout: UI_MS });
    assert.match(await ringing.textContent(), new RegExp(`${na} wants to start a video call`));
    await pb.getByRole('button', { name: 'Accept' }).click();

    await pa.getByRole('heading', { name: `In call with ${nb}` }).waitFor({ timeout: UI_MS });
    await pb.getByRole('heading', { name: `In call with ${na}` }).waitFor({ timeout: UI_MS });
    await Promise.all([remoteVideoPlays(pa), remoteVideoPlays(pb)]);

    // Chat, both ways, through the form.
    await pa.getByLabel('Message').fill('hello from ann');
    await pa.getByRole('button', { name: 'Send', exact: true }).click();
    await pb.getByRole('listitem').filter({ hasText: `${na}: hello from ann` }).waitFor({ timeout: UI_MS });
    await pb.getByLabel('Message').fill('hi ann');
    await pb.getByLabel('Message').press('Enter');
    await pa.getByRole('listitem').filter({ hasText: `${nb}: hi ann` }).waitFor({ timeout: UI_MS });

    // The quality panel: a direct path on loopback, a score, a round trip.
    await waitFor(pa, () => /^host\b/.test(document.getElementById('stat-path').textContent), UI_MS);
    await waitFor(pa, () => Number(document.getElementById('stat-quality').dataset.score) >= 4, UI_MS);
    await waitFor(pb, () => /^host\b/.test(document.getElementById('stat-path').textContent), UI_MS);
    assert.match(await pa.locator('#stat-rtt').textContent(), /^\d+ ms$/);
    assert.match(await pa.locator('#stat-bitrate').textContent(), /^\d+ kbit\/s$/);

    // Mute and camera off act on the tracks, and the buttons say what they do next.
    const tracks = () => pa.evaluate(() => {
      const s = /** @type {MediaStream} */ (document.getElementById('local-video').srcObject);
      return { audio: s.getAudioTracks()[0].enabled, video: s.getVideoTracks()[0].enabled };
    });
    await pa.getByRole('button', { name: 'Mute' }).click();
    await pa.getByRole('button', { name: 'Camera off' }).click();
    assert.deepEqual(await tracks(), { audio: false, video: false });
    await statusMatches(pa, /Camera off/);
    await pa.getByRole('button', { name: 'Unmute' }).click();
    await pa.getByRole('button', { name: 'Camera on' }).click();
    assert.deepEqual(await tracks(), { audio: true, video: true });

    // Screen share (Chromium's fake capture picks a screen) and back.
    await pb.getByRole('button', { name: 'Share screen' }).click();
    await statusMatches(pb, /sharing your screen/);
    await pb.getByRole('button', { name: 'Stop sharing' }).click();
    await statusMatches(pb, /stopped sharing/);

    await screenshot(pa, 'app-call-desktop.png');
    await screenshot(pb, 'app-call-phone.png');

    await pa.getByRole('button', { name: 'Hang up' }).click();
    for (const p of [pa, pb]) {
      await p.getByRole('heading', { name: 'Online now' }).waitFor({ timeout: UI_MS });
      assert.equal(await p.locator('#view-call').isHidden(), true);
    }
    await statusMatches(pb, new RegExp(`${na} hung up`));
    await statusMatches(pa, new RegExp(`Call with ${nb} ended`));
    // Both are idle again: the call buttons work.
    assert.equal(await pa.getByRole('button', { name: `Call ${nb}` }).isEnabled(), true);
    await screenshot(pb, 'app-idle-phone.png');

    // Signing out forgets the token: a reload shows the sign-in page.
    await pb.getByRole('button', { name: 'Sign out' }).click();
    await pb.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: UI_MS });
    await person(pa, nb).waitFor({ state: 'detached', timeout: UI_MS });
    await pb.reload();
    await pb.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: UI_MS });
    assert.equal(await pb.getByRole('button', { name: 'Sign out' }).isVisible(), false);
    await Promise.all([pa.context().close(), pb.context().close()]);
  });

  test('a chat-only call, a declined call, camera denied, a taken name, a bad token, a pasted token that expires', async () => {
    const [na, nb] = [uniqueUser('cat'), uniqueUser('dan')];
    const [pa, pb] = await Promise.all([openApp(DESKTOP), openApp(PHONE)]);
    await signIn(pa, na);
    await signIn(pb, nb);
    await person(pa, nb).waitFor({ timeout: UI_MS });

    // Chat only: no camera, no video, the chat works.
    await pa.getByRole('button', { name: `Chat with ${nb}` }).click();
    await pb.getByText(`${na} wants to start a chat.`).waitFor({ timeout: UI_MS });
    await pb.getByRole('button', { name: 'Accept' }).click();
    await pa.getByRole('heading', { name: `In call with ${nb}` }).waitFor({ timeout: UI_MS });
    assert.equal(await pa.getByRole('button', { name: 'Mute' }).isVisible(), false);
    await pa.getByLabel('Message').fill('text only');
    await pa.getByRole('button', { name: 'Send', exact: true }).click();
    await pb.getByRole('listitem').filter({ hasText: `${na}: text only` }).waitFor({ timeout: UI_MS });
    await pb.getByRole('button', { name: 'Hang up' }).click();
    await statusMatches(pa, new RegExp(`${nb} hung up`));

    // Declined: the caller is told.
    await pa.getByRole('button', { name: `Call ${nb}` }).click();
    await pb.getByRole('alertdialog', { name: 'Incoming call' }).waitFor({ timeout: UI_MS });
    await pb.getByRole('button', { name: 'Decline' }).click();
    await statusMatches(pa, new RegExp(`${nb} declined the call`));
    await statusMatches(pb, /You declined/);
    await pa.getByRole('heading', { name: 'Online now' }).waitFor({ timeout: UI_MS });
    assert.equal(await pa.getByRole('button', { name: `Call ${nb}` }).isEnabled(), true);

    // The camera and microphone refused (as a browser does when the user
    // says no): the caller is told why, nothing rings.
    await pa.evaluate(() => {
      navigator.mediaDevices.getUserMedia = async () => { throw new DOMException('Permission denied', 'NotAllowedError'); };
    });
    await pa.getByRole('button', { name: `Call ${nb}` }).click();
    await statusMatches(pa, /access was denied/);
    assert.equal(await pb.getByRole('alertdialog', { name: 'Incoming call' }).isVisible(), false);
    assert.equal(await pa.getByRole('button', { name: `Call ${nb}` }).isEnabled(), true);

    // A name in use by someone signed in now (409).
    const pc = await openApp(PHONE);
    await pc.getByLabel('Your name').fill(na);
    await pc.getByRole('button', { name: 'Sign in', exact: true }).click();
    const taken = await statusMatches(pc, /in use/);
    assert.match(taken, /That name is in use/);
    await screenshot(pc, 'app-name-taken-phone.png');

    // A pasted token the server refuses.
    await pc.getByLabel('Access token').fill('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bm90LWEtc2lnbmF0dXJl');
    await pc.getByRole('button', { name: 'Sign in with token' }).click();
    assert.match(await statusMatches(pc, /refused the token/), /invalid or has expired/);
    assert.equal(await pc.getByLabel('Access token').inputValue(), '', 'the token does not stay in the page');
    assert.equal(await pc.evaluate(() => sessionStorage.getItem('webrtc2.token')), null);

    // A token of the organisation's identity provider, pasted: it signs in,
    // and when it expires the app goes back to the sign-in page and says why.
    const nc = uniqueUser('idp');
    await pc.getByLabel('Access token').fill(mintToken(nc, { claims: { exp: nowS() + 4 } }));
    await pc.getByRole('button', { name: 'Sign in with token' }).click();
    await pc.getByText(`Signed in as ${nc}`, { exact: true }).waitFor({ timeout: UI_MS });
    await person(pa, nc).waitFor({ timeout: UI_MS });
    await pc.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: UI_MS });
    await statusMatches(pc, /sign-in has expired/);
    await person(pa, nc).waitFor({ state: 'detached', timeout: UI_MS });
    await Promise.all([pa, pb, pc].map((p) => p.context().close()));
  });

  test('files: dropped on a person starts a chat and offers them; accepted, they arrive verified; decline and cancel', async () => {
    const [na, nb] = [uniqueUser('eve'), uniqueUser('fay')];
    const [pa, pb] = await Promise.all([openApp(DESKTOP), openApp(PHONE)]);
    await signIn(pa, na);
    await signIn(pb, nb);
    await person(pa, nb).waitFor({ timeout: UI_MS });
    // A 3 MB file, dropped on the person (a DataTransfer made in the page:
    // what a drag from the desktop delivers).
    const bytes = crypto.randomBytes(3 * 1000 * 1000);
    const want = crypto.createHash('sha256').update(bytes).digest('hex');
    await pa.evaluate(async ([b64, who]) => {
      const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([data], 'report.bin', { type: 'application/octet-stream' }));
      const row = [...document.querySelectorAll('#people li')].find((li) => li.dataset.peer?.startsWith(`${who}@`));
      row.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, [bytes.toString('base64'), nb]);
    await pb.getByText(`${na} wants to start a chat.`).waitFor({ timeout: UI_MS });
    await pb.getByRole('button', { name: 'Accept' }).click();
    // The offer shows on the receiver with name and size; accepting shows
    // progress, then the verified hash on both sides.
    const offer = pb.locator('#transfers li').filter({ hasText: 'report.bin (3.0 MB)' });
    await offer.getByRole('button', { name: 'Accept' }).click({ timeout: UI_MS });
    await pb.getByText(`Done. SHA-256 ${want}`).waitFor({ timeout: 60000 });
    await pa.getByText(`Done. SHA-256 ${want}`).waitFor({ timeout: UI_MS });
    await screenshot(pb, 'app-file-received-phone.png');
    // "Save" hands over the received file: the same bytes.
    const saved = await pb.evaluate(async () => {
      const a = /** @type {HTMLAnchorElement} */ (document.querySelector('#transfers a[download]'));
      const buf = await (await fetch(a.href)).arrayBuffer();
      const h = await crypto.subtle.digest('SHA-256', buf);
      return { name: a.download, hash: [...new Uint8Array(h)].map((x) => x.toString(16).padStart(2, '0')).join('') };
    });
    assert.deepEqual(saved, { name: 'report.bin', hash: want });

    // The "Send files" button: a file the other side declines.
    const tmp = path.join(os.tmpdir(), `w2-app-${process.pid}-declined.txt`);
    fs.writeFileSync(tmp, 'not wanted\n');
    await pa.locator('#file-pick').setInputFiles(tmp);
    const declined = pb.locator('#transfers li').filter({ hasText: path.basename(tmp) });
    await declined.getByRole('button', { name: 'Decline' }).click({ timeout: UI_MS });
    await pa.locator('#transfers li').filter({ hasText: path.basename(tmp) })
      .getByText('Failed: it was declined.').waitFor({ timeout: UI_MS });
    fs.rmSync(tmp, { force: true });

    // A larger file, paused and cancelled by the sender: both sides say so.
    const big = path.join(os.tmpdir(), `w2-app-${process.pid}-big.bin`);
    fs.writeFileSync(big, crypto.randomBytes(40 * 1000 * 1000));
    await pa.locator('#file-pick').setInputFiles(big);
    const inRow = pb.locator('#transfers li').filter({ hasText: path.basename(big) });
    await inRow.getByRole('button', { name: 'Accept' }).click({ timeout: UI_MS });
    const outRow = pa.locator('#transfers li').filter({ hasText: path.basename(big) });
    await outRow.getByText(/MB of 40 MB/).waitFor({ timeout: UI_MS });
    await outRow.getByRole('button', { name: 'Cancel' }).click();
    await outRow.getByText('Failed: it was cancelled.').waitFor({ timeout: UI_MS });
    await inRow.getByText('Failed: it was cancelled.').waitFor({ timeout: UI_MS });
    fs.rmSync(big, { force: true });
    await Promise.all([pa, pb].map((p) => p.context().close()));
  });

  test('a banner shows while the server is away; the list of people is back after it returns', async () => {
    const opts = { auth: ['guest_tokens: true'], limits: { ...LIMITS, room_size: 32 } };
    let d2 = await startWebDaemon(undefined, opts);
    const url = `http://127.0.0.1:${d2.port}`;
    try {
      const [na, nb] = [uniqueUser('eve'), uniqueUser('fay')];
      const [pa, pb] = await Promise.all([openApp(PHONE, url), openApp(DESKTOP, url)]);
      await signIn(pa, na);
      await signIn(pb, nb);
      await person(pa, nb).waitFor({ timeout: UI_MS });
      await d2.stop();
      const banner = pa.getByRole('alert').filter({ hasText: 'Reconnecting' });
      await banner.waitFor({ timeout: UI_MS });
      await screenshot(pa, 'app-reconnecting-phone.png');
      d2 = await startWebDaemon(Number(new URL(url).port), opts);
      await banner.waitFor({ state: 'hidden', timeout: UI_MS });
      await pa.getByText(`Signed in as ${na}`, { exact: true }).waitFor({ timeout: UI_MS });
      await person(pa, nb).waitFor({ timeout: UI_MS });
      await person(pb, na).waitFor({ timeout: UI_MS });
      // Still usable: a chat-only call goes through the restarted server.
      await pb.getByRole('button', { name: `Chat with ${na}` }).click();
      await pa.getByRole('button', { name: 'Accept' }).click();
      await pb.getByRole('heading', { name: `In call with ${na}` }).waitFor({ timeout: UI_MS });
      await Promise.all([pa.context().close(), pb.context().close()]);
    } finally {
      await d2.stop();
    }
  });

  test('without guest sign-in on the server only the token form shows', async () => {
    const d3 = await startWebDaemon(); // a config file without guest_tokens: off
    try {
      const page = await openApp(PHONE, `http://127.0.0.1:${d3.port}`);
      await page.getByLabel('Access token').waitFor({ timeout: UI_MS });
      await waitFor(page, () => document.getElementById('guest-form').hidden, UI_MS);
      assert.equal(await page.getByLabel('Your name').isVisible(), false);
      const name = uniqueUser('tok');
      await page.getByLabel('Access token').fill(mintToken(name));
      await page.getByRole('button', { name: 'Sign in with token' }).click();
      await page.getByText(`Signed in as ${name}`, { exact: true }).waitFor({ timeout: UI_MS });
      await page.context().close();
    } finally {
      await d3.stop();
    }
  });

  test('the manifest, icons and favicon are served with their types', async () => {
    const m = await httpGet(d.port, '/app/manifest.webmanifest');
    assert.equal(m.status, 200);
    assert.match(m.headers['content-type'], /^application\/manifest\+json\b/);
    const manifest = JSON.parse(m.body.toString());
    assert.equal(manifest.name, 'webrtc2');
    assert.equal(manifest.start_url, '/');
    assert.equal(manifest.display, 'standalone');
    assert.ok(manifest.icons.some((i) => i.sizes === '192x192' && i.type === 'image/png'));
    assert.ok(manifest.icons.some((i) => i.sizes === '512x512' && i.type === 'image/png'));
    for (const icon of manifest.icons) {
      const r = await httpGet(d.port, icon.src);
      assert.equal(r.status, 200, icon.src);
      assert.equal(r.headers['content-type'], icon.type, icon.src);
      if (icon.type === 'image/png') {
        assert.equal(r.body.subarray(1, 4).toString(), 'PNG');
        const [w, h] = icon.sizes.split('x').map(Number);
        assert.deepEqual([r.body.readUInt32BE(16), r.body.readUInt32BE(20)], [w, h], icon.src);
      }
    }
    const ico = await httpGet(d.port, '/favicon.ico');
    assert.equal(ico.status, 200);
    assert.equal(ico.headers['content-type'], 'image/x-icon');
  });

  test('the service worker caches every shell file and none of the live endpoints', async () => {
    const shell = shellPaths(fs.readFileSync(path.join(WEB, 'sw.js'), 'utf8'));
    const files = [];
    for (const dir of ['app', 'sdk']) {
      for (const f of fs.readdirSync(path.join(WEB, dir), { recursive: true })) {
        if (fs.statSync(path.join(WEB, dir, f)).isFile()) files.push(`/${dir}/${f}`);
      }
    }
    assert.deepEqual(shell.filter((u) => u !== '/' && u !== '/favicon.ico').sort(), files.sort(),
      'sw.js SHELL lists exactly the files of web/app and web/sdk');
    // Cache first means browsers keep what they cached until sw.js changes.
    assert.equal(stampedVersion(WEB), shellVersion(WEB),
      'a shell file changed but web/sw.js still names the old cache: run `node scripts/sw-version.mjs` and commit web/sw.js');
  });

  test('the service worker activates and the app starts offline', async () => {
    const page = await openApp(PHONE);
    const scope = await waitFor(page, async () => {
      const reg = await navigator.serviceWorker.ready;
      return reg.active?.state === 'activated' && reg.scope;
    }, UI_MS);
    assert.equal(scope, `${base}/`);
    await waitFor(page, () => navigator.serviceWorker.controller !== null, UI_MS);
    const cached = await page.evaluate(async () => {
      const keys = await caches.keys();
      const urls = [];
      for (const k of keys) for (const r of await (await caches.open(k)).keys()) urls.push(new URL(r.url).pathname);
      return { keys, urls };
    });
    assert.deepEqual(cached.keys.filter((k) => k.startsWith('webrtc2-shell-')).length, 1, JSON.stringify(cached.keys));
    assert.ok(cached.urls.includes('/') && cached.urls.includes('/sdk/webrtc2.js'), JSON.stringify(cached.urls));
    assert.ok(!cached.urls.some((u) => /^\/(signal|auth\/|api\/|metrics|healthz)/.test(u)), JSON.stringify(cached.urls));

    await page.context().setOffline(true);
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: UI_MS });
    await page.getByLabel('Access token').waitFor({ timeout: UI_MS });
    // It says that the server is out of reach rather than failing silently.
    await page.getByRole('alert').filter({ hasText: 'cannot be reached' }).waitFor({ timeout: UI_MS });
    await screenshot(page, 'app-offline-phone.png');
    // Signing in offline says so, too.
    await page.getByLabel('Your name').fill('offline-user');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await statusMatches(page, /cannot be reached/);
    await page.context().close();
  });

  test('a new shell version replaces the cached one and its cache', async () => {
    const page = await openApp(DESKTOP);
    await waitFor(page, () => navigator.serviceWorker.controller !== null, UI_MS);
    const before = await page.evaluate(() => caches.keys());
    // A release: a changed page, and sw.js naming the new cache (what
    // scripts/sw-version.mjs does), in the daemon's copy of the web root.
    const root = path.join(d.dir, 'web');
    const index = path.join(root, 'index.html');
    const sw = path.join(root, 'sw.js');
    const [oldIndex, oldSw] = [fs.readFileSync(index, 'utf8'), fs.readFileSync(sw, 'utf8')];
    try {
      fs.writeFileSync(index, oldIndex.replace('<title>webrtc2</title>', '<title>webrtc2 next</title>'));
      fs.writeFileSync(sw, oldSw.replace(/const VERSION = '[^']*';/, "const VERSION = 'webrtc2-shell-next';"));
      await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update());
      await waitFor(page, async () => {
        const keys = await caches.keys();
        return keys.length === 1 && keys[0] === 'webrtc2-shell-next';
      }, UI_MS);
      await page.reload();
      assert.equal(await page.title(), 'webrtc2 next');
      assert.notDeepEqual(before, ['webrtc2-shell-next']);
    } finally {
      fs.writeFileSync(index, oldIndex);
      fs.writeFileSync(sw, oldSw);
      await page.context().close();
    }
  });
});
