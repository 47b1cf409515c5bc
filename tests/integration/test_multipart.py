"""The agent's resumable multipart upload (agent/upload/multipart.h), driven by
tests/support/multipart_put.cpp against Swift + s3api, with its state in a real state dir.

Invariant of the kill test: after SIGKILL at >= 20 random moments (each run 0.2-2 s) the
300 MiB object completes, its SHA-256 read back with boto3 equals the file's, parts sent in
all runs exceed the part count by at most the number of kills (only the part in flight is
sent again), and no multipart upload is left in the bucket.

Also: a file changed between runs, an upload the server no longer knows (NoSuchUpload) and
one older than multipart_max_age are started over; a crash between Create and recording the
upload leaves nothing behind; a crash after Complete does not send the file again; a file of
at most one part goes as one PUT.

The part size is 5 MiB (S3's minimum) so a kill costs little and a run sends whole parts;
the driver's bandwidth is capped so that 20 kills fit before the upload ends."""
import hashlib
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import time

from harness import check
from s3peer import CLEAN_AWS_ENV, S3Server

os.environ.update(CLEAN_AWS_ENV)
import boto3  # noqa: E402  (after the clean environment, so no user config leaks in)
from botocore.config import Config  # noqa: E402

DRIVER = os.environ["GRANARY_MULTIPART_PUT"]
MIB = 1 << 20
PART = 5 * MIB
BIG = 300 * MIB
KILLS = 20
# Slow enough that 20 kills (1.1 s apart on average) land before the end, fast enough that
# the whole test stays well under a minute.
CAP = 12 * MIB
SEED = int(os.environ.get("GRANARY_MULTIPART_SEED", time.time_ns() % 1_000_000))


def generate(path, size, salt):
    """Deterministic bytes, every MiB different (a part sent at the wrong offset shows)."""
    base = random.Random(salt).randbytes(MIB)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(math.ceil(size / MIB)):
            block = (salt * 1_000_003 + i).to_bytes(8, "little") + base[8:]
            block = block[:size - i * MIB]
            f.write(block)
            h.update(block)
    return h.hexdigest()


class Bucket:
    def __init__(self, s3):
        self.name = s3.bucket
        self.client = boto3.client(
            "s3", endpoint_url=s3.endpoint, region_name=s3.region,
            aws_access_key_id=s3.access_key, aws_secret_access_key=s3.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

    def sha256(self, key):
        h = hashlib.sha256()
        body = self.client.get_object(Bucket=self.name, Key=key)["Body"]
        for chunk in iter(lambda: body.read(MIB), b""):
            h.update(chunk)
        return h.hexdigest()

    def head(self, key):
        return self.client.head_object(Bucket=self.name, Key=key)

    def uploads(self):
        return self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])


class Driver:
    def __init__(self, s3, work):
        self.s3, self.work = s3, work
        self.state = os.path.join(work, "state")
        self.runs = 0

    def start(self, key, path, *extra, env=None):
        self.runs += 1
        self.out = os.path.join(self.work, f"run{self.runs}.out")
        self.err = os.path.join(self.work, f"run{self.runs}.err")
        args = [DRIVER, "--state-dir", self.state, "--endpoint", self.s3.endpoint,
                "--bucket", self.s3.bucket, "--region", self.s3.region, "--key", key,
                "--file", path, "--part-size", str(PART), *extra]
        environ = dict(os.environ, AWS_ACCESS_KEY_ID=self.s3.access_key,
                       AWS_SECRET_ACCESS_KEY=self.s3.secret_key, **(env or {}))
        with open(self.out, "w") as out, open(self.err, "w") as err:
            return subprocess.Popen(args, stdout=out, stderr=err, env=environ)

    def run(self, key, path, *extra, env=None, timeout=60):
        p = self.start(key, path, *extra, env=env)
        rc = p.wait(timeout=timeout)
        return rc, self.output(), self.errors()

    def output(self):
        with open(self.out) as f:
            return f.read()

    def errors(self):
        with open(self.err) as f:
            return f.read()


def sends(output):
    return len(re.findall(r"^part \d+/\d+ sending", output, re.M))


def kill_test(driver, bucket, work):
    path = os.path.join(work, "big.bin")
    sha = generate(path, BIG, 1)
    key = "fleet/d1/files/2b1f0c9e-6f1a-4a55-9d38-4c1a0c3e9a01/big.bin"
    parts = math.ceil(BIG / PART)
    rng = random.Random(SEED)
    kills = sent = adopted = 0
    runs_before = driver.runs
    t0 = time.time()
    while True:
        check(driver.runs < 200 and time.time() - t0 < 150,
              f"not done after {driver.runs} runs, {time.time() - t0:.0f} s")
        p = driver.start(key, path, "--max-bandwidth", str(CAP))
        try:
            rc = p.wait(timeout=rng.uniform(0.2, 2.0) if kills < KILLS else 120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            kills += 1
            rc = None
        out = driver.output()
        sent += sends(out)
        adopted += len(re.findall(r"^part \d+/\d+ adopted", out, re.M))
        if rc is None:
            continue
        check(rc == 0 and "done multipart" in out,
              f"run {driver.runs} exited {rc}:\n{out}\n{driver.errors()}")
        break
    elapsed = time.time() - t0
    check(kills >= KILLS, f"the upload ended after only {kills} kills")
    got = bucket.sha256(key)
    check(got == sha, f"object SHA-256 {got} is not the file's {sha}")
    head = bucket.head(key)
    check(head["ContentLength"] == BIG and head["Metadata"].get("granary-sha256") == sha,
          f"object head {head['ContentLength']} {head['Metadata']}")
    check(head["ETag"].strip('"').endswith(f"-{parts}"), f"ETag {head['ETag']} is not {parts} parts")
    check(parts <= sent + adopted and sent <= parts + kills,
          f"{sent} parts sent (+{adopted} adopted) for {parts} parts and {kills} kills")
    check(not bucket.uploads(), f"multipart uploads left: {bucket.uploads()}")
    print(f"kill: {BIG // MIB} MiB in {parts} parts, {kills} kills over {driver.runs - runs_before} runs in "
          f"{elapsed:.1f} s: {sent} parts sent, {adopted} adopted (seed {SEED})")


def paused_upload(driver, key, path):
    """Starts an upload of `path` and stops it after one part, its state persisted."""
    rc, out, err = driver.run(key, path, "--yield-after", "1")
    check(rc == 3 and "paused" in out and sends(out) == 1, f"pause: {rc}\n{out}\n{err}")


def restarts(driver, bucket, work):
    path = os.path.join(work, "changed.bin")
    generate(path, 12 * MIB, 2)
    key = "fleet/d1/files/changed.bin"
    paused_upload(driver, key, path)
    time.sleep(0.01)
    sha = generate(path, 12 * MIB, 3)  # same size, other bytes, new mtime
    rc, out, err = driver.run(key, path)
    check(rc == 0 and "modification time changed" in err and "starting over" in err,
          f"a changed file was not started over: {rc}\n{out}\n{err}")
    check(out.startswith("part 1/3 sending") and sends(out) == 3, f"not from scratch:\n{out}")
    check(bucket.sha256(key) == sha, "the changed file's object has other bytes")

    path = os.path.join(work, "forgotten.bin")
    sha = generate(path, 12 * MIB, 4)
    key = "fleet/d1/files/forgotten.bin"
    paused_upload(driver, key, path)
    ours = [u for u in bucket.uploads() if u["Key"] == key]
    check(len(ours) == 1, f"uploads of {key}: {ours}")
    bucket.client.abort_multipart_upload(Bucket=bucket.name, Key=key, UploadId=ours[0]["UploadId"])
    rc, out, err = driver.run(key, path)
    check(rc == 0 and "no longer knows" in err and sends(out) == 3,
          f"NoSuchUpload was not started over: {rc}\n{out}\n{err}")
    check(bucket.sha256(key) == sha, "the restarted object has other bytes")

    path = os.path.join(work, "old.bin")
    sha = generate(path, 12 * MIB, 5)
    key = "fleet/d1/files/old.bin"
    paused_upload(driver, key, path)
    time.sleep(1.1)
    rc, out, err = driver.run(key, path, "--max-age-ms", "1000")
    check(rc == 0 and "multipart_max_age" in err and sends(out) == 3,
          f"an old upload was not started over: {rc}\n{out}\n{err}")
    check(bucket.sha256(key) == sha, "the restarted old object has other bytes")
    check(not bucket.uploads(), f"uploads left after restarts: {bucket.uploads()}")
    print("restarts: changed file, NoSuchUpload and multipart_max_age each started over")


def crashes(driver, bucket, work):
    path = os.path.join(work, "crash.bin")
    sha = generate(path, 11 * MIB, 6)
    key = "fleet/d1/files/crash.bin"
    rc, out, err = driver.run(key, path, env={"GRANARY_CRASH_POINT": "multipart.after_create"})
    check(rc == -9 and sends(out) == 0, f"crash point after Create: {rc}\n{out}\n{err}")
    check(len([u for u in bucket.uploads() if u["Key"] == key]) == 1, "no upload was created")
    rc, out, err = driver.run(key, path)
    check(rc == 0 and "not in the catalog" in err, f"unknown upload: {rc}\n{out}\n{err}")
    check(not bucket.uploads(), f"the crash left an upload: {bucket.uploads()}")
    check(bucket.sha256(key) == sha, "object after a crash after Create has other bytes")

    path = os.path.join(work, "complete.bin")
    sha = generate(path, 11 * MIB, 7)
    key = "fleet/d1/files/complete.bin"
    rc, out, err = driver.run(key, path, env={"GRANARY_CRASH_POINT": "multipart.after_complete"})
    check(rc == -9 and sends(out) == 3, f"crash point after Complete: {rc}\n{out}\n{err}")
    rc, out, err = driver.run(key, path)
    check(rc == 0 and sends(out) == 0 and "done multipart" in out,
          f"a completed upload was sent again: {rc}\n{out}\n{err}")
    check(bucket.sha256(key) == sha, "object after a crash after Complete has other bytes")
    print("crashes: after Create nothing is left behind; after Complete nothing is sent again")


def single_put(driver, bucket, work):
    path = os.path.join(work, "small.bin")
    sha = generate(path, PART, 8)
    key = "fleet/d1/files/small.bin"
    rc, out, err = driver.run(key, path)
    check(rc == 0 and "done single" in out and sends(out) == 1, f"single PUT: {rc}\n{out}\n{err}")
    head = bucket.head(key)
    with open(path, "rb") as f:
        md5 = hashlib.md5(f.read()).hexdigest()
    check(head["ETag"].strip('"') == md5 and head["Metadata"].get("granary-sha256") == sha,
          f"a one-part file did not go as one PUT: {head['ETag']} {head['Metadata']}")
    print("single: a file of one part went as one PUT")


def main():
    s3 = S3Server()
    work = tempfile.mkdtemp(prefix="granary-it-multipart-")
    try:
        driver = Driver(s3, work)
        bucket = Bucket(s3)
        single_put(driver, bucket, work)
        restarts(driver, bucket, work)
        crashes(driver, bucket, work)
        kill_test(driver, bucket, work)
        print("multipart: ok")
    finally:
        s3.stop()
        # The generated files are large; a failed run keeps the rest (outputs, state dir).
        for name in os.listdir(work):
            if name.endswith(".bin"):
                os.remove(os.path.join(work, name))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
