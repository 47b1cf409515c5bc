"""The agent uploads to a real signature-verifying S3 server (Swift + s3api): objects'
bytes, MD5, metadata and line counts match the local segments; keys with unicode, space,
plus and equals work; a wrong secret gets 403 and deletes nothing, the status shows it,
and after fixing the credentials file and SIGHUP everything uploads."""
import gzip
import hashlib
import os
import signal
import time

from harness import Agent, check
from s3peer import S3Server, upload_config

SOURCES = """
[segment]
max_readings = 400

[[source]]
name = "synth"
type = "synthetic"
interval = "100ms"
rate = 1000
"""


def write_credentials(path, key, secret):
    with open(path, "w") as f:
        f.write(f"[default]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    os.chmod(path, 0o600)


def wait_uploaded(agent, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = agent.status()
        if st["buffer"]["segments_sealed"] == 0 and st["buffer"]["segments_uploaded"] > 0:
            return st
        time.sleep(0.3)
    check(False, f"segments still pending after {timeout}s: {agent.status()}")


def check_objects(agent, s3, prefix):
    """Every uploaded segment is an object whose bytes, ETag and metadata match."""
    rows = agent.db("SELECT source, first_seq, last_seq, count, file, md5, sha256, clock "
                    "FROM segments WHERE state='uploaded'")
    objects = s3.objects(prefix)
    by_seq = {}
    for key, (body, meta, etag) in objects.items():
        if "/tombstones/" in key:
            continue
        check(meta.get("granary-device") == agent.device, f"{key}: metadata {meta}")
        by_seq[(meta["granary-source"], int(meta["granary-first-seq"]))] = (key, body, meta, etag)
    check(len(by_seq) == len(rows), f"{len(rows)} segments uploaded, {len(by_seq)} objects stored")
    for source, first, last, count, file, md5, sha256, clock in rows:
        key, body, meta, etag = by_seq[(source, first)]
        with open(os.path.join(agent.state, "segments", file), "rb") as f:
            local = f.read()
        check(body == local, f"{key}: stored bytes differ from {file}")
        check(etag == md5 == hashlib.md5(body).hexdigest(), f"{key}: ETag {etag} vs MD5 {md5}")
        check(meta["granary-sha256"] == sha256 == hashlib.sha256(body).hexdigest(), f"{key}: sha256")
        check(int(meta["granary-last-seq"]) == last and int(meta["granary-count"]) == count,
              f"{key}: seq metadata {meta}")
        check(meta["granary-clock"] == clock and meta["granary-format"] == "jsonl.gz/1", f"{meta}")
        lines = gzip.decompress(body).decode().splitlines()
        check(len(lines) == count, f"{key}: {len(lines)} lines, metadata says {count}")
        check(key.startswith(prefix + "/" + agent.device + "/" + source + "/"), f"key {key}")
        check(key.endswith(f"-{first}.jsonl.gz"), f"key {key} does not end with first_seq")
    return len(rows)


def main():
    s3 = S3Server()
    try:
        # Right credentials, from the environment; a prefix with unicode, space, + and =.
        prefix = "fléet data+x=y"
        agent = Agent(SOURCES + upload_config(s3.endpoint, s3.bucket, prefix=prefix,
                                              extra='keep_uploaded = "1h"'),
                      env={"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})
        agent.start()
        agent.wait_ready()
        time.sleep(3)
        agent.cli("flush", check_rc=0)
        st = wait_uploaded(agent)
        n = check_objects(agent, s3, prefix)
        check(n >= 5, f"only {n} segments")
        check(st["uploads"]["uploaded"] >= n and st["uploads"]["last_error"] == "", f"{st['uploads']}")
        check(agent.stop() == 0, "stop")

        # Wrong secret: 403, nothing deleted, status says why; fix + SIGHUP: all uploaded.
        creds = os.path.join(os.path.dirname(s3.dir), "creds-" + os.path.basename(s3.dir))
        write_credentials(creds, s3.access_key, "not-the-secret")
        bad = Agent(SOURCES + upload_config(s3.endpoint, s3.bucket, credentials_file=creds,
                                            prefix="wrong"))
        bad.start()
        bad.wait_ready()
        time.sleep(3)
        bad.cli("flush", check_rc=0)
        time.sleep(2)
        st = bad.status()
        check(st["uploads"]["uploaded"] == 0, f"uploaded with a wrong secret: {st['uploads']}")
        check("SignatureDoesNotMatch" in st["uploads"]["last_error"] and "403" in st["uploads"]["last_error"],
              f"status does not show the 403: {st['uploads']}")
        check("not-the-secret" not in bad.read_log() + str(st), "secret leaked into logs or status")
        check(st["state"] == "degraded" or st["buffer"]["segments_sealed"] > 0, f"{st['state']}")
        pending = st["buffer"]["segments_sealed"]
        check(pending >= 5 and len(bad.segments()) == pending, f"local segments {bad.segments()}")
        check(not s3.objects("wrong"), "objects stored despite the wrong secret")
        write_credentials(creds, s3.access_key, s3.secret_key)
        bad.proc.send_signal(signal.SIGHUP)
        bad.cli("flush", check_rc=0)
        wait_uploaded(bad)
        check_objects(bad, s3, "wrong")

        # A group/world-readable credentials file: the agent refuses to start.
        os.chmod(creds, 0o644)
        check(bad.stop() == 0, "stop")
        r = bad.cli("run", timeout=30)
        check(r.returncode == 78 and "0600" in r.stderr, f"mode 0644 accepted: {r.returncode} {r.stderr}")
        print("upload: ok")
    finally:
        s3.stop()


if __name__ == "__main__":
    main()
