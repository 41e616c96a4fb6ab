// The one place that knows how to start Debian's Chromium for webrtc2 tests
// (../shared/RIGS.md): headless, no sandbox (root), no background networking
// (the machine has no internet), fake camera and microphone, loopback ICE
// candidates allowed and not hidden behind mDNS names.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

export const CHROMIUM = process.env.W2_CHROMIUM || '/usr/bin/chromium';

// Chromium honours only the LAST --disable-features switch, and Playwright
// already passes one of its own. So the list Playwright would pass is read
// from the installed playwright-core and passed again, joined with ours.
function playwrightDisabledFeatures() {
  const dir = path.dirname(require.resolve('playwright-core/package.json'));
  for (const rel of ['lib/server/chromium/chromiumSwitches.js', 'lib/coreBundle.js',
    'lib/server/electron/loader.js']) {
    const file = path.join(dir, rel);
    if (!fs.existsSync(file)) continue;
    const m = fs.readFileSync(file, 'utf8').match(/disabledFeatures\s*=\s*\[([\s\S]*?)\]/);
    if (m) return [...m[1].matchAll(/"([A-Za-z0-9_]+)"/g)].map((x) => x[1]);
  }
  throw new Error('cannot find Playwright\'s --disable-features list; update tests/e2e/browser.mjs');
}

const OUR_DISABLED_FEATURES = ['WebRtcHideLocalIpsWithMdns'];

export function chromiumArgs() {
  const features = [...new Set([...playwrightDisabledFeatures(), ...OUR_DISABLED_FEATURES])];
  return [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-default-apps', '--disable-domain-reliability', '--no-pings',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    '--allow-loopback-in-peer-connection',
    `--disable-features=${features.join(',')}`,
  ];
}

/** Launches headless Chromium; the caller closes it. */
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: chromiumArgs() });
}
