// File transfer, the crypto (docs/file-transfer.md, "Keys" and "Frames"):
// per-session X25519 keys bound to the manifest transcript, ChaCha20-Poly1305
// chunks with index nonces, streaming SHA-256. libsodium (the vendored
// libsodium-wrappers-sumo, loaded on first use so the SDK's start-up does not
// pay for it) does the primitives; every function here is pure and takes the
// loaded library, so Node tests call them exactly as the page does.

import { chunkAd, chunkNonce } from './files-frame.js';

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
