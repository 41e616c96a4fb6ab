#!/usr/bin/env python3
"""Recomputes tests/vectors/file-transfer-v1.json with another library than
the one that wrote it (Python's `cryptography` and hashlib, not libsodium),
so that the vectors are right by the doc (docs/file-transfer.md), not only
self-consistent. Checks the key pairs, the shared secret, every manifest's
bytes from its offer fields, the transcript, the session key, every frame
(sealed again here, byte for byte, and opened), that every frames_invalid
entry is refused, and that every keys_invalid peer key gives an all-zero
secret.

Run: python3 tests/vectors/check_file_vectors.py [path]; exit 0 when all
agree."""

import hashlib
import json
import os
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = os.path.dirname(os.path.abspath(__file__))


def pk_of(sk):
    return X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def x25519(sk, pk):
    return X25519PrivateKey.from_private_bytes(sk).exchange(X25519PublicKey.from_public_bytes(pk))


def manifest_bytes(f):
    name = f["name"].encode()
    path = f.get("path", "").encode()
    out = b"webrtc2-file/1" + bytes.fromhex(f["id"])
    out += struct.pack(">QIB", f["size"], f["chunkSize"], 1 if f["enc"] == "chacha20-poly1305" else 0)
    out += b"\x01" + bytes.fromhex(f["sha256"]) if "sha256" in f else b"\x00"
    return out + struct.pack(">H", len(name)) + name + struct.pack(">H", len(path)) + path


def nonce_ad(fid, index, n):
    return (b"\0" * 4 + struct.pack(">Q", index),
            fid + struct.pack(">QB", index, 1 if index == n - 1 else 0))


def check_manifest(m, keys):
    f = m["fields"]
    mb = manifest_bytes(f)
    assert mb.hex() == m["manifest"], m["name"] + ": manifest"
    tr = hashlib.sha256(mb + keys["sender_pk"] + keys["receiver_pk"]).digest()
    assert tr.hex() == m["transcript"], m["name"] + ": transcript"
    key = hashlib.blake2b(b"webrtc2-file/1 chunk key" + tr, digest_size=32,
                          key=keys["shared"]).digest()
    assert key.hex() == m["key"], m["name"] + ": key"
    n = -(-f["size"] // f["chunkSize"])
    assert n == m["chunk_count"], m["name"] + ": chunk count"
    fid = bytes.fromhex(f["id"])
    for fr in m["frames"]:
        nonce, ad = nonce_ad(fid, fr["index"], n)
        assert nonce.hex() == fr["nonce"] and ad.hex() == fr["ad"], m["name"] + ": nonce/ad"
        if "frame" not in fr:
            continue
        plain = bytes((fr["offset"] + k) % 251 for k in range(fr["length"]))
        payload = ChaCha20Poly1305(key).encrypt(nonce, plain, ad) if f["enc"] != "none" else plain
        frame = bytes([1, 1]) + fid + struct.pack(">Q", fr["index"]) + payload
        assert frame.hex() == fr["frame"], "%s: frame %d" % (m["name"], fr["index"])
    return key, n, fid, f


def refused(inv, ctx):
    key, n, fid, f = ctx
    frame = bytes.fromhex(inv["frame"])
    if len(frame) < 26 or frame[0] != 1 or frame[1] != 1 or frame[2:18] != fid:
        return "reject"
    index = struct.unpack(">Q", frame[18:26])[0]
    if index >= n:
        return "reject"
    length = min(f["chunkSize"], f["size"] - index * f["chunkSize"]) + 16
    if len(frame) - 26 != length:
        return "reject"
    nonce, ad = nonce_ad(fid, index, n)
    try:
        ChaCha20Poly1305(key).decrypt(nonce, frame[26:], ad)
    except InvalidTag:
        return "auth"
    return None


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "file-transfer-v1.json")
    with open(path, encoding="utf-8") as fh:
        v = json.load(fh)
    keys = {k: bytes.fromhex(h) for k, h in v["keys"].items()}
    assert pk_of(keys["sender_sk"]) == keys["sender_pk"]
    assert pk_of(keys["receiver_sk"]) == keys["receiver_pk"]
    assert x25519(keys["sender_sk"], keys["receiver_pk"]) == keys["shared"]
    assert x25519(keys["receiver_sk"], keys["sender_pk"]) == keys["shared"]
    ctx = {m["name"]: check_manifest(m, keys) for m in v["manifests"]}
    for inv in v["frames_invalid"]:
        got = refused(inv, ctx[inv["manifest"]])
        assert got == inv["expect"], "%s: %s, expected %s" % (inv["name"], got, inv["expect"])
    for k in v["keys_invalid"]:
        try:
            shared = x25519(bytes.fromhex(k["own_sk"]), bytes.fromhex(k["peer_pk"]))
        except ValueError:
            continue  # the library refuses the all-zero result itself
        assert shared == b"\0" * 32, k["why"]
    print("ok: %d manifests, %d invalid frames, %d invalid keys" %
          (len(v["manifests"]), len(v["frames_invalid"]), len(v["keys_invalid"])))


if __name__ == "__main__":
    main()
