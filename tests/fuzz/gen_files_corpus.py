#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_files.c into tests/fuzz/corpus/files/.

Every seed is one selector byte and the input (see fuzz_files.c):
  00 + a control message: every control_valid and control_invalid entry of
       tests/vectors/file-transfer-v1.json;
  01 + a frame: every frame of the vectors' "chacha-hash" and "none-small"
       manifests (the fuzz target's sessions, so they open) and every
       frames_invalid entry;
  02 + manifest bytes: every manifest of the vectors.

Run from anywhere: python3 tests/fuzz/gen_files_corpus.py
Deterministic: re-running it changes nothing unless the vectors changed.
Files named fuzzed_* in that directory are inputs a libFuzzer run found;
this script leaves them alone."""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "files")
VECTORS = os.path.join(HERE, "..", "vectors", "file-transfer-v1.json")


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if not name.startswith("fuzzed_"):
            os.remove(os.path.join(OUT, name))
    with open(VECTORS, encoding="utf-8") as f:
        v = json.load(f)
    for i, c in enumerate(v["control_valid"]):
        write("ctrl_valid_%02d_%s" % (i, c["t"]), b"\0" + c["json"].encode())
    for i, c in enumerate(v["control_invalid"]):
        write("ctrl_invalid_%02d" % i, b"\0" + c["json"].encode())
    for m in v["manifests"]:
        write("manifest_" + m["name"], b"\2" + bytes.fromhex(m["manifest"]))
        if m["name"] not in ("chacha-hash", "none-small"):
            continue
        for fr in m["frames"]:
            if "frame" in fr:
                write("frame_%s_%d" % (m["name"], fr["index"]), b"\1" + bytes.fromhex(fr["frame"]))
    for fr in v["frames_invalid"]:
        write("frame_invalid_" + fr["name"], b"\1" + bytes.fromhex(fr["frame"]))


if __name__ == "__main__":
    main()
