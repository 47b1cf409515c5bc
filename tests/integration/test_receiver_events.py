"""Real-S3 mode: objects land in an S3 bucket (here another granary-receiver, which is
S3-compatible and verifies SigV4), and standard S3 event notifications POSTed to
/v1/events/s3 make the receiver GET each object with the shared S3 client (s3/) and run the
same pipeline. Repeated notifications are idempotent; a bad token is 401, a malformed
document 400, and an object that cannot be fetched 503 so the notifier retries.

Then [s3] mode = "in_place" over Swift+s3api (events posted after listing the bucket, as
Swift sends none): the objects, one larger than a read window, are indexed where they lie
with no copy kept, the readings API streams the right bytes from the source bucket and
`verify` is clean; an object overwritten in the source is reported by `verify` and refused
by the readings API, a later event for it is a conflict whose bytes are kept in conflicts/,
and a deleted one is reported missing. With GRANARY_RECEIVER_INDEX=postgresql that part's
index is a throwaway PostgreSQL."""
import gzip
import http.client
import json
import os
import random
import sys
import urllib.error
import urllib.parse
import urllib.request

from harness import check
from receiver_harness import (DEVICES, Postgres, Receiver, boto3_client, real_s3_config, segment,
                              segment_lines)
from s3peer import CLEAN_AWS_ENV, S3Server

EVENT_TOKEN = "event-token-0123456789abcdef"


def post(r, doc, token=EVENT_TOKEN):
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    req = urllib.request.Request(r.endpoint + "/v1/events/s3", data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def records(keys, bucket="granary"):
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": bucket},
                                "object": {"key": urllib.parse.quote_plus(k, safe="/"), "size": 1}}}
                        for k in keys]}


def main():
    upstream = Receiver().start()
    ak, sk = DEVICES["h017"]
    r = Receiver(extra=real_s3_config(upstream.endpoint, "granary", ak, sk, EVENT_TOKEN)).start()
    try:
        s3 = boto3_client(upstream.endpoint)
        keys, bodies = [], {}
        for first in (1, 101, 201):
            key, body, meta = segment("h017", "meter", first, first + 99)
            if first == 101:
                key = key.replace("20241122T14-101", "a b+c-101")  # event keys are form-encoded
            s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
            keys.append(key)
            bodies[key] = body
        status, body = post(r, records(keys))
        check(status == 200 and [x["outcome"] for x in body["records"]] == ["accepted"] * 3,
              f"events: {status} {body}")
        for key in keys:
            with open(os.path.join(r.data, "accepted", "granary", key), "rb") as f:
                check(f.read() == bodies[key], f"{key}: fetched bytes differ")
        cov = r.coverage("h017", "meter")
        check(cov["ranges"] == [[1, 300]] and cov["readings"] == 300, f"coverage {cov}")
        # Repeated (and SNS-wrapped) notifications change nothing.
        status, body = post(r, records(keys))
        check(status == 200 and all(x["outcome"] == "duplicate" for x in body["records"]), f"repeat: {body}")
        sns = {"Type": "Notification", "Message": json.dumps(records(keys[:1]))}
        status, body = post(r, sns)
        check(status == 200 and body["records"][0]["outcome"] == "duplicate", f"SNS: {body}")
        check(r.coverage("h017", "meter")["readings"] == 300, "repeated events indexed twice")
        # Refusals.
        status, _ = post(r, records(keys), token="wrong-token-0123456789")
        check(status == 401, f"wrong event token answered {status}")
        status, _ = post(r, b"{not json")
        check(status == 400, f"malformed event answered {status}")
        status, body = post(r, records(["granary/h017/meter/missing-meter-999.jsonl.gz"]))
        check(status == 503, f"missing object answered {status}")
        status, body = post(r, records(keys[:1], bucket="other-bucket"))
        check(status == 503, f"other bucket answered {status}")
        status, metrics = r.api("/metrics", token=None)
        check("granary_receiver_s3_event_fetch_errors_total 2" in metrics, "fetch errors not counted")
        print("receiver real-S3 mode: ok")
    except SystemExit:
        print(r.read_log()[-3000:], file=sys.stderr)
        raise
    finally:
        r.stop()
        upstream.stop()
    in_place()


def walk_files(root):
    return [os.path.join(d, n) for d, _, names in os.walk(root) for n in names]


def in_place():
    import boto3
    from botocore.config import Config
    os.environ.update(CLEAN_AWS_ENV)
    postgres = Postgres() if os.environ.get("GRANARY_RECEIVER_INDEX") == "postgresql" else None
    swift = S3Server(bucket="devices")
    r = None
    try:
        src = boto3.client("s3", endpoint_url=swift.endpoint, region_name=swift.region,
                           aws_access_key_id=swift.access_key, aws_secret_access_key=swift.secret_key,
                           config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        rng = random.Random()
        bodies, keys = {}, []
        for first, last, lines in ((1, 100, None), (101, 200, None), (201, 20200, "big")):
            if lines == "big":  # random readings: a segment larger than one 4 MiB read window
                lines = "".join('{"device":"h017","source":"meter","seq":%d,"ts":%d,"data":{"v":"%s"}}\n'
                                % (q, 1732284000000 + q * 1000, rng.randbytes(200).hex())
                                for q in range(first, last + 1))
            key, body, meta = segment("h017", "meter", first, last, lines=lines)
            src.put_object(Bucket=swift.bucket, Key=key, Body=body, Metadata=meta)
            bodies[key] = body
            keys.append(key)
        first_key, second_key, big = keys
        check(len(bodies[big]) > 4 << 20, f"the big segment has only {len(bodies[big])} bytes")
        listed = [o["Key"] for o in src.list_objects_v2(Bucket=swift.bucket)["Contents"]]
        extra = real_s3_config(swift.endpoint, swift.bucket, swift.access_key, swift.secret_key,
                               EVENT_TOKEN, swift.region) + 'mode = "in_place"\n'
        r = Receiver(index=postgres.url if postgres else "sqlite", extra=extra).start()
        status, body = post(r, records(listed, bucket=swift.bucket))
        check(status == 200 and [x["outcome"] for x in body["records"]] == ["accepted"] * 3,
              f"in-place events: {status} {body}")
        status, body = post(r, records(listed, bucket=swift.bucket))
        check(status == 200 and all(x["outcome"] == "duplicate" for x in body["records"]),
              f"in-place repeat: {body}")
        # No copy: nothing accepted in the store, no body or scratch copy left in data_dir.
        check(walk_files(os.path.join(r.data, "accepted")) == [], "an accepted copy was kept")
        left = [n for n in os.listdir(os.path.join(r.data, "quarantine"))
                if n.endswith((".body", ".json", ".scratch"))]
        check(left == [], f"quarantine keeps {left}")
        check(src.list_objects_v2(Bucket=swift.bucket)["KeyCount"] == 3, "the source bucket changed")
        # The readings API streams the source's bytes (the big segment in several windows).
        want = b"".join(gzip.decompress(bodies[k]) for k in keys)
        status, got = r.api("/api/v1/devices/h017/readings?source=meter", raw=True)
        check(status == 200 and got == want,
              f"readings in place: {status}, {len(got)} bytes, want {len(want)}")
        r.stop()
        v = r.cli("verify")
        check(v.returncode == 0 and " 0 missing, 0 with other bytes, 0 not indexed" in v.stdout,
              f"verify in place: {v.stdout}\n{v.stderr}")

        # The source is not ours: bytes overwritten or deleted there are reported, never served.
        _, other, meta = segment("h017", "meter", 1, 100,
                                 segment_lines("h017", "meter", 1, 100, ts0=5))
        src.put_object(Bucket=swift.bucket, Key=first_key, Body=other, Metadata=meta)
        src.delete_object(Bucket=swift.bucket, Key=second_key)
        v = r.cli("verify")
        check(v.returncode != 0 and "changed in the source bucket" in v.stdout and
              f"missing {swift.bucket}/{second_key}" in v.stdout and
              " 1 missing, 1 with other bytes, 0 not indexed" in v.stdout,
              f"verify after the source changed: {v.stdout}\n{v.stderr}")
        r.start()
        try:  # the first segment changed: the stream is cut there, not served
            status, got = r.api("/api/v1/devices/h017/readings?source=meter", raw=True)
            check(status != 200, f"readings of a changed object: {status}, {len(got)} bytes")
        except http.client.IncompleteRead:
            pass
        check("changed in the source bucket" in r.read_log(), "the changed object was not logged")
        status, body = post(r, records([first_key], bucket=swift.bucket))
        check(status == 200 and body["records"][0]["outcome"] == "conflict",
              f"event for other bytes under an indexed key: {status} {body}")
        kept = [open(p, "rb").read() for p in walk_files(os.path.join(r.data, "conflicts"))
                if p.endswith(".body")]
        check(kept == [other], f"conflict evidence: {len(kept)} bodies")
        cov = r.coverage("h017", "meter")
        check(cov["readings"] == 20200, f"the conflict changed the index: {cov}")
        print(f"receiver real-S3 mode in place: 3 objects ({len(bodies[big])} bytes the largest) "
              f"indexed with no copy; changed and deleted ones reported")
    except SystemExit:
        if r is not None:
            print(r.read_log()[-3000:], file=sys.stderr)
        raise
    finally:
        if r is not None:
            r.stop()
        swift.stop()
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    main()
