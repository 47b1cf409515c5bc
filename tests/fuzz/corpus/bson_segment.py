#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_bson_segment into DIR: small decompressed archive segments
(bson.gz/1 documents of device h017, source robot) built with Python's bson module, so the
seeds are made by an independent encoder and no binary file is kept in the tree.

  bson_segment.py DIR"""
import datetime
import os
import sys
import uuid

import bson
from bson.binary import Binary
from bson.int64 import Int64

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def message(seq, headers=None, payload=b"", clock=False, device="h017"):
    doc = {"_id": Binary(uuid.UUID(int=seq).bytes, 4), "seq": Int64(seq),
           "ts": EPOCH + datetime.timedelta(milliseconds=1764460800000 + seq),
           "device": device, "source": "robot", "topic": f"robot/arm/{seq % 3}",
           "qos": seq % 3, "retain": seq % 2 == 0, "dup": False}
    if clock:
        doc["clock"] = "unsynced"
    doc["headers"] = headers if headers is not None else {}
    doc["payload"] = Binary(payload, 0)
    return bson.encode(doc)


FULL = {"user_properties": [["a", "1"], ["_id", str(uuid.UUID(int=7))], ["a", "2"]],
        "content_type": "application/octet-stream", "payload_format": 0,
        "response_topic": "robot/reply", "correlation_data": Binary(b"\x00c", 0),
        "message_expiry": 60}

SEEDS = {
    "minimal": message(1),
    "three": message(1, payload=b"\x00\xff") + message(2, FULL, b"x" * 40) + message(3, clock=True),
    "full_headers": message(5, FULL, bytes(range(256))),
    "gap": message(1) + message(3),
    "other_device": message(1, device="h018"),
    "truncated": (message(1) + message(2))[:-5],
}

if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
