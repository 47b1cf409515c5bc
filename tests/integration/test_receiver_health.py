"""Health that tells the truth and a port that is not shared, against the real receiver:
/healthz fails naming "index" while another process holds the index's write lock (SELECT 1
answered ok while every PUT failed) and "data_dir" when free space is below min_free_bytes;
a second receiver on a port in use exits 1 saying "address in use" (it bound beside the
first with SO_REUSEPORT and split uploads between two indexes)."""
import json
import os
import sqlite3
import subprocess

from harness import check
from receiver_harness import RECEIVER_BIN, Receiver, receiver_config, run_receivers


def health(r):
    status, body = r.api("/healthz", token=None)
    return status, body if isinstance(body, dict) else json.loads(body)


def test_index_lock(r):
    check(health(r)[0] == 200, "healthz before the lock")
    db = sqlite3.connect(os.path.join(r.data, "index.db"), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        status, body = health(r)
        check(status == 503 and body.get("failing") == "index", f"healthz, index locked: {status} {body}")
    finally:
        db.execute("ROLLBACK")
        db.close()
    check(health(r)[0] == 200, "healthz after the lock")


def test_free_space(tight):
    status, body = health(tight)
    check(status == 503 and body.get("failing") == "data_dir" and "min_free_bytes" in body["error"],
          f"healthz below min_free_bytes: {status} {body}")


def test_port_in_use(r):
    path = os.path.join(r.dir, "second.toml")
    with open(path, "w") as f:
        f.write(receiver_config(os.path.join(r.dir, "second"), listen=f"127.0.0.1:{r.port}"))
    second = subprocess.run([RECEIVER_BIN, "run", "-c", path], capture_output=True, text=True,
                            timeout=30)
    check(second.returncode == 1 and "address in use" in second.stderr,
          f"second receiver on the same port: rc {second.returncode} {second.stderr[-500:]}")


def main():
    r = Receiver().start()
    tight = Receiver(extra='min_free_bytes = "100000TiB"').start()

    def body():
        test_index_lock(r)
        test_free_space(tight)
        test_port_in_use(r)
    run_receivers([r, tight], body, "receiver health")


if __name__ == "__main__":
    main()
