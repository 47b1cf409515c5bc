"""Archive segments (bson.gz/1) built with Python's bson module (python3-bson), independently of
the receiver's libbson, and uploaded with a signed PUT the way the agent does; shared by the
tests that need archived MQTT messages in a receiver."""
import datetime
import gzip
import uuid

import bson
from bson.binary import Binary
from bson.int64 import Int64

from harness import check
from receiver_harness import s3_error_code

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def message_doc(seq, ts_ms, topic, payload, headers=None, device="h017", source="robot", qos=0,
                retain=False):
    """(fields in the format's order, the UUID) as the agent archives a message; the _id goes
    last among the user properties, as the agent appends it."""
    mid = uuid.uuid4()
    headers = dict(headers or {})
    props = list(headers.pop("user_properties", [])) + [["_id", str(mid)]]
    doc = {
        "_id": Binary(mid.bytes, 4),
        "seq": Int64(seq),
        "ts": EPOCH + datetime.timedelta(milliseconds=ts_ms),
        "device": device,
        "source": source,
        "topic": topic,
        "qos": qos,
        "retain": retain,
        "dup": False,
        "headers": {"user_properties": props, **headers},
        "payload": Binary(payload, 0),
    }
    return doc, mid


def upload(s3, docs, device="h017", first=None, raw=None, source="robot"):
    """PUTs one segment of `docs` (or of the bytes `raw`); (the S3 error code or None, key)."""
    first = first if first is not None else int(docs[0]["seq"])
    raw = raw if raw is not None else b"".join(bson.encode(d) for d in docs)
    body = gzip.compress(raw, mtime=0)
    last = first + len(docs) - 1
    key = f"granary/{device}/{source}/2025/11/30/{device}-{source}-20251130T00-{first}.bson.gz"
    meta = {"granary-device": device, "granary-source": source, "granary-first-seq": str(first),
            "granary-last-seq": str(last), "granary-count": str(len(docs)),
            "granary-format": "bson.gz/1"}
    return s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body,
                                               Metadata=meta)), key


def all_messages(r, query="device=h017", limit=70):
    """Every message the list API gives for `query`, following next_cursor."""
    out, cursor = [], ""
    for _ in range(100):
        status, page = r.api(f"/api/v1/messages?{query}&limit={limit}{cursor}")
        check(status == 200, f"messages: {status} {page}")
        out += page["messages"]
        if "next_cursor" not in page:
            return out
        cursor = f"&cursor={page['next_cursor']}"
    raise AssertionError("more than 100 pages")
