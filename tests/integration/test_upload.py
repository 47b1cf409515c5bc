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
    """Until every segment sealed by now is uploaded (the source keeps sealing new ones)."""
    mark = agent.db("SELECT coalesce(max(last_seq), 0) FROM segments")[0][0]
    deadline = time.time() + timeout
    while time.time() < deadline:
        pending = agent.db("SELECT count(*) FROM segments WHERE state='sealed' AND first_seq <= ?",
                           (mark,))[0][0]
        if pending == 0 and mark > 0:
            time.sleep(2.5)  # the next status.json carries the counters of those uploads
            return agent.status()
        time.sleep(0.3)
    check(False, f"segments up to seq {mark} still pending after {timeout}s: {agent.status()}")


def check_objects(agent, s3, prefix):
    """Every uploaded segment is one object whose bytes, ETag and metadata match, and every
    object is one of the agent's segments. The agent may still be running: segments marked
    uploaded before the listing must all be there; ones uploaded during it may be too."""
    marked = {(r[0], r[1]) for r in
              agent.db("SELECT source, first_seq FROM segments WHERE state='uploaded'")}
    objects = s3.objects(prefix)
    rows = agent.db("SELECT source, first_seq, last_seq, count, file, md5, sha256, clock, state "
                    "FROM segments")
    by_seq = {}
    for key, (body, meta, etag) in objects.items():
        if "/tombstones/" in key:
            continue
        check(meta.get("granary-device") == agent.device, f"{key}: metadata {meta}")
        seq = (meta["granary-source"], int(meta["granary-first-seq"]))
        check(seq not in by_seq, f"two objects for one segment: {key} and {by_seq.get(seq, ('',))[0]}")
        by_seq[seq] = (key, body, meta, etag)
    segments = {(r[0], r[1]): r for r in rows}
    for seq in by_seq:
        check(seq in segments, f"object {by_seq[seq][0]} matches no local segment")
    compared = 0
    for source, first, last, count, file, md5, sha256, clock, state in rows:
        if (source, first) not in by_seq:
            check((source, first) not in marked, f"segment {source}/{first} marked uploaded "
                  "but stored nowhere")
            continue
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
        compared += 1
    return compared


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
        time.sleep(2.5)  # a status written after the listing counts every object compared
        st = agent.status()
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
        check(st["state"] == "degraded" and any("uploads failing" in r for r in st["degraded_reasons"]),
              f"a permanent upload error must degrade the state: {st['state']} {st['degraded_reasons']}")
        kept = [r[0] for r in bad.db("SELECT file FROM segments WHERE state='sealed'")]
        missing = [f for f in kept if not os.path.exists(os.path.join(bad.state, "segments", f))]
        check(len(kept) >= 5 and not missing, f"{len(kept)} segments kept, files missing: {missing}")
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
