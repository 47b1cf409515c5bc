"""Uploads through a fault-injecting proxy to the real S3 server. Each fault kind ends
with every segment stored exactly once as an object with the right bytes; a black hole
(10 minutes in the field, shortened here) then recovery uploads the backlog oldest
first; kill -9 during uploads at 20 random moments still leaves every segment in S3
exactly once with correct bytes."""
import hashlib
import random
import re
import time

from harness import Agent, check
from s3peer import FaultProxy, S3Server, upload_config

SOURCES = """
[segment]
max_readings = 300

[[source]]
name = "synth"
type = "synthetic"
interval = "100ms"
rate = 600
"""


def drain(agent, upload, timeout):
    """Stops the agent (sealing what it buffered), restarts it with no sources so nothing new
    is captured, flushes, and waits until every segment is uploaded."""
    if agent.proc is not None and agent.proc.poll() is None:
        check(agent.stop() == 0, "stop")
    agent.write_config(upload)
    agent.start()
    agent.wait_ready()
    agent.cli("flush", check_rc=0)  # what a kill -9 left unsealed
    deadline = time.time() + timeout
    while time.time() < deadline:
        pending = agent.db("SELECT count(*) FROM segments WHERE state='sealed'")[0][0]
        buffered = int(agent.db("SELECT total(count) FROM readings")[0][0])
        if pending == 0 and buffered == 0:
            check(agent.stop() == 0, "stop")
            return
        time.sleep(0.3)
    check(False, f"not all uploaded after {timeout}s: {agent.status()['uploads']}")


def check_exactly_once(agent, s3, prefix):
    rows = agent.db("SELECT source, first_seq, md5, count FROM segments WHERE state='uploaded'")
    objects = {k: v for k, v in s3.objects(prefix).items() if "/tombstones/" not in k}
    check(len(objects) == len(rows), f"{len(rows)} segments but {len(objects)} objects")
    by_first = {int(meta["granary-first-seq"]): (body, etag) for body, meta, etag in objects.values()}
    for source, first, md5, count in rows:
        check(first in by_first, f"segment {source}#{first} missing from S3")
        body, etag = by_first[first]
        check(hashlib.md5(body).hexdigest() == md5 == etag, f"segment #{first}: corrupt object")
    total = sum(r[3] for r in rows)
    last = agent.db("SELECT next_seq - 1 FROM sources WHERE name='synth'")[0][0]
    check(total == last, f"objects hold {total} readings, {last} were captured")
    return len(rows)


def run_with_fault(s3, proxy, mode, params, prefix):
    upload = upload_config(proxy.url, s3.bucket, prefix=prefix)
    agent = Agent(SOURCES + upload,
                  env={"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})
    proxy.mode(mode, **params)
    agent.start()
    agent.wait_ready()
    time.sleep(2.5)
    proxy.mode("pass")
    drain(agent, upload, 90)  # the backlog, with the fault gone
    n = check_exactly_once(agent, s3, prefix)
    failed = agent.status()["uploads"]["failed"]
    return n, failed


def main():
    s3 = S3Server()
    proxy = FaultProxy(s3.endpoint)
    try:
        results = {}
        for mode, params in [("refuse", {}), ("delay", {"ms": 300}), ("reset_mid_body", {"after": 700}),
                             ("http500", {"times": 3}), ("http503", {"times": 3}),
                             ("slowdown", {"times": 4})]:
            n, _ = run_with_fault(s3, proxy, mode, params, f"fault-{mode}")
            results[mode] = n
        print("faults:", results)

        # Black hole then recovery: the backlog goes oldest first.
        upload = upload_config(proxy.url, s3.bucket, prefix="blackhole")
        agent = Agent(SOURCES + upload,
                      env={"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})
        proxy.mode("blackhole")
        agent.start()
        agent.wait_ready()
        time.sleep(12)
        pending = agent.status()["buffer"]["segments_sealed"]
        check(pending >= 5, f"black hole: only {pending} segments waiting")
        check(agent.status()["uploads"]["uploaded"] == 0, "uploads got through a black hole")
        proxy.mode("pass")
        # Recovery while still capturing: the backlog goes first, then the new segments.
        mark = agent.db("SELECT max(last_seq) FROM segments")[0][0]
        deadline = time.time() + 120
        while agent.db("SELECT count(*) FROM segments WHERE state='sealed' AND first_seq <= ?",
                       (mark,))[0][0] > 0:
            check(time.time() < deadline, "black hole backlog not uploaded within 120 s")
            time.sleep(0.3)
        drain(agent, upload, 60)
        check_exactly_once(agent, s3, "blackhole")
        order = [int(m) for m in re.findall(r"uploaded \S+-(\d+)\.jsonl\.gz", agent.read_log())]
        check(order == sorted(order), f"backlog not oldest first: {order}")

        # kill -9 during uploads, 20 times; bandwidth capped so kills land mid-transfer.
        upload = upload_config(s3.endpoint, s3.bucket, prefix="kill", extra='max_bandwidth = "200KiB"')
        agent = Agent(SOURCES + upload,
                      env={"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})
        rng = random.Random()
        for _ in range(20):
            agent.start()
            time.sleep(rng.uniform(0.3, 1.5))
            agent.kill9()
        drain(agent, upload, 120)
        n = check_exactly_once(agent, s3, "kill")
        print(f"upload faults: ok ({n} segments after 20 kills)")
    finally:
        proxy.close()
        s3.stop()


if __name__ == "__main__":
    main()
