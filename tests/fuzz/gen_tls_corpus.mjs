// Writes seeds of fuzz_tls (tests/fuzz/corpus/tls/): real TLS 1.3 and 1.2
// ClientHellos captured from Node's TLS client, plus junk. Run by hand:
//   node tests/fuzz/gen_tls_corpus.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const dir = new URL('./corpus/tls/', import.meta.url);
mkdirSync(dir, { recursive: true });

function capture(options) {
  return new Promise((resolve) => {
    const server = net.createServer((s) => {
      s.once('data', (d) => { resolve(d); s.destroy(); server.close(); });
    });
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: server.address().port, host: '127.0.0.1', rejectUnauthorized: false, ...options });
      c.on('error', () => {});
    });
  });
}

const seeds = {
  'hello-tls13': await capture({ minVersion: 'TLSv1.3', servername: 'localhost', ALPNProtocols: ['http/1.1'] }),
  'hello-tls12-only': await capture({ maxVersion: 'TLSv1.2' }),
  'hello-any': await capture({}),
  'plain-http': Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'),
  'sslv2-like': Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00]),
  'empty-record': Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]),
  'huge-record-len': Buffer.from([0x16, 0x03, 0x03, 0xff, 0xff, 0x01]),
  'alert': Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]),
};
for (const [name, bytes] of Object.entries(seeds)) {
  writeFileSync(new URL(name, dir), Buffer.concat([Buffer.from([0]), bytes]));
  writeFileSync(new URL(`${name}-split`, dir), Buffer.concat([Buffer.from([129]), bytes]));
}
console.log(`wrote ${Object.keys(seeds).length * 2} seeds`);
