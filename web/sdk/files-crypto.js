// File transfer, the crypto (docs/file-transfer.md, "Keys" and "Frames"):
// per-session X25519 keys bound to the manifest transcript, ChaCha20-Poly1305
// chunks with index nonces, streaming SHA-256. libsodium (the vendored
// libsodium-wrappers-sumo, loaded on first use so the SDK's start-up does not
// pay for it) does the primitives; every function here is pure and takes the
// loaded library, so Node tests call them exactly as the page does.

import { FRAME_HEADER, TAG_BYTES, chunkAd, chunkNonce, toHex, writeFrameHeader } from './files-frame.js';

/** @typedef {any} Sodium the ready libsodium-wrappers object */

const KEY_LABEL = new TextEncoder().encode('webrtc2-file/1 chunk key');

/** @type {Promise<Sodium> | null} */
let loading = null;

/**
 * Loads libsodium once (a dynamic import of web/sdk/vendor/).
 * @returns {Promise<Sodium>}
 */
export function loadSodium() {
  loading ??= import('./vendor/libsodium-wrappers.mjs').then(async (m) => {
    await m.default.ready;
    return m.default;
  });
  return loading;
}

/**
 * An ephemeral X25519 key pair.
 * @param {Sodium} s
 * @returns {{publicKey: Uint8Array, privateKey: Uint8Array}}
 */
export function makeKeyPair(s) {
  const { publicKey, privateKey } = s.crypto_box_keypair();
  return { publicKey, privateKey };
}

/** @param {...Uint8Array} parts */
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * transcript = SHA-256(manifest || sender pk || receiver pk)
 * @param {Sodium} s
 * @param {Uint8Array} manifest
 * @param {Uint8Array} senderPk
 * @param {Uint8Array} receiverPk
 */
export function transcript(s, manifest, senderPk, receiverPk) {
  return s.crypto_hash_sha256(concat(manifest, senderPk, receiverPk));
}

/**
 * The session's chunk key (docs/file-transfer.md, Keys 2-5).
 * @param {Sodium} s
 * @param {{ownSecret: Uint8Array, peerPublic: Uint8Array, manifest: Uint8Array,
 *   senderPk: Uint8Array, receiverPk: Uint8Array}} p
 * @returns {Uint8Array} 32 bytes
 * @throws {Error} when the peer's key is of low order (an all-zero shared secret)
 */
export function sessionKey(s, p) {
  let shared;
  try {
    shared = s.crypto_scalarmult(p.ownSecret, p.peerPublic);
  } catch (e) {
    // libsodium refuses an all-zero result itself.
    throw new Error('file transfer: the peer\'s public key is of low order', { cause: e });
  }
  if (shared.every((b) => b === 0)) throw new Error('file transfer: the peer\'s public key is of low order');
  const t = transcript(s, p.manifest, p.senderPk, p.receiverPk);
  return s.crypto_generichash(32, concat(KEY_LABEL, t), shared);
}

/**
 * Seals chunk `index`: ciphertext || tag.
 * @param {Sodium} s
 * @param {Uint8Array} key
 * @param {Uint8Array} id
 * @param {number} index
 * @param {boolean} last
 * @param {Uint8Array} plain
 * @returns {Uint8Array}
 */
export function sealChunk(s, key, id, index, last, plain) {
  return s.crypto_aead_chacha20poly1305_ietf_encrypt(plain, chunkAd(id, index, last), null, chunkNonce(index), key);
}

/**
 * Opens chunk `index`; null when it does not verify.
 * @param {Sodium} s
 * @param {Uint8Array} key
 * @param {Uint8Array} id
 * @param {number} index
 * @param {boolean} last
 * @param {Uint8Array} sealed ciphertext || tag
 * @returns {Uint8Array | null}
 */
export function openChunk(s, key, id, index, last, sealed) {
  try {
    return s.crypto_aead_chacha20poly1305_ietf_decrypt(null, sealed, chunkAd(id, index, last), chunkNonce(index), key);
  } catch {
    return null;
  }
}

/** crypto_hash_sha256_statebytes(), rounded up. */
const SHA_STATE = 128;
/** 32-byte key, 12-byte nonce, 25-byte AD, each 16-byte aligned. */
const KEY_AT = 0;
const NONCE_AT = 32;
const AD_AT = 48;
const SHA_AT = 80;
const FRAME_AT = SHA_AT + SHA_STATE;

/**
 * One frame's worth of libsodium's own heap, with a key, a nonce, an AD
 * and a SHA-256 state beside it, so that the per-chunk work (framing,
 * sealing or opening in place, hashing) allocates nothing: the wrappers'
 * functions copy every argument in and every result out of the heap, which
 * on a data channel's 64 KiB chunks costs as much as the cipher itself.
 * Views from here are valid until the next call on the box (the heap can
 * move when libsodium allocates); send() and write() copy them at once.
 * One box per direction and transfer; free() gives the region back.
 */
export class ChunkBox {
  /** @type {any} the Emscripten module */ #r;
  #base = 0;
  /** @type {number} the largest payload (chunk plus tag) */ #max;

  /**
   * @param {Sodium} s
   * @param {number} maxChunk the transfer's chunk size
   */
  constructor(s, maxChunk) {
    this.#r = s.libsodium;
    this.#max = maxChunk + TAG_BYTES;
    this.#base = this.#r._malloc(FRAME_AT + FRAME_HEADER + this.#max);
    if (!this.#base) throw new Error('file transfer: libsodium is out of memory');
    this.hashReset();
  }

  /** @param {number} at @param {number} len */
  #view(at, len) {
    return new Uint8Array(this.#r.HEAPU8.buffer, this.#base + at, len);
  }

  /** @param {Uint8Array} key 32 bytes (a session's) */
  setKey(key) {
    this.#view(KEY_AT, 32).set(key);
  }

  /**
   * The frame region: FRAME_HEADER bytes of header, then the payload.
   * @param {number} payloadLen
   */
  frame(payloadLen) {
    return this.#view(FRAME_AT, FRAME_HEADER + payloadLen);
  }

  /** @param {number} len bytes of payload */
  payload(len) {
    return this.#view(FRAME_AT + FRAME_HEADER, len);
  }

  /**
   * Writes a frame's header and `plain` as its payload.
   * @param {Uint8Array} id
   * @param {number} index
   * @param {Uint8Array} plain at most the chunk size
   */
  fill(id, index, plain) {
    const f = this.frame(plain.length);
    writeFrameHeader(f, id, index);
    f.set(plain, FRAME_HEADER);
  }

  /** @param {Uint8Array} id @param {number} index @param {boolean} last */
  #nonceAndAd(id, index, last) {
    chunkNonce(index, this.#view(NONCE_AT, 12));
    chunkAd(id, index, last, this.#view(AD_AT, 25));
  }

  /**
   * Seals the `len` plaintext bytes of the payload in place; the tag
   * follows them, so the frame is FRAME_HEADER + len + TAG_BYTES long.
   * @param {Uint8Array} id @param {number} index @param {boolean} last @param {number} len
   */
  seal(id, index, last, len) {
    this.#nonceAndAd(id, index, last);
    const b = this.#base;
    const p = b + FRAME_AT + FRAME_HEADER;
    if (this.#r._crypto_aead_chacha20poly1305_ietf_encrypt(p, 0, p, len, 0, b + AD_AT, 25, 0, 0, b + NONCE_AT, b + KEY_AT) !== 0) {
      throw new Error('file transfer: sealing a chunk failed');
    }
  }

  /**
   * Copies a sealed payload in and opens it in place: true when it
   * verified (then payload(len - TAG_BYTES) is the plaintext).
   * @param {Uint8Array} id @param {number} index @param {boolean} last @param {Uint8Array} sealed
   */
  open(id, index, last, sealed) {
    if (sealed.length < TAG_BYTES || sealed.length > this.#max) return false;
    this.payload(sealed.length).set(sealed);
    this.#nonceAndAd(id, index, last);
    const b = this.#base;
    const p = b + FRAME_AT + FRAME_HEADER;
    return this.#r._crypto_aead_chacha20poly1305_ietf_decrypt(p, 0, 0, p, sealed.length, 0, b + AD_AT, 25, 0, b + NONCE_AT, b + KEY_AT) === 0;
  }

  /** Adds the first `len` payload bytes to the running SHA-256. */
  hashPayload(len) {
    const b = this.#base;
    this.#r._crypto_hash_sha256_update(b + SHA_AT, b + FRAME_AT + FRAME_HEADER, len, 0);
  }

  /**
   * Adds `bytes` to the running SHA-256, through the payload region (which
   * it overwrites).
   * @param {Uint8Array} bytes
   */
  hashBytes(bytes) {
    for (let o = 0; o < bytes.length; o += this.#max) {
      const part = bytes.subarray(o, Math.min(bytes.length, o + this.#max));
      this.payload(part.length).set(part);
      this.hashPayload(part.length);
    }
  }

  /** @returns {string} the running SHA-256 in hex; the hash starts again */
  hashDigest() {
    const b = this.#base;
    // The digest goes where the nonce and AD were (48 bytes from NONCE_AT).
    this.#r._crypto_hash_sha256_final(b + SHA_AT, b + NONCE_AT);
    const hex = toHex(this.#view(NONCE_AT, 32));
    this.hashReset();
    return hex;
  }

  hashReset() {
    this.#r._crypto_hash_sha256_init(this.#base + SHA_AT);
  }

  free() {
    if (this.#base) this.#r._free(this.#base);
    this.#base = 0;
  }
}

/**
 * Streaming SHA-256 (libsodium's state lives in its heap until digest()).
 */
export class Sha256 {
  /** @type {Sodium} */ #s;
  /** @type {number | null} */ #state;
  /** @param {Sodium} s */
  constructor(s) {
    this.#s = s;
    this.#state = s.crypto_hash_sha256_init();
  }

  /** @param {Uint8Array} bytes */
  update(bytes) {
    this.#s.crypto_hash_sha256_update(this.#state, bytes);
  }

  /** @returns {string} the digest in hex; the object is spent */
  digest() {
    const d = this.#s.crypto_hash_sha256_final(this.#state);
    this.#state = null;
    return this.#s.to_hex(d);
  }
}

/**
 * SHA-256 of a Blob, read as a stream (bounded memory).
 * @param {Sodium} s
 * @param {Blob} blob
 * @returns {Promise<string>} hex
 */
export async function hashBlob(s, blob) {
  const h = new Sha256(s);
  const reader = blob.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    h.update(value);
  }
  return h.digest();
}
