"""What a failed upload leaves behind, against the real receiver: a body whose Content-MD5
does not match leaves nothing in quarantine/ once answered (it stayed until a restart six
hours later); the same invalid (key, bytes) uploaded five times, as a retrying agent does,
is kept once in rejected/ (there were five copies); a line repeating a key is rejected
(it was accepted and served as is). With evidence_max_bytes, rejected/ and conflicts/ stay
under the cap by removing the oldest evidence, counted in /metrics, while accepted objects
are untouched (rejected/ grew without bound)."""
import json
import os
import random

from harness import check
from receiver_harness import Receiver, boto3_client, run_receivers, s3_error_code, segment, segment_lines


def test_quarantine_emptied(r, s3):
    key, body, meta = segment("h017", "md5", 1, 10)
    code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta,
                                               ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg=="))
    check(code == ("BadDigest", 400), f"bad Content-MD5 answered {code}")
    left = os.listdir(os.path.join(r.data, "quarantine"))
    check(left == [], f"quarantine/ after a failed request: {left}")


def test_rejected_once(r, s3):
    lines = segment_lines("h017", "bad", 1, 4) + segment_lines("h017", "bad", 6, 11)
    key, body, meta = segment("h017", "bad", 1, 10, lines)
    for _ in range(5):
        code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta))
        check(code == ("InvalidSegment", 400), f"invalid segment answered {code}")
    kept = sorted(os.listdir(os.path.join(r.data, "rejected")))
    check(len(kept) == 2, f"rejected/ after 5 identical uploads: {kept}")


def test_duplicate_key(s3):
    line = ('{"device":"h017","source":"dup","seq":1,"ts":1732284001000,"data":{"v":1},'
            '"device":"h018"}\n')
    key, body, meta = segment("h017", "dup", 1, 1, line)
    code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta))
    check(code == ("InvalidSegment", 400), f"a line with a duplicate key answered {code}")


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path))


def test_evidence_cap(r, cap):
    s3 = boto3_client(r.endpoint)
    good_key, good_body, good_meta = segment("h017", "good", 1, 10)
    s3.put_object(Bucket="granary", Key=good_key, Body=good_body, Metadata=good_meta)
    rng = random.Random(7)
    keys = []
    for i in range(40):  # ~4 KiB of gzip each: about three times the cap in all
        noise = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(5000))
        lines = ('{"device":"h017","source":"junk","seq":1,"ts":1,"data":{"n":"%s"}}\n' % noise +
                 '{"device":"h017","source":"junk","seq":3,"ts":2,"data":{}}\n')  # a seq gap
        key, body, meta = segment("h017", "junk", i * 10 + 1, i * 10 + 2, lines)
        keys.append(key)
        code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta))
        check(code == ("InvalidSegment", 400), f"invalid segment {i} answered {code}")
        used = folder_bytes(os.path.join(r.data, "rejected"))
        check(used <= cap, f"rejected/ holds {used} bytes after upload {i}, over the {cap}-byte cap")
    kept = set()
    rejected = os.path.join(r.data, "rejected")
    for name in os.listdir(rejected):
        if name.endswith(".json"):
            with open(os.path.join(rejected, name)) as f:
                kept.add(json.load(f)["key"])
    check(keys[-1] in kept, "the newest evidence was removed")
    check(keys[0] not in kept, "the oldest evidence was kept over the cap")
    evicted = r.metric("granary_receiver_evidence_evicted_total")
    check(evicted == len(keys) - len(kept), f"evicted {evicted}, but {len(keys) - len(kept)} are gone")
    got = s3.get_object(Bucket="granary", Key=good_key)["Body"].read()
    check(got == good_body, "an accepted object changed")
    print(f"evidence cap: {len(keys)} rejected uploads, {len(kept)} kept in "
          f"{folder_bytes(rejected)} bytes under a {cap}-byte cap, {int(evicted)} evicted")


def main():
    r = Receiver().start()

    def body():
        s3 = boto3_client(r.endpoint)
        test_quarantine_emptied(r, s3)
        test_rejected_once(r, s3)
        test_duplicate_key(s3)
    run_receivers([r], body, "receiver evidence")
    cap = 48 * 1024
    capped = Receiver(extra=f"evidence_max_bytes = {cap}\n").start()
    run_receivers([capped], lambda: test_evidence_cap(capped, cap), "receiver evidence cap")


if __name__ == "__main__":
    main()
