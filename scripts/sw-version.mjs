#!/usr/bin/env node
// Stamps web/sw.js with the version of the app shell it caches.
//
// The service worker serves the shell cache first, so browsers keep the
// files they cached until sw.js itself changes. Its cache name therefore
// carries a hash of every shell file: whoever changes a file of the app or
// the SDK runs
//
//   node scripts/sw-version.mjs          (from the repository root)
//
// and commits the new sw.js with it; browsers then install the new shell
// and drop the old cache. tests/e2e/app.test.mjs fails while the stamp is
// stale; `--check` does the same check here (exit status 1).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const VERSION_RE = /const VERSION = 'webrtc2-shell-([0-9a-z]+)';/;

/**
 * The shell list of sw.js (the paths between `const SHELL = [` and `];`).
 * @param {string} swSource
 * @returns {string[]}
 */
export function shellPaths(swSource) {
  const m = /const SHELL = \[([\s\S]*?)\];/.exec(swSource);
  if (!m) throw new Error('sw.js has no "const SHELL = [...]"');
  return [...m[1].matchAll(/'([^']+)'/g)].map((x) => x[1]);
}

/**
 * The version the shell files in `webDir` have now: 12 hex digits of a
 * SHA-256 over each path and its content, in list order.
 * @param {string} webDir
 */
export function shellVersion(webDir) {
  const h = crypto.createHash('sha256');
  for (const p of shellPaths(fs.readFileSync(path.join(webDir, 'sw.js'), 'utf8'))) {
    h.update(`${p}\n`);
    h.update(fs.readFileSync(path.join(webDir, p === '/' ? 'index.html' : p.slice(1))));
  }
  return h.digest('hex').slice(0, 12);
}

/**
 * The version sw.js is stamped with now.
 * @param {string} webDir
 */
export function stampedVersion(webDir) {
  return VERSION_RE.exec(fs.readFileSync(path.join(webDir, 'sw.js'), 'utf8'))?.[1] ?? null;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../web');
  const want = shellVersion(web);
  const have = stampedVersion(web);
  if (process.argv.includes('--check')) {
    console.log(have === want ? `sw.js is up to date (${want})` : `sw.js says ${have}, the shell is ${want}`);
    process.exit(have === want ? 0 : 1);
  }
  const file = path.join(web, 'sw.js');
  const src = fs.readFileSync(file, 'utf8');
  if (!VERSION_RE.test(src)) throw new Error('sw.js has no "const VERSION = \'webrtc2-shell-...\';" line');
  fs.writeFileSync(file, src.replace(VERSION_RE, `const VERSION = 'webrtc2-shell-${want}';`));
  console.log(`web/sw.js: webrtc2-shell-${want}`);
}
