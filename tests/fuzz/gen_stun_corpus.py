#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_stun.c into tests/fuzz/corpus/stun/.

Seeds: the RFC 5769 test vectors and RFC 8489 Appendix B.1, TURN requests
(Allocate, Refresh, CreatePermission, ChannelBind, Send) with and without
long-term credentials, responses and indications, ChannelData, and a few
malformed messages. Integrity uses the fuzz target's fixed key where a
message is "ours", so the fuzzer starts from messages whose checks pass.

Run from anywhere: python3 tests/fuzz/gen_stun_corpus.py
The output is deterministic (fixed transaction ids), so re-running it
changes nothing in git unless this script changed. Files named fuzzed_* in
that directory are inputs a libFuzzer run found (they add coverage over
these seeds); this script leaves them alone."""

import hashlib
import hmac
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "stun")
COOKIE = 0x2112A442
KEY = b"VOkJxbRl1RmTxUk/WvJxBt"  # the fuzz target's fixed key
TXID = bytes(range(1, 13))

RFC5769 = {
    "rfc5769_2_1_request": "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e"
    "20746573742063 6c69656e74002400046e0001ff80290008932ff9b151263b3600060009"
    "6576746a3a6836765920202000080014 9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    "80280004e57a3bcf",
    "rfc5769_2_2_ipv4_response": "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b"
    "7465737420766563746f7220002000080001a147e112a643000800142b91f599fd9e90c38c74"
    "89f92af9ba53f06be7d780280004c07d4c96",
    "rfc5769_2_3_ipv6_response": "010100482112a442b7e7a701bc34d686fa87dfae8022000b"
    "7465737420766563746f7220002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed4180280004c8fb0b4c",
    "rfc5769_2_4_long_term": "000100602112a44278ad3433c6ad72c029da412e00060012"
    "e3839ee38388e383aae38383e382afe382b90000001500 1c662f2f3439396b39353464364f4c"
    "33346f4c394653547679363473410014000b6578616d706c652e6f72670000080014f6702465"
    "6dd64a3e02b8e0712e85c9a28ca89666",
    "rfc8489_b_1_sha256": "000100902112a44278ad3433c6ad72c029da412e001e00204a3cf38f"
    "ef6992bda952c6780417da0f24819415569e60b205c46e41407f1704001500296f624d61744a"
    "6f7332414141 43662f2f3439396b39353464364f4c33346f4c394653547679363473410000 00"
    "0014000b6578616d706c652e6f726700001d00040002000 0001c0020b5c7bf005b6c52a21c51"
    "c5e892f81924136296cb927c43149309278cc6518e65",
}


def msg_type(method, cls):
    return ((method & 0xF) | ((method & 0x70) << 1) | ((method & 0xF80) << 2)
            | ((cls & 1) << 4) | ((cls & 2) << 7))


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4)


def header(method, cls, body_len, txid=TXID):
    return struct.pack("!HHI", msg_type(method, cls), body_len, COOKIE) + txid


def message(method, cls, attrs, mi=None, sha256=None, fp=False, txid=TXID):
    """attrs: list of (type, value). mi / sha256: HMAC keys or None."""
    body = b"".join(attr(t, v) for t, v in attrs)
    if mi is not None:
        mac = hmac.new(mi, header(method, cls, len(body) + 24, txid) + body,
                       hashlib.sha1).digest()
        body += attr(0x0008, mac)
    if sha256 is not None:
        mac = hmac.new(sha256, header(method, cls, len(body) + 36, txid) + body,
                       hashlib.sha256).digest()
        body += attr(0x001C, mac)
    if fp:
        crc = zlib.crc32(header(method, cls, len(body) + 8, txid) + body) ^ 0x5354554E
        body += attr(0x8028, struct.pack("!I", crc))
    return header(method, cls, len(body), txid) + body


def xaddr(ip, port, txid=TXID):
    """XOR-encoded address value (RFC 8489 section 14.2)."""
    pad = struct.pack("!I", COOKIE) + txid
    raw = bytes(int(x) for x in ip.split(".")) if "." in ip else ip6(ip)
    fam = 1 if len(raw) == 4 else 2
    x = bytes(a ^ b for a, b in zip(raw, pad))
    return struct.pack("!BBH", 0, fam, port ^ (COOKIE >> 16)) + x


def ip6(text):
    import ipaddress
    return ipaddress.IPv6Address(text).packed


CRED = [(0x0006, b"alice"), (0x0014, b"example.org"),
        (0x0015, b"obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA")]


def turn_seeds():
    u32 = lambda v: struct.pack("!I", v)
    udp = (0x0019, bytes([17, 0, 0, 0]))
    peer4 = (0x0012, xaddr("203.0.113.9", 49152))
    peer6 = (0x0012, xaddr("2001:db8::9", 40000))
    return {
        "allocate_noauth": message(3, 0, [udp]),
        "allocate_auth": message(3, 0, [udp, (0x000D, u32(600)), (0x001A, b"")] + CRED,
                                 mi=KEY, fp=True),
        "allocate_401": message(3, 3, [(0x0009, b"\0\0\x04\x01Unauthorized"),
                                       CRED[1], CRED[2],
                                       (0x8002, b"\0\x02\0\0\0\x01\0\0")], fp=True),
        "allocate_success": message(3, 2, [(0x0016, xaddr("198.51.100.1", 50000)),
                                           (0x0020, xaddr("192.0.2.1", 32853)),
                                           (0x000D, u32(600))], mi=KEY),
        "refresh_auth": message(4, 0, [(0x000D, u32(0))] + CRED, mi=KEY),
        "refresh_noauth": message(4, 0, [(0x000D, u32(300))]),
        "create_permission_auth": message(8, 0, [peer4, peer6] + CRED, mi=KEY, fp=True),
        "create_permission_noauth": message(8, 0, [peer4]),
        "channel_bind_auth": message(9, 0, [(0x000C, u32(0x40010000)), peer4] + CRED,
                                     mi=KEY, sha256=KEY),
        "channel_bind_noauth": message(9, 0, [(0x000C, u32(0x4FFF0000)), peer6]),
        "send_indication": message(6, 1, [peer4, (0x0013, b"hello, peer")]),
        "data_indication": message(7, 1, [peer6, (0x0013, b"\x80\x00" * 7)]),
        "binding_ice": message(1, 0, [(0x0006, b"abcd:efgh"), (0x0024, u32(0x6E0001FF)),
                                      (0x802A, bytes(8)), (0x0025, b"")],
                               mi=KEY, fp=True),
        "binding_420": message(1, 3, [(0x0009, b"\0\0\x04\x14Unknown Attribute"),
                                      (0x000A, b"\x00\x02\x7f\xff\x00\x03")], fp=True),
        "unknown_required": message(1, 0, [(0x0002, b"x"), (0x7FFF, b""), (0x8005, b"opt")]),
        "channeldata_udp": b"\x40\x01\x00\x05hello",
        "channeldata_tcp": b"\x40\x01\x00\x05hello\0\0\0",
        "channeldata_empty": b"\x4f\xff\x00\x00",
        "channeldata_reserved": b"\x50\x00\x00\x01x",
    }


def truncated_sha256():
    """MESSAGE-INTEGRITY-SHA256 truncated to 16 bytes (RFC 8489 section 14.6)."""
    body = attr(0x0006, b"bob")
    h = header(1, 0, len(body) + 20)
    mac = hmac.new(KEY, h + body, hashlib.sha256).digest()[:16]
    return h + body + attr(0x001C, mac)


def malformed(seeds):
    good = seeds["allocate_auth"]
    return {
        "bad_truncated_header": good[:19],
        "bad_cookie": good[:4] + b"\x21\x12\xa4\x43" + good[8:],
        "bad_length_odd": good[:2] + struct.pack("!H", len(good) - 22) + good[4:-2],
        "bad_attr_overrun": header(1, 0, 8) + struct.pack("!HH", 0x0006, 12) + b"abcd",
        "bad_after_fingerprint": message(1, 0, [], fp=True)[:2]
        + struct.pack("!H", 16) + message(1, 0, [], fp=True)[4:] + attr(0x8022, b"late"),
        "bad_fingerprint_len": message(1, 0, [(0x8028, bytes(8))]),
        "bad_mi_len": message(1, 0, [(0x0008, bytes(16))]),
        "tcp_two_frames": seeds["refresh_noauth"] + seeds["channeldata_tcp"],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {k: bytes.fromhex(v.replace(" ", "")) for k, v in RFC5769.items()}
    seeds.update(turn_seeds())
    seeds["mi_sha256_truncated"] = truncated_sha256()
    seeds.update(malformed(seeds))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
