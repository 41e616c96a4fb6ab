// The web app's service worker. It lives at the root so that its scope is
// the whole site (`/`), and it does one thing: keep the app shell (the
// page, its modules, styles and icons, and the SDK) in a versioned cache so
// the app starts without a network.
//
// Caching rule (docs/architecture.md, "Web app"):
// - shell files: cache first; the cache is filled on install and named by
//   VERSION, and activating a new version deletes the older caches.
//   VERSION is a hash of the shell files: run `node scripts/sw-version.mjs`
//   after changing any of them, or browsers keep the old ones (the e2e test
//   of the app fails while it is stale).
// - /signal, /auth/*, /api/*, /metrics, /healthz: never cached, never
//   answered from a cache (tokens, live state).
// - anything else: the network, untouched.

const VERSION = 'webrtc2-shell-14fa4cefb802';
const CACHE_PREFIX = 'webrtc2-shell-';

/** Every file the app needs to start (tests/e2e/app.test.mjs checks the list is complete). */
const SHELL = [
  '/',
  '/favicon.ico',
  '/app/app.css',
  '/app/auth.js',
  '/app/call.js',
  '/app/chat.js',
  '/app/files.js',
  '/app/main.js',
  '/app/presence.js',
  '/app/stats-panel.js',
  '/app/ui.js',
  '/app/manifest.webmanifest',
  '/app/icons/icon.svg',
  '/app/icons/icon-192.png',
  '/app/icons/icon-512.png',
  '/sdk/backoff.js',
  '/sdk/client.js',
  '/sdk/data.js',
  '/sdk/errors.js',
  '/sdk/files.js',
  '/sdk/files-crypto.js',
  '/sdk/files-frame.js',
  '/sdk/files-receive.js',
  '/sdk/files-send.js',
  '/sdk/files-store.js',
  '/sdk/files-transfer.js',
  '/sdk/files-worker.js',
  '/sdk/handlers.js',
  '/sdk/media.js',
  '/sdk/peer.js',
  '/sdk/signaling.js',
  '/sdk/stats.js',
  '/sdk/webrtc2.js',
  '/sdk/vendor/LICENSE.txt',
  '/sdk/vendor/libsodium-sumo.mjs',
  '/sdk/vendor/libsodium-wrappers.mjs',
];

/** Paths that are live or secret: always the network, never a cache. */
const NEVER_CACHED = [/^\/signal(\/|$)/, /^\/auth\//, /^\/api\//, /^\/metrics$/, /^\/healthz$/];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(VERSION);
    // 'reload': fresh copies, not the HTTP cache's (static files carry max-age).
    await cache.addAll(SHELL.map((url) => new Request(url, { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(CACHE_PREFIX) && name !== VERSION) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (NEVER_CACHED.some((re) => re.test(url.pathname))) return;
  const key = url.pathname === '/index.html' ? '/' : url.pathname;
  if (!SHELL.includes(key)) return;
  event.respondWith(cacheFirst(req, key));
});

/**
 * The cached copy of a shell file, or the network's (which is then cached).
 * @param {Request} req
 * @param {string} key the shell path
 * @returns {Promise<Response>}
 */
async function cacheFirst(req, key) {
  const cache = await caches.open(VERSION);
  const hit = await cache.match(key, { ignoreSearch: true });
  if (hit) return hit;
  const res = await fetch(req);
  if (res.ok && res.type === 'basic') await cache.put(key, res.clone());
  return res;
}
