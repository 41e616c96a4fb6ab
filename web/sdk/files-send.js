// File transfer, the sending side (docs/file-transfer.md): offers, the
// session key, and the chunks read from the file, framed, sealed and hashed
// in place (ChunkBox) and paced by the connection's lanes (FileHub).
//
// Test-only hook (never set it in an application): when
// `globalThis.__webrtc2TestHooks.corruptChunk(idHex, index)` returns true,
// the sender flips a byte of that chunk's frame after sealing it, so tests
// can prove that the receiver detects, nacks and gets it again.
import { WebRTC2Error } from './errors.js';
import { ChunkBox, loadSodium, makeKeyPair, sessionKey } from './files-crypto.js';
import {
  DEFAULT_CHUNK, FRAME_HEADER, MAX_CHUNK, MAX_LANES, MIN_CHUNK, TAG_BYTES, ChunkSet, chunkCount, chunkLength,
  encodeManifest, fromB64u, toB64u, toHex, validPath,
} from './files-frame.js';
import { FileErrorCode, MAX_RESENDS, TransferBase, fileError } from './files-transfer.js';

/** The sender reads the file this many bytes at a time (at least a chunk). */
const READ_BLOCK = 1 << 20;

/** @typedef {import('./files.js').FileHub} FileHub */
/** @typedef {import('./files.js').FileRegistry} FileRegistry */
/** @typedef {import('./files-transfer.js').SendFileOptions} SendFileOptions */

/** @param {unknown} v */
const isBlob = (v) => typeof Blob !== 'undefined' && v instanceof Blob;

/**
 * A file being sent: `connection.sendFile()` returns it.
 */
export class OutgoingTransfer extends TransferBase {
  /** @type {FileRegistry} */ #reg;
  /** @type {Uint8Array} */ #id;
  /** @type {Blob} */ #file;
  #enc;
  #chunkSize;
  #lanes;
  #resumable;
  #mime;
  /** @type {Uint8Array} */ #manifest;
  /** Bytes of the file hashed so far, in order (the hash rides along the sending). */
  #hashPos = 0;
  /** @type {Promise<string> | null} the whole file's SHA-256 once every byte was hashed */
  #hash = null;
  /** @type {ChunkBox | null} this transfer's region of libsodium's heap */
  #box = null;
  /** @type {{hub: FileHub, keys: {publicKey: Uint8Array, privateKey: Uint8Array}, accepted: boolean,
   *   key: Uint8Array | null, sent: ChunkSet | null, next: number, resend: number[], doneSent: boolean,
   *   remotePause: boolean, sentBytes: number} | null} */
  #session = null;
  #localPause = false;
  /** @type {(() => void) | null} */ #wake = null;
  /** @type {Map<number, number>} */ #nacks = new Map();
  /** @type {{start: number, bytes: Uint8Array} | null} the last block read */ #block = null;

  /**
   * @param {FileRegistry} reg
   * @param {string} peerId
   * @param {SendFileOptions} o checked by the caller
   * @param {(e: unknown) => void} report
   */
  constructor(reg, peerId, o, report) {
    const id = crypto.getRandomValues(new Uint8Array(16));
    const name = o.name ?? /** @type {File} */ (o.file).name ?? 'file';
    super(report, toHex(id), name, o.file.size, o.path ?? '');
    this.peerId = peerId;
    this.#reg = reg;
    this.#id = id;
    this.#file = o.file;
    this.#enc = (o.encryption ?? 'ChaCha20-Poly1305').toLowerCase() === 'none' ? 'none' : 'chacha20-poly1305';
    this.#chunkSize = o.chunkSize ?? DEFAULT_CHUNK;
    this.#lanes = o.lanes ?? 1;
    this.#resumable = o.resumable ?? true;
    this.#mime = o.file.type || undefined;
    this.#manifest = encodeManifest({
      id, size: this.size, chunkSize: this.#chunkSize, enc: this.#enc, sha256: undefined, name, path: this.path,
    });
    this.direction = 'send';
    this.encryption = this.#enc;
  }

  /** Stops sending chunks (the receiver is told); resume() goes on. */
  pause() {
    if (this.done || this.#localPause) return;
    this.#localPause = true;
    if (this.state === 'sending') this.state = 'paused';
    this.#session?.hub._control({ t: 'pause', id: this.id });
  }

  resume() {
    if (this.done || !this.#localPause) return;
    this.#localPause = false;
    if (this.state === 'paused' && !this.#session?.remotePause) this.state = 'sending';
    this.#session?.hub._control({ t: 'continue', id: this.id });
    this.#poke();
  }

  /**
   * Ends the transfer for good; the receiver deletes what it stored.
   * onError gets 'cancelled'.
   * @param {string} [reason]
   */
  cancel(reason = 'cancelled') {
    if (this.done) return;
    const msg = { t: 'cancel', id: this.id, reason: String(reason).slice(0, 256) };
    if (this.#session) this.#session.hub._control(msg);
    else if (this.stats.sessions > 0) this.#reg._cancelLater(this.peerId, msg); // the receiver holds a part
    this.#end(fileError(FileErrorCode.CANCELLED, `the transfer of ${this.name} was cancelled`));
  }

  // ------------------------------------------------------- for the hub --

  /**
   * Offers the file on `hub` (first time, or again after a drop).
   * @param {FileHub} hub
   */
  async _offer(hub) {
    if (this.done) return;
    this.#session?.hub._forget(this.id);
    const s = await loadSodium();
    const keys = makeKeyPair(s);
    if (this.done) return;
    this.#session?.hub._forget(this.id);
    this.#session = {
      hub, keys, accepted: false, key: null, sent: null, next: 0, resend: [], doneSent: false, remotePause: false, sentBytes: 0,
    };
    this.state = 'offered';
    if (hub.closed) {
      this._interrupt(hub); // it went away while libsodium loaded
      return;
    }
    hub._adoptOutgoing(this);
    const offer = {
      t: 'offer', v: 1, id: this.id, name: this.name, size: this.size, chunkSize: this.#chunkSize,
      enc: this.#enc, pk: toB64u(keys.publicKey), lanes: this.#lanes,
    };
    if (this.path) offer.path = this.path;
    if (this.#mime) offer.mime = this.#mime.slice(0, 256);
    hub._control(offer);
  }

  /**
   * A control message for this transfer.
   * @param {FileHub} hub
   * @param {any} m checked by parseControl
   */
  async _onControl(hub, m) {
    const ses = this.#session;
    if (!ses || ses.hub !== hub || this.done) return;
    switch (m.t) {
      case 'accept': await this.#onAccept(ses, m); return;
      case 'reject':
        this.#end(fileError(FileErrorCode.REJECTED, `${this.peerId} declined ${this.name}${m.reason ? ` (${m.reason})` : ''}`));
        return;
      // The receiver's pause (its user's, or its backpressure) stops the
      // frames; `state` follows this side's own pause() only.
      case 'pause':
        ses.remotePause = true;
        this.stats.pausesHeard += 1;
        return;
      case 'continue':
        ses.remotePause = false;
        this.#poke();
        return;
      case 'nack': this.#onNack(ses, m.ranges); return;
      case 'complete': await this.#onComplete(m.sha256); return;
      case 'cancel': this.#end(fileError(FileErrorCode.CANCELLED, `${this.peerId} cancelled ${this.name}`)); return;
      case 'error': this.#end(fileError(m.code, `${this.peerId}: ${m.message ?? m.code}`)); return;
      default: // not for a sender
    }
  }

  /**
   * The connection carrying the transfer dropped.
   * @param {FileHub} hub
   */
  _interrupt(hub) {
    if (this.#session?.hub !== hub || this.done) return;
    this.#session = null;
    this.#poke();
    if (this.#resumable) {
      this.state = 'interrupted';
      // Another connection to the peer may be up already.
      queueMicrotask(() => this.#reg._hubFor(this.peerId)?._reofferOne(this));
      return;
    }
    this.#end(fileError(FileErrorCode.CONNECTION_CLOSED, `the connection dropped while sending ${this.name}`));
  }

  /** The receiver cancelled while this transfer waited for a connection. */
  _cancelledWhileAway() {
    this.#end(fileError(FileErrorCode.CANCELLED, `${this.peerId} cancelled ${this.name}`));
  }

  /** Whether a session runs on a connection that is up. */
  _runningOnLiveHub() {
    return Boolean(this.#session?.hub.live);
  }

  // ------------------------------------------------------------ internal --

  async #onAccept(ses, m) {
    if (ses.accepted) return; // one accept per session
    ses.accepted = true;
    const s = await loadSodium();
    if (this.#session !== ses || this.done) return;
    const peerPk = /** @type {Uint8Array} */ (fromB64u(m.pk));
    const n = chunkCount(this.size, this.#chunkSize);
    const sent = new ChunkSet(n);
    if (!m.have.every(([, e]) => e <= n)) {
      ses.hub._control({ t: 'error', id: this.id, code: 'bad-message', message: 'have names chunks past the end' });
      this.#end(fileError(FileErrorCode.BAD_MESSAGE, 'the receiver named chunks past the end'));
      return;
    }
    sent.addRanges(m.have);
    this.stats.resumedChunks = sent.count;
    try {
      ses.key = this.#enc === 'none' ? new Uint8Array(0) : sessionKey(s, {
        ownSecret: ses.keys.privateKey, peerPublic: peerPk, manifest: this.#manifest,
        senderPk: ses.keys.publicKey, receiverPk: peerPk,
      });
    } catch (e) {
      ses.hub._control({ t: 'error', id: this.id, code: 'bad-message', message: 'a low-order public key' });
      this.#end(fileError(FileErrorCode.BAD_MESSAGE, /** @type {Error} */ (e).message));
      return;
    }
    ses.sent = sent;
    for (let i = 0; i < n; i++) if (sent.has(i)) ses.sentBytes += chunkLength(this.size, this.#chunkSize, i);
    this.stats.sessions += 1;
    this.state = this.#localPause ? 'paused' : 'sending';
    this._progress(ses.sentBytes, true);
    this.#run(ses).catch((e) => {
      if (this.#session !== ses) return;
      ses.hub._control({ t: 'error', id: this.id, code: 'internal', message: String(e?.message ?? e).slice(0, 200) });
      this.#end(e instanceof WebRTC2Error ? e : fileError(FileErrorCode.INTERNAL, `sending ${this.name}: ${e?.message ?? e}`));
    });
  }

  /** @param {any} ses @param {[number, number][]} ranges */
  #onNack(ses, ranges) {
    const n = chunkCount(this.size, this.#chunkSize);
    for (const [a, b] of ranges) {
      for (let i = a; i < Math.min(b, n); i++) {
        const k = (this.#nacks.get(i) ?? 0) + 1;
        this.#nacks.set(i, k);
        if (k > MAX_RESENDS + 1) {
          ses.hub._control({ t: 'error', id: this.id, code: 'integrity', message: `chunk ${i} failed ${k} times` });
          this.#end(fileError(FileErrorCode.INTEGRITY, `chunk ${i} of ${this.name} failed to verify ${k} times`));
          return;
        }
        if (!ses.resend.includes(i)) ses.resend.push(i);
      }
    }
    this.#poke();
  }

  /** @param {string} hash */
  async #onComplete(hash) {
    if (!this.#hash) {
      // Only an answer to `done` (and the hash must not run beside the sending).
      this.#session?.hub._control({ t: 'error', id: this.id, code: 'bad-message', message: 'complete before done' });
      this.#end(fileError(FileErrorCode.BAD_MESSAGE, `${this.peerId} said complete before the file was sent`));
      return;
    }
    const mine = await this.#wholeHash();
    if (this.done) return;
    if (hash !== mine) {
      this.#session?.hub._control({ t: 'error', id: this.id, code: 'integrity', message: 'the whole-file hash differs' });
      this.#end(fileError(FileErrorCode.INTEGRITY, `${this.name}: the receiver's hash differs from the file's`));
      return;
    }
    this._progress(this.size, true);
    this.state = 'complete';
    this.#detach();
    this._slots.onComplete.emit({ hash: mine, name: this.name, size: this.size, path: this.path });
  }

  /** @param {WebRTC2Error} err */
  #end(err) {
    if (this.done) return;
    this._fail(err);
    this.#detach();
  }

  #detach() {
    this.#session?.hub._forget(this.id);
    this.#session = null;
    this.#reg._dropOutgoing(this);
    this.#poke();
    if (this.done) {
      this.#box?.free();
      this.#box = null;
    }
  }

  #poke() {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Resolves at the next poke (a nack, a continue, a drop). */
  #sleep() {
    return new Promise((resolve) => { this.#wake = resolve; });
  }

  /**
   * Bytes [off, off + len) of the file. Reads go through a block of
   * READ_BLOCK bytes (one Blob read per block, not per chunk: each read is
   * a round trip to the browser's blob storage), so memory holds one block.
   * @param {number} off
   * @param {number} len
   * @returns {Promise<Uint8Array>}
   */
  async #read(off, len) {
    const b = this.#block;
    if (!b || off < b.start || off + len > b.start + b.bytes.length) {
      const end = Math.min(this.size, Math.max(off + len, off + READ_BLOCK));
      this.#block = { start: off, bytes: new Uint8Array(await this.#file.slice(off, end).arrayBuffer()) };
    }
    const blk = /** @type {{start: number, bytes: Uint8Array}} */ (this.#block);
    return blk.bytes.subarray(off - blk.start, off - blk.start + len);
  }

  /**
   * Hashes the file from where the hash stands up to byte `end` (bytes that
   * were not sent in order: the receiver had them, or they come last).
   * @param {number} end
   */
  async #hashTo(end) {
    while (this.#hashPos < end && !this.done) {
      const to = Math.min(end, this.#hashPos + READ_BLOCK);
      const bytes = new Uint8Array(await this.#file.slice(this.#hashPos, to).arrayBuffer());
      if (this.done) return;
      /** @type {ChunkBox} */ (this.#box).hashBytes(bytes);
      this.#hashPos = to;
    }
  }

  /** @returns {Promise<string>} the whole file's SHA-256, hex */
  #wholeHash() {
    this.#hash ??= (async () => {
      this.#box ??= new ChunkBox(await loadSodium(), this.#chunkSize);
      await this.#hashTo(this.size);
      if (this.#hashPos !== this.size) throw fileError(FileErrorCode.CANCELLED, 'the transfer ended before the file was hashed');
      return this.#box.hashDigest();
    })();
    return this.#hash;
  }

  /**
   * Sends every chunk the receiver lacks, then `done`, then what it nacks,
   * until the session ends. One chunk is read ahead at most.
   * @param {any} ses
   */
  async #run(ses) {
    const s = await loadSodium();
    const n = chunkCount(this.size, this.#chunkSize);
    this.#box ??= new ChunkBox(s, this.#chunkSize);
    if (ses.key.length) this.#box.setKey(ses.key);
    const hooks = /** @type {any} */ (globalThis).__webrtc2TestHooks;
    while (this.#session === ses && !this.done) {
      if (this.#localPause || ses.remotePause) {
        await this.#sleep();
        continue;
      }
      let index = ses.resend.shift();
      const resent = index !== undefined;
      if (index === undefined) {
        while (ses.next < n && ses.sent.has(ses.next)) ses.next += 1;
        if (ses.next < n) index = ses.next++;
      }
      if (index === undefined) {
        if (!ses.doneSent) {
          ses.doneSent = true;
          ses.hub._control({ t: 'done', id: this.id, sha256: await this.#wholeHash() });
          continue; // a nack may have come while the hash was awaited
        }
        await this.#sleep();
        continue;
      }
      const off = index * this.#chunkSize;
      const len = chunkLength(this.size, this.#chunkSize, index);
      if (off > this.#hashPos) await this.#hashTo(off); // chunks the receiver had: hashed, not sent
      const plain = await this.#read(off, len);
      if (this.#session !== ses || this.done) break;
      // Framed (and sealed) in place in libsodium's heap: nothing allocated per chunk.
      const box = /** @type {ChunkBox} */ (this.#box);
      box.fill(this.#id, index, plain);
      if (off === this.#hashPos) {
        box.hashPayload(len);
        this.#hashPos += len;
      }
      if (ses.key.length) box.seal(this.#id, index, index === n - 1, len);
      const payloadLen = len + (ses.key.length ? TAG_BYTES : 0);
      const frame = () => {
        const f = box.frame(payloadLen);
        if (hooks?.corruptChunk?.(this.id, index) === true) f[f.length - 1] ^= 0x01;
        return f;
      };
      const go = () => this.#session === ses && !this.done && !this.#localPause && !ses.remotePause;
      if (!await ses.hub._sendFrame(frame, this.#lanes, go)) {
        // Paused (or ended) before the frame went: it goes first later.
        if (resent) ses.resend.unshift(index);
        else ses.next = Math.min(ses.next, index);
        continue;
      }
      this.stats.chunksSent += 1;
      this.stats.bytesSent += FRAME_HEADER + payloadLen;
      if (resent) this.stats.chunksResent += 1;
      if (!ses.sent.has(index)) {
        ses.sent.add(index);
        ses.sentBytes += len;
      }
      this._progress(ses.sentBytes);
    }
  }
}


/** @param {SendFileOptions} o */
export function checkSendOptions(o) {
  if (!o || !isBlob(o.file)) throw new TypeError('sendFile(): file must be a File or Blob');
  const enc = o.encryption ?? 'ChaCha20-Poly1305';
  if (typeof enc !== 'string' || !['chacha20-poly1305', 'none'].includes(enc.toLowerCase())) {
    throw new TypeError("sendFile(): encryption must be 'ChaCha20-Poly1305' or 'none'");
  }
  if (o.integrity !== undefined && o.integrity !== 'SHA-256') throw new TypeError("sendFile(): integrity must be 'SHA-256'");
  const cs = o.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isInteger(cs) || cs < MIN_CHUNK || cs > MAX_CHUNK) {
    throw new TypeError(`sendFile(): chunkSize must be an integer from ${MIN_CHUNK} to ${MAX_CHUNK}`);
  }
  const lanes = o.lanes ?? 1;
  if (!Number.isInteger(lanes) || lanes < 1 || lanes > MAX_LANES) throw new TypeError(`sendFile(): lanes must be 1 to ${MAX_LANES}`);
  const name = o.name ?? /** @type {File} */ (o.file).name ?? 'file';
  if (typeof name !== 'string' || name === '' || new TextEncoder().encode(name).length > 1024) {
    throw new TypeError('sendFile(): the name must be 1 to 1024 bytes (pass name for a Blob)');
  }
  if (o.path !== undefined && (!validPath(o.path) || new TextEncoder().encode(o.path).length > 4096)) {
    throw new TypeError('sendFile(): path must be relative, /-separated, without . or .. segments');
  }
}
