"""Two stateless receivers over one PostgreSQL and one bucket ([store] type = "s3" on
Swift+s3api) behind haproxy. The real agent and boto3 (single PUTs and a multipart upload
whose parts haproxy spreads over both replicas) upload through the balancer while one
replica is killed with -9 and restarted. Afterwards: every segment is indexed exactly once,
`verify` is clean against the bucket, the bucket's accepted/ and the index name the same
objects, nothing is left in quarantine or under uploads/, and the readings API answers the
same bytes from either replica. Whole and ranged GETs of objects larger than the read cache
stream from the bucket through either replica, byte-identical, and no replica's cache
directory ever holds more than cache_max_bytes."""
import hashlib
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

from balancer import Balancer
from harness import Agent, check
from receiver_harness import (DEVICES, READER_TOKEN, Postgres, Receiver, boto3_client,
                              boto3_ranged, check_ranges, free_port, run_receivers, segment)
from s3peer import S3Server
from test_receiver_agent import drain, upload_config

SOURCES = """
[segment]
max_readings = 100

[[source]]
name = "synth"
type = "synthetic"
interval = "50ms"
rate = 400
"""

BOTO3_SEGMENTS = 30
BIG_LINES = 24000  # random hex readings: a segment of about 8.5 MB, sent in two 5 MiB parts


def store_section(s3):
    return f"""
[store]
type = "s3"
endpoint = "{s3.endpoint}"
region = "{s3.region}"
bucket = "{s3.bucket}"
access_key = "{s3.access_key}"
secret_key = "{s3.secret_key}"
cache_max_bytes = "4MiB"
"""


CACHE_MAX_BYTES = 4 << 20


class CacheSampler:
    """The size of each replica's {data_dir}/cache, sampled every 10 ms until stop()."""

    def __init__(self, replicas):
        self.dirs = [os.path.join(r.data, "cache") for r in replicas]
        self.peak = 0
        self.largest_file = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.wait(0.01):
            for d in self.dirs:
                sizes = []
                for name in os.listdir(d):
                    try:
                        sizes.append(os.path.getsize(os.path.join(d, name)))
                    except FileNotFoundError:  # evicted meanwhile
                        pass
                self.peak = max(self.peak, sum(sizes))
                self.largest_file = max([self.largest_file] + sizes)

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.peak, self.largest_file


def replica(pg, s3):
    port = free_port()
    r = Receiver(index=pg.url, extra=store_section(s3))
    with open(r.config) as f:
        body = f.read().replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"')
    with open(r.config, "w") as f:
        f.write(body)
    return r, port


def big_segment(rng):
    lines = "".join(
        '{"device":"h018","source":"big","seq":%d,"ts":%d,"data":{"v":"%s"}}\n'
        % (s, 1732284000000 + s * 1000, rng.randbytes(300).hex()) for s in range(1, BIG_LINES + 1))
    return segment("h018", "big", 1, BIG_LINES, lines=lines)


def boto3_puts(endpoint):
    """Single PUTs of h018/meter segments, retried like an agent would while a replica is
    down (haproxy notices within two health checks)."""
    s3 = boto3_client(endpoint, device="h018")
    pending = list(range(BOTO3_SEGMENTS))
    deadline = time.time() + 40
    while pending and time.time() < deadline:
        i = pending[0]
        key, body, meta = segment("h018", "meter", i * 10 + 1, i * 10 + 10)
        try:
            s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
            pending.pop(0)
        except Exception:
            time.sleep(0.2)
    check(not pending, f"boto3: {len(pending)} segment(s) not accepted within 40 s")


def boto3_multipart(endpoint, rng, workdir):
    """One multipart upload in 5 MiB parts, whose requests haproxy's round robin spreads over
    both replicas: begun on one, continued and completed on either."""
    from boto3.s3.transfer import TransferConfig
    s3 = boto3_client(endpoint, device="h018")
    key, body, meta = big_segment(rng)
    path = os.path.join(workdir, "big.jsonl.gz")
    with open(path, "wb") as f:
        f.write(body)
    config = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20,
                            max_concurrency=1, use_threads=False)
    s3.upload_file(path, "granary", key, ExtraArgs={"Metadata": meta}, Config=config)
    return key, body


def put_file(endpoint, rng):
    """A 3 MiB file (file/1) of h017, for ranged reads."""
    rid = str(uuid.uuid4())
    blob = rng.randbytes(3 << 20)
    meta = {"granary-format": "file/1", "granary-uuid": rid,
            "granary-sha256": hashlib.sha256(blob).hexdigest()}
    boto3_client(endpoint).put_object(Bucket="granary", Key=f"granary/h017/files/{rid}/blob.bin",
                                      Body=blob, Metadata=meta)
    return rid, blob


def http_get(r, path, headers):
    req = urllib.request.Request(r.endpoint + path,
                                 headers=dict(headers, Authorization=f"Bearer {READER_TOKEN}"))
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def main():
    rng = random.Random()
    pg = Postgres()
    s3 = S3Server(bucket="granary-store")
    r1, p1 = replica(pg, s3)
    r2, p2 = replica(pg, s3)
    balancer = None
    agent = None
    try:
        r1.start()
        r2.start()
        balancer = Balancer([p1, p2], check_interval="300ms").start()
        creds = os.path.join(r1.dir, "credentials")
        with open(creds, "w") as f:
            ak, sk = DEVICES["h017"]
            f.write(f"[default]\naws_access_key_id = {ak}\naws_secret_access_key = {sk}\n")
        os.chmod(creds, 0o600)
        upload = upload_config(balancer.endpoint, creds)
        agent = Agent(SOURCES + upload, device="h017")
        run_receivers([r1, r2],
                      lambda: run(rng, pg, s3, r1, r2, balancer, agent, upload), "receiver_replicas")
    except BaseException:  # a failed check, or a client's exception
        if agent is not None:
            print(agent.read_log()[-3000:], file=sys.stderr)
        for r in (r1, r2):
            print(r.read_log()[-3000:], file=sys.stderr)
        raise
    finally:
        if agent is not None and agent.proc:
            agent.kill9()
        if balancer is not None:
            balancer.stop()
        s3.stop()
        pg.stop()


def run(rng, pg, s3, r1, r2, balancer, agent, upload):
    started = time.time()
    agent.start()
    agent.wait_ready()
    errors = []

    def puts():
        try:
            boto3_puts(balancer.endpoint)
        except SystemExit as e:
            errors.append(str(e))

    t = threading.Thread(target=puts)
    t.start()
    time.sleep(rng.uniform(0.5, 1.5))
    r1.kill9()  # mid-run: the agent and boto3 are sending through the balancer
    time.sleep(rng.uniform(0.5, 1.5))
    r1.start()
    balancer.wait_state("r1", "UP")
    t.join(timeout=60)
    check(not t.is_alive() and not errors, f"boto3 PUTs: {errors or 'still running'}")
    big_key, body = boto3_multipart(balancer.endpoint, rng, r1.dir)
    rid, blob = put_file(balancer.endpoint, rng)
    drain(agent, upload, 60)

    # Every segment indexed exactly once.
    last = agent.db("SELECT next_seq - 1 FROM sources WHERE name='synth'")[0][0]
    uploaded = agent.db("SELECT count(*) FROM segments WHERE state='uploaded'")[0][0]
    check(last > 300, f"only {last} readings captured")
    for r in (r1, r2):
        cov = r.coverage("h017", "synth")
        check(cov["ranges"] == [[1, last]] and cov["gaps"] == [],
              f"coverage {cov['ranges']} gaps {cov['gaps']} for seqs 1..{last}")
        check(cov["readings"] == last, f"{cov['readings']} readings indexed for {last} captured")
        check(cov["segments"] == uploaded, f"{cov['segments']} indexed, {uploaded} uploaded")
        meter = r.coverage("h018", "meter")
        check(meter["ranges"] == [[1, BOTO3_SEGMENTS * 10]] and
              meter["segments"] == BOTO3_SEGMENTS, f"h018/meter coverage {meter}")
        big = r.coverage("h018", "big")
        check(big["readings"] == BIG_LINES and big["segments"] == 1, f"h018/big coverage {big}")
    dupes = pg.query("SELECT count(*) FROM (SELECT bucket, key FROM objects GROUP BY bucket, key "
                     "HAVING count(*) > 1) d")
    check(dupes == "0", f"{dupes} key(s) indexed more than once")

    # The bucket and the index name the same objects, nothing else is left behind.
    bucket = s3.objects()
    accepted = {k[len("accepted/"):] for k in bucket if k.startswith("accepted/")}
    indexed = set(pg.query("SELECT bucket || '/' || key FROM objects").splitlines())
    check(accepted == indexed, f"bucket but not index: {sorted(accepted - indexed)[:5]}; "
                               f"index but not bucket: {sorted(indexed - accepted)[:5]}")
    others = sorted(k for k in bucket if not k.startswith("accepted/"))
    check(others == [], f"objects outside accepted/: {others[:5]}")
    check(bucket["accepted/granary/" + big_key][0] == body, "the multipart object differs")
    for r in (r1, r2):
        # A body cut off by the kill may stay as scratch; a sealed one must have been run.
        quarantine = os.path.join(r.data, "quarantine")
        left = [n for n in os.listdir(quarantine) if n.endswith(".json")]
        check(left == [], f"{r.data}: sealed quarantine entries left: {left}")
        check(not os.path.exists(os.path.join(r.data, "accepted")), "a local accepted/ exists")

    # Reads stream from the bucket; only small objects are cached, within cache_max_bytes.
    sampler = CacheSampler([r1, r2])
    # Either replica answers the readings API with the same bytes.
    path = "/api/v1/devices/h017/readings?source=synth"
    s1, b1 = r1.api(path, raw=True)
    s2, b2 = r2.api(path, raw=True)
    check(s1 == 200 and s2 == 200, f"readings: {s1} {s2}")
    check(b1 == b2, f"readings differ between replicas ({len(b1)} and {len(b2)} bytes)")
    served = b1.count(b"\n")
    check(served == last, f"{served} readings served for {last}")
    client = boto3_client(balancer.endpoint, device="h018")
    got = client.get_object(Bucket="granary", Key=big_key)
    check(got["ETag"].strip('"').endswith("-2"), f"not a 2-part upload: ETag {got['ETag']}")
    check(got["Body"].read() == body, "GET of the multipart object through the balancer differs")
    completed = [r for r in (r1, r2) if "completed: 2 part(s)" in r.read_log()]
    check(len(completed) == 1, f"the multipart Complete was logged by {len(completed)} replicas")
    # Whole and ranged reads of objects larger than the cache (the 8.5 MB segment) or than
    # what it keeps whole (the 3 MiB file) stream in ranged GETs: through the balancer and from
    # each replica, by the S3 API and the files API.
    check_ranges("balancer", body, boto3_ranged(client, big_key))
    for r in (r1, r2):
        direct = boto3_client(r.endpoint, device="h018")
        check_ranges(f"replica {r.endpoint}", body, boto3_ranged(direct, big_key))
        check(direct.get_object(Bucket="granary", Key=big_key)["Body"].read() == body,
              f"GET of the multipart object from {r.endpoint} differs")
    for r in (r1, r2):
        status, h, got = http_get(r, f"/api/v1/files/{rid}/blob.bin",
                                  {"Range": "bytes=1000000-1999999"})
        check(status == 206 and got == blob[1000000:2000000] and
              h.get("Content-Range") == f"bytes 1000000-1999999/{len(blob)}",
              f"ranged file GET: {status} {h.get('Content-Range')} {len(got)} bytes")
        status, _, got = http_get(r, f"/api/v1/files/{rid}/blob.bin", {})
        check(status == 200 and got == blob, f"file GET: {status}, {len(got)} bytes")
    peak, largest = sampler.stop()
    check(0 < peak <= CACHE_MAX_BYTES, f"a cache dir peaked at {peak} bytes, bound {CACHE_MAX_BYTES}")
    check(largest <= CACHE_MAX_BYTES // 8, f"a {largest}-byte object was cached whole")
    # Swift's s3api refuses conditional PUTs: each replica must have found out at start and
    # fallen back on the index's ownership of keys.
    for r in (r1, r2):
        check("does not support conditional PUTs" in r.read_log(),
              "a replica did not report that Swift refuses If-None-Match")

    r1.stop()
    v = r1.cli("verify")
    check(v.returncode == 0 and " 0 missing, 0 with other bytes, 0 not indexed" in v.stdout,
          f"verify: {v.stdout}\n{v.stderr}")
    print(f"receiver_replicas: {last} agent readings in {uploaded} segments, {BOTO3_SEGMENTS} "
          f"boto3 segments, a {len(body)}-byte multipart segment and a 3 MiB file; "
          f"{len(accepted)} objects; cache peak {peak} bytes; "
          f"{time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
