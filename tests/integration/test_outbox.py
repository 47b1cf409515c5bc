"""Outboxes end to end with the real agent and Swift + s3api: reports of three kinds and
files from 0 bytes to 3 MiB (and an 11 MiB one by multipart upload), attachments placed before their report and after it, each
uploaded once under the contract's key with its metadata and SHA-256; emptied attachment
directories removed, a directory not named by a UUID left alone and logged once; a bad
report moved aside with its reason; after = "keep" not taken again across a restart; over the quota,
entries wait in place, readings are not evicted and status says so."""
import hashlib
import json
import os
import random
import time

from harness import Agent, check, wait_until
from s3peer import S3Server, upload_config

KINDS = ["error", "job", "version"]
PREFIX = "fleet"


def put(path, data):
    """The producer contract: written under a dot-name, fsynced, renamed in."""
    d, name = os.path.split(path)
    tmp = os.path.join(d, "." + name + ".writing")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def put_dir(outbox, uuid, files):
    """Attachments first as a whole directory: .<uuid>.incoming/ filled, then renamed."""
    tmp = os.path.join(outbox, f".{uuid}.incoming")
    os.makedirs(tmp)
    for name, data in files.items():
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(data)
            os.fsync(f.fileno())
    os.rename(tmp, os.path.join(outbox, uuid))


def uuid4(rng):
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def wait_objects(s3, count, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        objects = s3.objects(PREFIX + "/h017/")
        if len(objects) >= count:
            return objects
        time.sleep(0.5)
    check(False, f"{len(objects)} objects, wanted {count}: {sorted(objects)}")


def check_object(objects, key, body, kind, uuid, fmt):
    check(key in objects, f"missing {key}; have {sorted(objects)}")
    data, meta, _ = objects[key]
    check(data == body, f"{key}: bytes differ ({len(data)} vs {len(body)})")
    check(meta.get("granary-sha256") == hashlib.sha256(body).hexdigest(), f"{key}: {meta}")
    check(meta.get("granary-format") == fmt and meta.get("granary-kind") == kind and
          meta.get("granary-uuid") == uuid, f"{key}: metadata {meta}")


def end_to_end(s3, rng):
    box = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"granary-outbox-{os.getpid()}")
    kept = box + "-kept"
    agent = Agent(upload_config(s3.endpoint, s3.bucket, prefix=PREFIX, extra='part_size = "5MiB"') + f"""
[[outbox]]
name = "jobs"
path = "{box}"
kind = "job"
rescan = "1s"

[[outbox]]
name = "versions"
path = "{kept}"
kind = "version"
after = "keep"
rescan = "1s"
""", env={"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})
    agent.start()
    agent.wait_ready()
    check(oct(os.stat(box).st_mode & 0o777) == "0o750", "outbox created 0750")
    day = time.strftime("%Y/%m/%d", time.gmtime())
    expected = {}  # key -> (body, kind, uuid, format)
    sizes = [0, 1, 1000, 64 << 10, 3 << 20]
    for i, kind in enumerate(KINDS):
        uuid = uuid4(rng)
        files = {f"f{j}-{size}.bin": rng.randbytes(size) for j, size in enumerate(sizes)}
        report = json.dumps({"uuid": uuid, "kind": kind, "seq": i, "files": [
            {"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
            for n, b in files.items()]}).encode()
        if i % 2 == 0:  # files first, then the report
            put_dir(box, uuid, files)
            put(os.path.join(box, f"report-{i}.json"), report)
        else:  # the report first, then files renamed one by one into its directory
            put(os.path.join(box, f"report-{i}.json"), report)
            os.makedirs(os.path.join(box, uuid))
            for n, b in files.items():
                put(os.path.join(box, uuid, n), b)
        expected[f"{PREFIX}/h017/reports/{kind}/{day}/{uuid}.json"] = (report, kind, uuid,
                                                                     "report.json/1")
        for n, b in files.items():
            expected[f"{PREFIX}/h017/files/{uuid}/{n}"] = (b, "job", uuid, "file/1")
    standalone = rng.randbytes((11 << 20) + 5)  # over part_size: a multipart upload of 3 parts
    put(os.path.join(box, "trace.bin"), standalone)
    put(os.path.join(box, "bad.json"), b'{"kind": "error", "uuid": "not-a-uuid"}')
    # Not a UUID: its files are not taken, and the agent says so once.
    os.makedirs(os.path.join(box, "notes"))
    put(os.path.join(box, "notes", "readme.txt"), b"not for upload")
    version_uuid = uuid4(rng)
    version = b'{"uuid": "%s", "firmware": "2.1"}' % version_uuid.encode()
    put(os.path.join(kept, "version.json"), version)

    objects = wait_objects(s3, len(expected) + 2, 40)
    for key, (body, kind, uuid, fmt) in expected.items():
        check_object(objects, key, body, kind, uuid, fmt)
    trace = [k for k in objects if k.endswith("/trace.bin")]
    check(len(trace) == 1 and objects[trace[0]][0] == standalone, f"standalone: {trace}")
    check(objects[trace[0]][2].endswith("-3"), f"standalone went in 3 parts: {objects[trace[0]][2]}")
    check(objects[trace[0]][1].get("granary-sha256") == hashlib.sha256(standalone).hexdigest(),
          f"standalone metadata {objects[trace[0]][1]}")
    left_uploads = agent.db("SELECT count(*) FROM multipart_uploads")[0][0]
    check(left_uploads == 0, f"{left_uploads} multipart uploads left in the catalog")
    check_object(objects, f"{PREFIX}/h017/reports/version/{day}/{version_uuid}.json", version,
                 "version", version_uuid, "report.json/1")
    check(len(objects) == len(expected) + 2, f"{len(objects)} objects: {sorted(objects)}")

    rejected = os.path.join(box, ".rejected")
    check(os.path.exists(os.path.join(rejected, "bad.json")), "bad report moved aside")
    with open(os.path.join(rejected, "bad.json.reason")) as f:
        check("uuid" in f.read(), "reason names the uuid")
    left = sorted(n for n in os.listdir(box) if not n.startswith(".") and n != "notes")
    check(all(os.listdir(os.path.join(box, n)) == [] for n in left), f"originals left: {left}")
    check(os.path.exists(os.path.join(kept, "version.json")), "after = keep leaves the original")

    time.sleep(2.5)
    # Emptied attachment directories go once they stayed empty for a rescan interval.
    left = sorted(n for n in os.listdir(box) if not n.startswith("."))
    check(left == ["notes"], f"left in the outbox: {left}")
    check(os.listdir(os.path.join(box, "notes")) == ["readme.txt"], "notes/ untouched")
    warned = agent.read_log().count("notes is not named by a report's UUID")
    check(warned == 1, f"the foreign directory logged {warned} times")
    status = agent.status()["outbox"]
    jobs = next(o for o in status if o["name"] == "jobs")
    check(jobs["rejected"] == 1 and jobs["taken"] == len(expected) + 1, f"status {jobs}")
    check(sum(k["pending"] for k in jobs["kinds"]) == 0 and
          sum(k["uploaded"] for k in jobs["kinds"]) == len(expected) + 1, f"status {jobs}")

    # Across a restart (and two rescans) the kept report is not taken again.
    check(agent.stop() == 0, "stop")
    agent.start()
    agent.wait_ready()
    time.sleep(2.5)
    rows = agent.db("SELECT count(*) FROM outbox WHERE outbox = 'versions'")[0][0]
    check(rows == 1, f"kept report taken {rows} times")
    check(len(s3.objects(PREFIX + "/h017/")) == len(expected) + 2, "no new objects")
    check(agent.stop() == 0, "stop")
    print(f"end to end: {len(expected) + 2} objects, each once; kept report taken once")


def quota(rng):
    box = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"granary-outbox-q-{os.getpid()}")
    agent = Agent(f"""
[quota]
max_bytes = "2MiB"

[[source]]
name = "synth"
type = "synthetic"
interval = "100ms"

[[outbox]]
name = "clips"
path = "{box}"
""")
    agent.start()
    agent.wait_ready()
    put(os.path.join(box, "small.bin"), rng.randbytes(1000))
    put(os.path.join(box, "big.bin"), rng.randbytes(3 << 20))

    def waiting():
        o = agent.status().get("outbox", [{}])[0]
        return o.get("waiting_quota") == 1 and o.get("taken") == 1
    wait_until("status shows the big file waiting for the quota", waiting, 15)
    check(os.path.exists(os.path.join(box, "big.bin")), "the waiting file stays in place")
    check(not os.path.exists(os.path.join(box, "small.bin")), "the small one was taken")
    o = agent.status()["outbox"][0]
    check(o["waiting_quota_bytes"] == 3 << 20, f"status {o}")
    check(agent.status()["buffer"]["dropped_readings"] == 0, "no reading evicted for a file")
    check("waiting for quota" in agent.cli("status").stdout, "granary status says so")
    check(agent.stop() == 0, "stop")
    print("quota: the 3 MiB file waits in place, no reading evicted")


def main():
    rng = random.Random(14)
    quota(rng)
    s3 = S3Server()
    try:
        end_to_end(s3, rng)
    finally:
        s3.stop()


if __name__ == "__main__":
    main()
