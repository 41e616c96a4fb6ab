// The browser SDK's file-transfer crypto and encoding (web/sdk/files-crypto.js,
// files-frame.js), in Node with the same vendored libsodium the page loads:
// every shared vector of tests/vectors/file-transfer-v1.json (positive and
// negative), round trips, and the C implementation (w2_filecrypt) opening
// what JS sealed and the other way round.
import assert from 'node:assert/strict';
import nodeCrypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ChunkBox, loadSodium, makeKeyPair, openChunk, sealChunk, sessionKey, Sha256, transcript,
} from '../../web/sdk/files-crypto.js';
import {
  ChunkSet, checkFrame, chunkAd, chunkCount, chunkLength, chunkNonce, encodeFrame, encodeManifest,
  fromB64u, fromHex, parseControl, toB64u, toHex,
} from '../../web/sdk/files-frame.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const VECTORS = path.join(ROOT, 'tests/vectors/file-transfer-v1.json');
const v = JSON.parse(fs.readFileSync(VECTORS, 'utf8'));
const s = await loadSodium();

/** The vectors' file contents: byte k of every file is k mod 251. */
function plaintext(offset, length) {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = (offset + i) % 251;
  return b;
}

/** A manifest of the vectors as files-frame.js takes it. */
function manifestOf(fields) {
  return { ...fields, id: fromHex(fields.id), path: fields.path ?? '', sha256: fields.sha256 };
}

const K = {
  senderSk: fromHex(v.keys.sender_sk),
  senderPk: fromHex(v.keys.sender_pk),
  receiverSk: fromHex(v.keys.receiver_sk),
  receiverPk: fromHex(v.keys.receiver_pk),
};

/** The session key of manifest vector `m`, from the sender's side and the receiver's. */
function keysOf(m) {
  const manifest = fromHex(m.manifest);
  const bySender = sessionKey(s, {
    ownSecret: K.senderSk, peerPublic: K.receiverPk, manifest, senderPk: K.senderPk, receiverPk: K.receiverPk,
  });
  const byReceiver = sessionKey(s, {
    ownSecret: K.receiverSk, peerPublic: K.senderPk, manifest, senderPk: K.senderPk, receiverPk: K.receiverPk,
  });
  return { bySender, byReceiver };
}

describe('file-transfer-v1.json vectors', () => {
  test('the fixed key pairs and their shared secret', () => {
    assert.equal(toHex(s.crypto_scalarmult_base(K.senderSk)), v.keys.sender_pk);
    assert.equal(toHex(s.crypto_scalarmult_base(K.receiverSk)), v.keys.receiver_pk);
    assert.equal(toHex(s.crypto_scalarmult(K.senderSk, K.receiverPk)), v.keys.shared);
    assert.equal(toHex(s.crypto_scalarmult(K.receiverSk, K.senderPk)), v.keys.shared);
  });

  for (const m of v.manifests) {
    test(`manifest ${m.name}: encoding, transcript, key, chunks, frames`, () => {
      const man = encodeManifest(manifestOf(m.fields));
      assert.equal(toHex(man), m.manifest);
      assert.equal(toHex(transcript(s, man, K.senderPk, K.receiverPk)), m.transcript);
      const { bySender, byReceiver } = keysOf(m);
      assert.equal(toHex(bySender), m.key);
      assert.equal(toHex(byReceiver), m.key);
      const n = chunkCount(m.fields.size, m.fields.chunkSize);
      assert.equal(n, m.chunk_count);
      if (n > 0) assert.equal(chunkLength(m.fields.size, m.fields.chunkSize, n - 1), m.last_chunk_len);
      const id = fromHex(m.fields.id);
      for (const f of m.frames) {
        const last = f.index === n - 1;
        assert.equal(toHex(chunkNonce(f.index)), f.nonce, `nonce of ${f.index}`);
        assert.equal(toHex(chunkAd(id, f.index, last)), f.ad, `ad of ${f.index}`);
        if (f.frame === undefined) continue;
        assert.equal(f.last, last);
        assert.equal(f.offset, f.index * m.fields.chunkSize);
        const plain = plaintext(f.offset, f.length);
        const payload = m.fields.enc === 'none' ? plain : sealChunk(s, bySender, id, f.index, last, plain);
        assert.equal(toHex(encodeFrame(id, f.index, payload)), f.frame, `frame ${f.index} as sealed here`);
        // The receiver's path: the frame check, then opening.
        const buf = fromHex(f.frame).buffer;
        const c = checkFrame(buf, { idHex: m.fields.id, size: m.fields.size, chunkSize: m.fields.chunkSize, enc: m.fields.enc });
        assert.ok(c.ok, c.why);
        assert.equal(c.index, f.index);
        assert.equal(c.last, last);
        const opened = m.fields.enc === 'none' ? c.payload : openChunk(s, byReceiver, id, c.index, c.last, c.payload);
        assert.deepEqual(opened, plain);
      }
      if (m.fields.sha256 && m.fields.size <= 1 << 20) {
        const h = new Sha256(s);
        h.update(plaintext(0, m.fields.size));
        assert.equal(h.digest(), m.fields.sha256);
      }
    });
  }

  test('frames_invalid: refused by the frame check ("reject") or by the tag ("auth")', () => {
    const byName = new Map(v.manifests.map((m) => [m.name, m]));
    assert.ok(v.frames_invalid.length > 0);
    for (const f of v.frames_invalid) {
      const m = byName.get(f.manifest);
      const { byReceiver } = keysOf(m);
      const c = checkFrame(fromHex(f.frame).buffer,
        { idHex: m.fields.id, size: m.fields.size, chunkSize: m.fields.chunkSize, enc: m.fields.enc });
      if (f.expect === 'reject') {
        assert.equal(c.ok, false, `${f.name}: ${f.why}`);
        continue;
      }
      assert.equal(f.expect, 'auth');
      assert.ok(c.ok, `${f.name} passes the frame check (${c.why})`);
      assert.equal(openChunk(s, byReceiver, fromHex(m.fields.id), c.index, c.last, c.payload), null, `${f.name}: ${f.why}`);
    }
  });

  test('keys_invalid: a low-order public key fails the session', () => {
    const man = fromHex(v.manifests[0].manifest);
    for (const k of v.keys_invalid) {
      assert.throws(() => sessionKey(s, {
        ownSecret: fromHex(k.own_sk), peerPublic: fromHex(k.peer_pk), manifest: man,
        senderPk: K.senderPk, receiverPk: fromHex(k.peer_pk),
      }), /low order/, k.why);
    }
  });

  test('control_valid: every message parses, with its type', () => {
    for (const c of v.control_valid) {
      const r = parseControl(c.json);
      assert.ok(r.ok, `${c.json.slice(0, 120)}: ${r.why}`);
      assert.equal(r.msg.t, c.t);
    }
  });

  test('control_invalid: every message is refused with the expected error code', () => {
    for (const c of v.control_invalid) {
      const r = parseControl(c.json);
      assert.equal(r.ok, false, `accepted, but ${c.why}: ${c.json.slice(0, 120)}`);
      assert.equal(r.code, c.answer, `${c.why}: ${r.why}`);
    }
  });
});

describe('round trips', () => {
  test('fresh key pairs agree; a chunk opens only at its index, with its last bit, under its key', () => {
    const a = makeKeyPair(s);
    const b = makeKeyPair(s);
    const id = crypto.getRandomValues(new Uint8Array(16));
    const man = encodeManifest({ id, size: 100000, chunkSize: 16384, enc: 'chacha20-poly1305', name: 'x', path: 'd/x' });
    const ka = sessionKey(s, { ownSecret: a.privateKey, peerPublic: b.publicKey, manifest: man, senderPk: a.publicKey, receiverPk: b.publicKey });
    const kb = sessionKey(s, { ownSecret: b.privateKey, peerPublic: a.publicKey, manifest: man, senderPk: a.publicKey, receiverPk: b.publicKey });
    assert.deepEqual(ka, kb);
    const plain = crypto.getRandomValues(new Uint8Array(16384));
    const sealed = sealChunk(s, ka, id, 2, false, plain);
    assert.equal(sealed.length, plain.length + 16);
    assert.deepEqual(openChunk(s, kb, id, 2, false, sealed), plain);
    assert.equal(openChunk(s, kb, id, 3, false, sealed), null);
    assert.equal(openChunk(s, kb, id, 2, true, sealed), null);
    const other = makeKeyPair(s);
    const kc = sessionKey(s, { ownSecret: other.privateKey, peerPublic: a.publicKey, manifest: man, senderPk: a.publicKey, receiverPk: other.publicKey });
    assert.equal(openChunk(s, kc, id, 2, false, sealed), null);
    sealed[5] ^= 1;
    assert.equal(openChunk(s, kb, id, 2, false, sealed), null);
  });

  test('base64url keys, hex, chunk sets', () => {
    const k = crypto.getRandomValues(new Uint8Array(32));
    assert.deepEqual(fromB64u(toB64u(k)), k);
    assert.deepEqual(fromHex(toHex(k)), k);
    const set = new ChunkSet(10);
    set.addRanges([[0, 2], [5, 6]]);
    set.add(9);
    assert.deepEqual(set.ranges(), [[0, 2], [5, 6], [9, 10]]);
    assert.deepEqual(set.missing(), [[2, 5], [6, 9]]);
    assert.equal(set.count, 4);
  });
});

describe('ChunkBox: framing, sealing, opening and hashing inside libsodium\'s heap', () => {
  test('its frames equal encodeFrame(sealChunk()), it opens what sealChunk sealed, it hashes as sha256sum does', () => {
    const key = s.randombytes_buf(32);
    const id = s.randombytes_buf(16);
    const cs = 65536;
    const tx = new ChunkBox(s, cs);
    const rx = new ChunkBox(s, cs);
    tx.setKey(key);
    rx.setKey(key);
    const whole = nodeCrypto.createHash('sha256');
    for (const [index, len, last] of [[0, cs, false], [1, cs, false], [7, 1000, true], [2 ** 40, 1, false]]) {
      const plain = nodeCrypto.randomBytes(len);
      whole.update(plain);
      tx.fill(id, index, plain);
      tx.hashPayload(len);
      tx.seal(id, index, last, len);
      const frame = tx.frame(len + 16);
      assert.deepEqual(Buffer.from(frame), Buffer.from(encodeFrame(id, index, sealChunk(s, key, id, index, last, plain))), `chunk ${index}`);
      const sealed = frame.slice(26);
      assert.ok(rx.open(id, index, last, sealed), `chunk ${index} opens`);
      assert.deepEqual(Buffer.from(rx.payload(len)), plain);
      rx.hashBytes(plain);
      assert.equal(rx.open(id, index, !last, sealed), false, 'not with the other last bit');
      assert.equal(rx.open(id, index + 1, last, sealed), false, 'not at another index');
      const bad = Uint8Array.from(sealed);
      bad[bad.length - 1] ^= 1;
      assert.equal(rx.open(id, index, last, bad), false, 'not with a flipped bit');
      assert.deepEqual(openChunk(s, key, id, index, last, sealed), new Uint8Array(plain));
    }
    const want = whole.digest('hex');
    assert.equal(tx.hashDigest(), want);
    assert.equal(rx.hashDigest(), want);
    assert.equal(tx.hashDigest(), nodeCrypto.createHash('sha256').digest('hex'), 'a digest starts the hash again');
    assert.equal(rx.open(id, 0, false, new Uint8Array(cs + 17)), false, 'longer than a chunk and its tag');
    tx.free();
    rx.free();
  });
});

describe('against the C implementation (w2_filecrypt)', () => {
  const tool = path.join(process.env.W2_BUILD_DIR ?? path.join(ROOT, 'build'), 'w2_filecrypt');
  const skip = fs.existsSync(tool) ? false : `${tool} is not built (set W2_BUILD_DIR, build the w2_filecrypt target)`;

  /** Runs the tool; returns {status, reply}. */
  function run(op, request) {
    const r = spawnSync(tool, [op], { input: JSON.stringify(request), maxBuffer: 1 << 26 });
    return { status: r.status, stderr: r.stderr.toString(), reply: r.status === 0 ? JSON.parse(r.stdout.toString()) : null };
  }

  const fields = {
    id: 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf', name: 'cross ✓.bin', size: 40000, chunkSize: 16384,
    enc: 'chacha20-poly1305', path: 'dir/cross ✓.bin',
  };
  const file = crypto.getRandomValues(new Uint8Array(fields.size));
  const n = chunkCount(fields.size, fields.chunkSize);
  const sender = makeKeyPair(s);
  const receiver = makeKeyPair(s);
  const man = encodeManifest(manifestOf(fields));
  const pks = { sender_pk: toB64u(sender.publicKey), receiver_pk: toB64u(receiver.publicKey) };

  test('JS seals, C opens', { skip }, () => {
    const key = sessionKey(s, { ownSecret: sender.privateKey, peerPublic: receiver.publicKey, manifest: man, senderPk: sender.publicKey, receiverPk: receiver.publicKey });
    const id = fromHex(fields.id);
    const chunks = [];
    for (let i = 0; i < n; i++) {
      const plain = file.subarray(i * fields.chunkSize, i * fields.chunkSize + chunkLength(fields.size, fields.chunkSize, i));
      chunks.push({ index: i, data_b64: Buffer.from(encodeFrame(id, i, sealChunk(s, key, id, i, i === n - 1, plain))).toString('base64') });
    }
    const r = run('open', { sk: toHex(receiver.privateKey), peer_pk: pks.sender_pk, ...pks, manifest: fields, chunks });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.reply.manifest, toHex(man));
    assert.equal(r.reply.key, toHex(key));
    const back = Buffer.concat(r.reply.chunks.map((c) => Buffer.from(c.data_b64, 'base64')));
    assert.deepEqual(new Uint8Array(back), file);
    // A flipped byte: C refuses it (exit 1).
    const bad = Buffer.from(chunks[1].data_b64, 'base64');
    bad[bad.length - 3] ^= 0x40;
    const r2 = run('open', { sk: toHex(receiver.privateKey), peer_pk: pks.sender_pk, ...pks, manifest: fields, chunks: [{ index: 1, data_b64: bad.toString('base64') }] });
    assert.equal(r2.status, 1, r2.stderr);
  });

  test('C seals, JS opens', { skip }, () => {
    const chunks = [];
    for (let i = 0; i < n; i++) {
      const plain = file.subarray(i * fields.chunkSize, i * fields.chunkSize + chunkLength(fields.size, fields.chunkSize, i));
      chunks.push({ index: i, data_b64: Buffer.from(plain).toString('base64') });
    }
    const r = run('seal', { sk: toHex(sender.privateKey), peer_pk: pks.receiver_pk, ...pks, manifest: fields, chunks });
    assert.equal(r.status, 0, r.stderr);
    const key = sessionKey(s, { ownSecret: receiver.privateKey, peerPublic: sender.publicKey, manifest: man, senderPk: sender.publicKey, receiverPk: receiver.publicKey });
    assert.equal(r.reply.key, toHex(key));
    const id = fromHex(fields.id);
    const parts = [];
    for (const f of r.reply.frames) {
      const c = checkFrame(new Uint8Array(Buffer.from(f.data_b64, 'base64')).buffer, { idHex: fields.id, size: fields.size, chunkSize: fields.chunkSize, enc: fields.enc });
      assert.ok(c.ok, c.why);
      const plain = openChunk(s, key, id, c.index, c.last, c.payload);
      assert.ok(plain, `chunk ${c.index} opens`);
      parts.push(plain);
    }
    assert.deepEqual(new Uint8Array(Buffer.concat(parts)), file);
  });
});
