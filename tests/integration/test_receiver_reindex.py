"""Accepted bytes are immutable, whatever the index says. A populated receiver's index.db is
zeroed: the restarted receiver refuses ingest (503, /healthz naming the index) instead of
letting a PUT replace an accepted file; `granary-receiver reindex` rebuilds the index from
accepted/ and afterwards coverage, devices and `verify` are exactly as before. Started with
--allow-stale-index over a zeroed index, a PUT of an accepted key with other readings is a
conflict. No accepted file's SHA-256 ever changes."""
import json
import os

from harness import check
from receiver_harness import (Receiver, accepted_digests, boto3_client, run_receivers,
                              s3_error_code, segment, segment_lines)

SEGMENTS = 20


def tombstone(first, last):
    body = json.dumps({"device": "h017", "source": "meter", "first_seq": first, "last_seq": last,
                       "count": last - first + 1, "reason": "quota", "at": 1}).encode()
    key = f"granary/h017/meter/tombstones/h017-meter-{first}-{last}.tombstone.json"
    return key, body, {"granary-format": "tombstone/1"}


def snapshot(r):
    status, devices = r.api("/api/v1/devices")
    check(status == 200, f"devices {status}")
    devices.pop("now")  # the answer's clock, not the index
    for d in devices["devices"]:
        d.pop("last_seen"), d.pop("first_seen")
    return r.coverage("h017", "meter"), devices, r.cli("verify").stdout


def zero_index(r):
    for suffix in ("", "-wal", "-shm"):
        path = os.path.join(r.data, "index.db" + suffix)
        if os.path.exists(path):
            open(path, "wb").close()


def other_readings(first, last):
    return segment("h017", "meter", first, last, segment_lines("h017", "meter", first, last, ts0=7))


def test_zeroed_index(r):
    s3 = boto3_client(r.endpoint)
    for i in range(SEGMENTS):
        if i == 5:
            continue  # a gap, explained below
        key, body, meta = segment("h017", "meter", i * 10 + 1, i * 10 + 10)
        s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta,
                      ContentType="application/octet-stream")  # as the agent sends it
    key, body, meta = tombstone(51, 60)
    s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
    before = snapshot(r)
    digests = accepted_digests(r.data)
    check(len(digests) == SEGMENTS and "0 missing" in before[2], f"before: {before}")
    r.stop()

    zero_index(r)
    r.start()
    status, health = r.api("/healthz", token=None)
    health = health if isinstance(health, dict) else json.loads(health)
    check(status == 503 and health.get("failing") == "index" and "reindex" in health["error"],
          f"healthz over a zeroed index: {status} {health}")
    s3 = boto3_client(r.endpoint)
    key, other, meta = other_readings(1, 10)
    code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=other, Metadata=meta))
    check(code == ("ServiceUnavailable", 503), f"PUT over an accepted key answered {code}")
    key, fresh, meta = segment("h017", "meter", 1001, 1010)
    code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=fresh, Metadata=meta))
    check(code == ("ServiceUnavailable", 503), f"new PUT with the index behind answered {code}")
    check(accepted_digests(r.data) == digests, "an accepted file changed while refusing")
    r.stop()

    # The explicit override still never replaces accepted bytes.
    r.start(args=["--allow-stale-index"])
    s3 = boto3_client(r.endpoint)
    key, other, meta = other_readings(11, 20)
    code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=other, Metadata=meta))
    check(code == ("ObjectConflict", 409), f"PUT over an accepted key, index empty: {code}")
    check(accepted_digests(r.data) == digests, "an accepted file was replaced")
    r.stop()

    zero_index(r)
    out = r.cli("reindex")
    check(out.returncode == 0 and f"{SEGMENTS} added" in out.stdout, f"reindex: {out.stdout}{out.stderr}")
    again = r.cli("reindex")
    check(again.returncode == 0 and f"{SEGMENTS} already indexed" in again.stdout,
          f"second reindex: {again.stdout}{again.stderr}")
    r.start()
    status, health = r.api("/healthz", token=None)
    check(status == 200, f"healthz after reindex: {status} {health}")
    after = snapshot(r)
    check(after == before, f"after reindex:\n{after}\nbefore:\n{before}")
    s3 = boto3_client(r.endpoint)
    key, body, meta = segment("h017", "meter", 1, 10)
    got = s3.get_object(Bucket="granary", Key=key)
    check(got["Body"].read() == body and got["Metadata"] == meta, f"reindexed object {got['Metadata']}")
    check(got["ContentType"] == "application/octet-stream", f"Content-Type {got['ContentType']}")
    key, other, meta = other_readings(1, 10)
    code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=other, Metadata=meta))
    check(code == ("ObjectConflict", 409), f"PUT over an accepted key after reindex: {code}")
    check(accepted_digests(r.data) == digests, "an accepted file changed")


def main():
    r = Receiver().start()
    run_receivers([r], lambda: test_zeroed_index(r), f"receiver reindex ({SEGMENTS} objects)")


if __name__ == "__main__":
    main()
