#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_turn.c into tests/fuzz/corpus/turn/.

Each seed is a sequence of harness events: kind (1 byte), n (2 bytes,
big-endian), then n bytes for the kinds that carry bytes (see the comment at
the top of fuzz_turn.c). Requests of kind 4/5 are signed by the harness with
its fixed REST credential and the last nonce the engine handed out, so a
seed can walk the whole authenticated flow.

Usage: python3 tests/fuzz/gen_turn_corpus.py  (from the repository root)
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "turn")
MAGIC = 0x2112A442

UDP, TCP, PEER, TICK, SIGNED_UDP, SIGNED_TCP, CLOSED, BOOKKEEPING = range(8)

BINDING, ALLOCATE, REFRESH, SEND, CREATE_PERMISSION, CHANNEL_BIND = 1, 3, 4, 6, 8, 9
REQUEST, INDICATION = 0, 1

A_CHANNEL_NUMBER = 0x000C
A_LIFETIME = 0x000D
A_XOR_PEER_ADDRESS = 0x0012
A_DATA = 0x0013
A_REQUESTED_ADDRESS_FAMILY = 0x0017
A_REQUESTED_TRANSPORT = 0x0019
A_DONT_FRAGMENT = 0x001A


def msg_type(method, cls):
    return ((method & 0xF80) << 2) | ((method & 0x070) << 1) | (method & 0x00F) | \
        ((cls & 1) << 4) | ((cls & 2) << 7)


def attr(t, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack(">HH", t, len(value)) + value + b"\0" * pad


def stun(method, cls, txid, *attrs):
    body = b"".join(attrs)
    return struct.pack(">HHI", msg_type(method, cls), len(body), MAGIC) + txid + body


def xor_peer(ip, port):
    a = bytes(int(x) for x in ip.split("."))
    x = bytes(b ^ m for b, m in zip(a, struct.pack(">I", MAGIC)))
    return attr(A_XOR_PEER_ADDRESS, struct.pack(">BBH", 0, 1, port ^ (MAGIC >> 16)) + x)


def txid(n):
    return struct.pack(">III", 0x10203040, 0x50607080, n)


def event(kind, payload=b"", arg=None, index=0):
    k = kind | (index << 3)
    if arg is not None:
        return struct.pack(">BH", k, arg)
    return struct.pack(">BH", k, len(payload)) + payload


def channeldata(ch, data, pad=False):
    out = struct.pack(">HH", ch, len(data)) + data
    if pad:
        out += b"\0" * ((4 - len(data) % 4) % 4)
    return out


def udp_transport():
    return attr(A_REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))


def full_flow(kind_plain, kind_signed, pad):
    """Allocate (401, then signed) -> CreatePermission -> ChannelBind ->
    ChannelData both ways -> Send/Data -> Refresh(0)."""
    seq = [
        event(kind_plain, stun(BINDING, REQUEST, txid(1))),
        event(kind_plain, stun(ALLOCATE, REQUEST, txid(2), udp_transport())),
        event(kind_signed, stun(ALLOCATE, REQUEST, txid(3), udp_transport(),
                                attr(A_LIFETIME, struct.pack(">I", 1200)))),
        event(kind_signed, stun(CREATE_PERMISSION, REQUEST, txid(4),
                                xor_peer("198.51.100.7", 5000))),
        event(kind_signed, stun(CHANNEL_BIND, REQUEST, txid(5),
                                attr(A_CHANNEL_NUMBER, struct.pack(">HH", 0x4000, 0)),
                                xor_peer("198.51.100.7", 5000))),
        event(kind_plain, channeldata(0x4000, b"hello", pad)),
        event(PEER, b"from peer", index=0),
        event(PEER, b"other port", index=1),
        event(kind_plain, stun(SEND, INDICATION, txid(6), xor_peer("198.51.100.7", 6000),
                               attr(A_DATA, b"send me"))),
        event(TICK, arg=30000),
        event(BOOKKEEPING, arg=0),
        event(kind_plain, stun(ALLOCATE, REQUEST, txid(7), udp_transport())),
        event(kind_signed, stun(REFRESH, REQUEST, txid(8),
                                attr(A_LIFETIME, struct.pack(">I", 0)))),
        event(kind_signed, stun(REFRESH, REQUEST, txid(8),
                                attr(A_LIFETIME, struct.pack(">I", 0)))),
    ]
    return b"".join(seq)


def seeds():
    yield "full_flow_udp", full_flow(UDP, SIGNED_UDP, False)
    yield "full_flow_tcp", full_flow(TCP, SIGNED_TCP, True) + event(CLOSED, arg=0)
    yield "binding", event(UDP, stun(BINDING, REQUEST, txid(1)))
    yield "unknown_attr", event(UDP, stun(BINDING, REQUEST, txid(1),
                                          attr(0x0033, b"\0\0\0\1")))
    yield "allocate_errors", b"".join([
        event(UDP, stun(ALLOCATE, REQUEST, txid(1), udp_transport())),
        event(SIGNED_UDP, stun(ALLOCATE, REQUEST, txid(2),
                               attr(A_REQUESTED_TRANSPORT, bytes([6, 0, 0, 0])))),
        event(SIGNED_UDP, stun(ALLOCATE, REQUEST, txid(3), udp_transport(),
                               attr(A_DONT_FRAGMENT, b""))),
        event(SIGNED_UDP, stun(ALLOCATE, REQUEST, txid(4), udp_transport(),
                               attr(A_REQUESTED_ADDRESS_FAMILY, bytes([2, 0, 0, 0])))),
        event(SIGNED_UDP, stun(ALLOCATE, REQUEST, txid(5), udp_transport())),
        event(SIGNED_UDP, stun(CREATE_PERMISSION, REQUEST, txid(6),
                               xor_peer("10.0.0.1", 5000))),
        event(SIGNED_UDP, stun(CHANNEL_BIND, REQUEST, txid(7),
                               attr(A_CHANNEL_NUMBER, struct.pack(">HH", 0x5000, 0)),
                               xor_peer("198.51.100.7", 5000))),
    ])
    yield "expiry", b"".join([
        event(UDP, stun(ALLOCATE, REQUEST, txid(1), udp_transport())),
        event(SIGNED_UDP, stun(ALLOCATE, REQUEST, txid(2), udp_transport())),
        event(SIGNED_UDP, stun(CHANNEL_BIND, REQUEST, txid(3),
                               attr(A_CHANNEL_NUMBER, struct.pack(">HH", 0x4001, 0)),
                               xor_peer("127.0.0.1", 5000))),
        event(PEER, b"loopback peer", index=2),
        event(TICK, arg=60000),
        event(BOOKKEEPING, arg=0),
        event(PEER, b"too late", index=2),
    ])
    yield "malformed", b"".join([
        event(UDP, b"\xc0\x00\x00\x00garbage!"),
        event(UDP, channeldata(0x4000, b"x")[:3]),
        event(UDP, stun(BINDING, REQUEST, txid(1))[:19]),
        event(TCP, b"\x00\x01\x00\x04\x21\x12\xa4\x42" + b"\0" * 12),
    ])


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
