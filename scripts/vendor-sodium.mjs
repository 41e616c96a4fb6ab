#!/usr/bin/env node
// Copies libsodium's ESM build (npm libsodium-wrappers-sumo, pinned in
// package.json) into web/sdk/vendor/, where webrtc2d serves it with the SDK.
//
// The SDK has no build step, so the browser must be able to load the two
// modules as they are: the wrapper's bare `import ... from "libsodium-sumo"`
// is rewritten to the relative './libsodium-sumo.mjs'. The "sumo" build is
// the one that has SHA-256 (crypto_hash_sha256_*), which file transfer needs
// (docs/file-transfer.md). Run after changing the pinned version:
//
//   npm install && node scripts/vendor-sodium.mjs && node scripts/sw-version.mjs
//
// and commit web/sdk/vendor/ and web/sw.js. `--check` exits 1 when the
// vendored copy differs from what this script would write.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nm = path.join(root, 'node_modules');
const out = path.join(root, 'web/sdk/vendor');

const wrappers = path.join(nm, 'libsodium-wrappers-sumo');
const core = path.join(nm, 'libsodium-sumo');
const version = JSON.parse(fs.readFileSync(path.join(wrappers, 'package.json'), 'utf8')).version;

const wrapperSrc = fs.readFileSync(path.join(wrappers, 'dist/modules-sumo-esm/libsodium-wrappers.mjs'), 'utf8');
const bare = /from\s*["']libsodium-sumo["']/g;
if ((wrapperSrc.match(bare) ?? []).length !== 1) {
  throw new Error('libsodium-wrappers.mjs no longer has exactly one import of "libsodium-sumo"; update this script');
}
const header = (file) => `// ${file}: libsodium-wrappers-sumo ${version} (ISC, see LICENSE.txt), copied by scripts/vendor-sodium.mjs; do not edit.\n`;
const files = {
  'libsodium-wrappers.mjs': header('libsodium-wrappers.mjs') + wrapperSrc.replace(bare, 'from"./libsodium-sumo.mjs"'),
  'libsodium-sumo.mjs': header('libsodium-sumo.mjs')
    + fs.readFileSync(path.join(core, 'dist/modules-sumo-esm/libsodium-sumo.mjs'), 'utf8'),
  'LICENSE.txt': fs.readFileSync(path.join(wrappers, 'LICENSE'), 'utf8'),
};

if (process.argv.includes('--check')) {
  const stale = Object.entries(files).filter(([name, text]) => {
    const p = path.join(out, name);
    return !fs.existsSync(p) || fs.readFileSync(p, 'utf8') !== text;
  });
  console.log(stale.length ? `stale: ${stale.map(([n]) => n).join(', ')}` : `web/sdk/vendor is libsodium ${version}`);
  process.exit(stale.length ? 1 : 0);
}
fs.mkdirSync(out, { recursive: true });
for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(out, name), text);
console.log(`web/sdk/vendor: libsodium-wrappers-sumo ${version}`);
