"""Fairness against the real receiver: device h017 uploads decompression-heavy valid
segments (a few KiB of gzip that inflate to megabytes of JSON) in 8 parallel streams while
h018 uploads small ones one at a time. Validation runs on its own pool, taking devices in
turn with at most validation.per_device jobs of one device at once, so h018 waits behind at
most one heavy job, not behind all of h017's. The test checks that every upload of both
devices completes (h017's with retries after 503 SlowDown) and prints h018's latency with
and without the load; bench/run.sh runs it on the release build, where the ratio is the
figure (the 2x target). On main, validation ran in the HTTP threads: eight heavy uploads
held every thread and delayed h018 by seconds."""
import json
import os
import statistics
import threading
import time

from botocore.config import Config

from harness import check
from receiver_harness import DEVICES, Receiver, run_receivers, segment

HEAVY_STREAMS = 8
HEAVY_LINES = int(os.environ.get("FAIRNESS_HEAVY_LINES", "120"))  # of ~256 KiB each
PROBES = int(os.environ.get("FAIRNESS_PROBES", "12"))


def client(r, device):
    import boto3
    ak, sk = DEVICES[device]
    return boto3.client("s3", endpoint_url=r.endpoint, region_name="us-east-1",
                        aws_access_key_id=ak, aws_secret_access_key=sk,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      retries={"max_attempts": 30, "mode": "standard"},
                                      connect_timeout=5, read_timeout=60))


def heavy_segment(first):
    pad = "x" * (256 * 1024)
    lines = "".join(json.dumps({"device": "h017", "source": "heavy", "seq": s,
                                "ts": 1732284000000 + s, "data": {"pad": pad}},
                               separators=(",", ":")) + "\n"
                    for s in range(first, first + HEAVY_LINES))
    return segment("h017", "heavy", first, first + HEAVY_LINES - 1, lines=lines)


def probe(s3, first):
    key, body, meta = segment("h018", "light", first, first + 9)
    started = time.monotonic()
    s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
    return time.monotonic() - started


def test_fairness(r):
    light = client(r, "h018")
    unloaded = [probe(light, i * 10 + 1) for i in range(PROBES)]

    stop = threading.Event()
    heavy_done, errors = [0], []
    lock = threading.Lock()

    def heavy_stream(n):
        s3 = client(r, "h017")
        i = 0
        while not stop.is_set() and i < 1000:
            key, body, meta = heavy_segment((n * 1000 + i) * HEAVY_LINES + 1)
            try:
                s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
                with lock:
                    heavy_done[0] += 1
            except Exception as e:  # noqa: BLE001 - every failure is reported below
                with lock:
                    errors.append(f"stream {n}: {e}")
                return
            i += 1

    streams = [threading.Thread(target=heavy_stream, args=(n,)) for n in range(HEAVY_STREAMS)]
    for t in streams:
        t.start()
    try:
        time.sleep(2)  # every stream has work queued
        loaded = [probe(light, (PROBES + i) * 10 + 1) for i in range(PROBES)]
    finally:
        stop.set()
        for t in streams:
            t.join(timeout=300)
    check(not errors, f"heavy uploads failed: {errors[:3]}")
    check(heavy_done[0] >= HEAVY_STREAMS, f"only {heavy_done[0]} heavy uploads completed")
    cov = r.coverage("h018", "light")
    check(cov["ranges"] == [[1, 2 * PROBES * 10]], f"light uploads missing: {cov['ranges']}")
    u, l = statistics.median(unloaded), statistics.median(loaded)
    print(f"fairness: h018 PUT median {u * 1000:.0f} ms unloaded, {l * 1000:.0f} ms with "
          f"{HEAVY_STREAMS} heavy h017 streams ({heavy_done[0]} heavy segments of "
          f"{HEAVY_LINES * 256 // 1024} MiB inflated); ratio {l / u:.2f} (target <= 2), "
          f"worst {max(loaded) * 1000:.0f} ms")


def main():
    r = Receiver(extra='[http]\nthreads = 4\n').start()
    run_receivers([r], lambda: test_fairness(r), "receiver fairness")


if __name__ == "__main__":
    main()
