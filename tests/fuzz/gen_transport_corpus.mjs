// Writes the seed corpus of fuzz_transport (tests/fuzz/corpus/transport/).
// Run by hand when the protocol grows: node tests/fuzz/gen_transport_corpus.mjs
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';

const SECRET = 'fuzz-secret-0123456789abcdef0123456789';
const dir = new URL('./corpus/transport/', import.meta.url);
mkdirSync(dir, { recursive: true });

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function token(sub) {
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, iat: 1700000000, exp: 4102444800 })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

const upgrade = 'GET /signal HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: webrtc2.v1\r\n\r\n';

function frame(payload, { opcode = 1, fin = true, mask = true } = {}) {
  const p = Buffer.from(payload);
  const head = [(fin ? 0x80 : 0) | opcode];
  if (p.length < 126) head.push((mask ? 0x80 : 0) | p.length);
  else if (p.length < 65536) head.push((mask ? 0x80 : 0) | 126, p.length >> 8, p.length & 255);
  else { head.push((mask ? 0x80 : 0) | 127, 0, 0, 0, 0, (p.length >>> 24) & 255, (p.length >> 16) & 255, (p.length >> 8) & 255, p.length & 255); }
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const body = mask ? Buffer.from(p.map((b, i) => b ^ key[i % 4])) : p;
  return Buffer.concat([Buffer.from(head), mask ? key : Buffer.alloc(0), body]);
}

const hello = (sub, device) => frame(JSON.stringify({ type: 'hello', v: 1, token: token(sub), device }));
const seeds = {
  'http-healthz': Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n'),
  'http-static': Buffer.from('GET /index.html HTTP/1.1\r\nIf-None-Match: "x"\r\n\r\nHEAD / HTTP/1.0\r\n\r\n'),
  'http-traversal': Buffer.from('GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n\r\nGET /a/../../b HTTP/1.1\r\n\r\n'),
  'http-post': Buffer.from('POST /signal HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello'),
  'http-garbage': Buffer.from('\x00\x01GET / HTTP/1.1\r\n\r\n'),
  'http-guest': Buffer.from('POST /auth/guest?name=alice HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' +
    'POST /auth/guest?x=1&name=%62%6Fb+&name=c HTTP/1.1\r\n\r\nPOST /auth/guest?name=%2ex%zz%4 HTTP/1.1\r\n\r\n' +
    'GET /api/info HTTP/1.1\r\n\r\nHEAD /api/info HTTP/1.1\r\n\r\n'),
  'http-guest-refused': Buffer.from('GET /auth/%67uest?name=a HTTP/1.1\r\n\r\n' +
    'POST /auth/guest?name=a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'),
  'upgrade-bad-key': Buffer.from(upgrade.replace('dGhlIHNhbXBsZSBub25jZQ==', 'short')),
  'upgrade-v8': Buffer.from(upgrade.replace('Version: 13', 'Version: 8')),
  'ws-hello-signal': Buffer.concat([Buffer.from(upgrade), hello('alice', 'a'),
    frame('{"type":"signal","to":"alice@localhost","id":"1","data":{"sdp":"v=0"}}'),
    frame('{"type":"ping","id":"p"}')]),
  'ws-rooms': Buffer.concat([Buffer.from(upgrade), hello('bob', 'b'),
    frame('{"type":"join","room":"r\\u00e9"}'), frame('{"type":"leave","room":"r\\u00e9"}'),
    frame('{"type":"leave","room":"x"}')]),
  'ws-refresh': Buffer.concat([Buffer.from(upgrade), hello('carol', 'c'),
    frame(JSON.stringify({ type: 'refresh', token: token('carol') })),
    frame(JSON.stringify({ type: 'refresh', token: token('dave') }))]),
  'ws-fragmented': Buffer.concat([Buffer.from(upgrade), hello('erin', 'e'),
    frame('{"type":"si', { fin: false }), frame('', { opcode: 9 }), frame('gnal","to":"x@localhost","data":1}', { opcode: 0 })]),
  'ws-control': Buffer.concat([Buffer.from(upgrade), frame('abc', { opcode: 9 }), frame('', { opcode: 10 }),
    frame(Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65]), { opcode: 8 })]),
  'ws-unmasked': Buffer.concat([Buffer.from(upgrade), frame('{"type":"ping"}', { mask: false })]),
  'ws-binary': Buffer.concat([Buffer.from(upgrade), frame(Buffer.from([1, 2, 3]), { opcode: 2 })]),
  'ws-bad-utf8': Buffer.concat([Buffer.from(upgrade), frame(Buffer.from([0x22, 0xc0, 0xaf, 0x22]))]),
  'ws-too-large': Buffer.concat([Buffer.from(upgrade), hello('frank', 'f'), frame('x'.repeat(5000)),
    frame('{"type":"ping"}')]),
  'ws-bad-json': Buffer.concat([Buffer.from(upgrade), frame('{"type":'), frame('[1 2]'), frame('{"type":"nope"}')]),
  'ws-rsv-opcode': Buffer.concat([Buffer.from(upgrade), Buffer.from([0xc1, 0x80, 1, 2, 3, 4]),
    Buffer.from([0x83, 0x80, 1, 2, 3, 4])]),
  'ws-close-1byte': Buffer.concat([Buffer.from(upgrade), frame(Buffer.from([3]), { opcode: 8 })]),
};
for (const [name, bytes] of Object.entries(seeds)) {
  writeFileSync(new URL(name, dir), Buffer.concat([Buffer.from([0]), bytes]));
  writeFileSync(new URL(`${name}-split`, dir), Buffer.concat([Buffer.from([130]), bytes]));
}
console.log(`wrote ${Object.keys(seeds).length * 2} seeds`);
