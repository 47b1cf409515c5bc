#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_compact_run into DIR: a count byte, then a compact run
(storage/run_codec.h) encoded here from the format's description.

  compact_run.py DIR"""
import os
import sys


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def reading(delta, data, synced=True):
    zigzag = (delta << 1) if delta >= 0 else ((-delta) << 1) - 1
    return varint(zigzag) + varint((len(data) << 1) | (0 if synced else 1)) + data


def main(out):
    seeds = {
        "one": bytes([1]) + reading(0, b'{"v":1}'),
        "three": bytes([3]) + reading(0, b'{"demand_kw":1.5}') + reading(1000, b'{"demand_kw":1.6}', False)
        + reading(1000, b'{"s":"\\u00e9"}'),
        "backwards": bytes([2]) + reading(0, b"{}") + reading(-5, b'{"a":[1,2]}'),
    }
    for name, body in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(body)


if __name__ == "__main__":
    main(sys.argv[1])
