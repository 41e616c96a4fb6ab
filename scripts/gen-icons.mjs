#!/usr/bin/env node
// Generates the web app's icons from one drawing: web/app/icons/icon.svg,
// icon-192.png, icon-512.png and web/favicon.ico (a 32 px PNG inside an ICO
// container). No dependencies: a tiny PNG encoder on node:zlib.
//
//   node scripts/gen-icons.mjs        (run from the repository root)
//
// The generated files are committed; run this again after changing the
// drawing below. The PNGs fill the whole square (no transparent corners) and
// keep the glyph inside the central 60 %, so they also serve as "maskable"
// icons (the safe zone is a centred circle of 80 % diameter).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BG = [0x1e, 0x40, 0xaf];
const FG = [0xff, 0xff, 0xff];

// The glyph, a video camera, in a unit square: a rounded body and a lens.
const BODY = { x0: 0.22, y0: 0.33, x1: 0.60, y1: 0.67, r: 0.06 };
const LENS = [[0.63, 0.45], [0.80, 0.35], [0.80, 0.65], [0.63, 0.55]];

/** True when (x, y) lies in the rounded rectangle `b`. */
function inRoundedRect(x, y, b) {
  if (x < b.x0 || x > b.x1 || y < b.y0 || y > b.y1) return false;
  const cx = Math.min(Math.max(x, b.x0 + b.r), b.x1 - b.r);
  const cy = Math.min(Math.max(y, b.y0 + b.r), b.y1 - b.r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= b.r ** 2;
}

/** True when (x, y) lies in the convex polygon `p` (any winding). */
function inConvex(x, y, p) {
  let sign = 0;
  for (let i = 0; i < p.length; i++) {
    const [ax, ay] = p[i];
    const [bx, by] = p[(i + 1) % p.length];
    const c = Math.sign((bx - ax) * (y - ay) - (by - ay) * (x - ax));
    if (c === 0) continue;
    if (sign === 0) sign = c;
    else if (c !== sign) return false;
  }
  return true;
}

/** Renders the icon at `size` px as RGBA, 4x4 supersampled. */
function render(size) {
  const px = Buffer.alloc(size * size * 4);
  const S = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let hits = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const u = (x + (sx + 0.5) / S) / size;
          const v = (y + (sy + 0.5) / S) / size;
          if (inRoundedRect(u, v, BODY) || inConvex(u, v, LENS)) hits++;
        }
      }
      const a = hits / (S * S);
      const o = (y * size + x) * 4;
      for (let c = 0; c < 3; c++) px[o + c] = Math.round(BG[c] * (1 - a) + FG[c] * a);
      px[o + 3] = 255;
    }
  }
  return px;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 of PNG chunks (ISO 3309, as PNG section 5.5 specifies). */
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** @param {string} type @param {Buffer} data */
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** Encodes RGBA pixels as a PNG: 8-bit truecolour with alpha, filter 0 on every row. */
function encodePng(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** An ICO file holding one PNG image (allowed since Windows Vista). */
function encodeIco(size, png) {
  const head = Buffer.alloc(6 + 16);
  head.writeUInt16LE(0, 0); // reserved
  head.writeUInt16LE(1, 2); // type: icon
  head.writeUInt16LE(1, 4); // one image
  head[6] = size; // width (0 would mean 256)
  head[7] = size; // height
  head.writeUInt16LE(1, 10); // colour planes
  head.writeUInt16LE(32, 12); // bits per pixel
  head.writeUInt32LE(png.length, 14);
  head.writeUInt32LE(head.length, 18); // offset of the image
  return Buffer.concat([head, png]);
}

function svg() {
  const hex = (c) => `#${c.map((x) => x.toString(16).padStart(2, '0')).join('')}`;
  const p = (n) => Math.round(n * 1000) / 10;
  const b = BODY;
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" role="img" aria-label="webrtc2">',
    `<rect width="100" height="100" rx="18" fill="${hex(BG)}"/>`,
    `<rect x="${p(b.x0)}" y="${p(b.y0)}" width="${p(b.x1 - b.x0)}" height="${p(b.y1 - b.y0)}" rx="${p(b.r)}" fill="${hex(FG)}"/>`,
    `<polygon points="${LENS.map(([x, y]) => `${p(x)},${p(y)}`).join(' ')}" fill="${hex(FG)}"/>`,
    '</svg>',
    '',
  ].join('\n');
}

const icons = path.join(ROOT, 'web/app/icons');
fs.mkdirSync(icons, { recursive: true });
fs.writeFileSync(path.join(icons, 'icon.svg'), svg());
for (const size of [192, 512]) fs.writeFileSync(path.join(icons, `icon-${size}.png`), encodePng(size, render(size)));
fs.writeFileSync(path.join(ROOT, 'web/favicon.ico'), encodeIco(32, encodePng(32, render(32))));
console.log('wrote web/app/icons/icon.svg, icon-192.png, icon-512.png and web/favicon.ico');
