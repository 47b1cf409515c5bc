"""The device registry across two receivers sharing one PostgreSQL (started by the test) and
one object store: `granary-receiver device add`, `rotate` (both keys work during a short
grace, then only the new one), `disable`/`enable` and `revoke` each take effect on both
running receivers without a restart; a revoked key's PUT is 403 InvalidAccessKeyId, a
disabled one's 403 AccessDenied. No secret ever appears in a log, the CLI's list, an API
answer or the database."""
import os
import re
import stat
import subprocess
import time

from harness import check
from receiver_harness import (RECEIVER_BIN, Postgres, Receiver, receiver_config, run_receivers, s3_error_code,
                              segment)

GRACE_S = 6


def client(endpoint, ak, sk):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=ak, aws_secret_access_key=sk,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


class Uploads:
    """PUTs a fresh segment of h017 with a key; the outcome as s3_error_code gives it."""
    def __init__(self):
        self.first = 1

    def put(self, endpoint, key):
        k, body, meta = segment("h017", "synth", self.first, self.first + 9)
        outcome = s3_error_code(lambda: client(endpoint, *key).put_object(
            Bucket="granary", Key=k, Body=body, Metadata=meta))
        if outcome is None:
            self.first += 10
        return outcome


def device_cli(receiver, *args):
    r = receiver.cli("device", *args)
    check(r.returncode == 0, f"device {' '.join(args)}: rc {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def issued_key(output):
    ak = re.search(r"^access key: (\S+)$", output, re.M)
    sk = re.search(r"^secret key: (\S+)$", output, re.M)
    check(ak and sk, f"no key in: {output}")
    check(f"aws_access_key_id = {ak.group(1)}" in output and
          f"aws_secret_access_key = {sk.group(1)}" in output, "no credentials file printed")
    return ak.group(1), sk.group(1)


def wait_all(receivers, uploads, key, want, what, timeout=10):
    """Until a PUT on every receiver has outcome `want`; returns the seconds it took."""
    start = time.time()
    pending = list(receivers)
    last = None
    while pending and time.time() - start < timeout:
        last = uploads.put(pending[0].endpoint, key)
        if last == want:
            pending.pop(0)
        else:
            time.sleep(0.1)
    check(not pending, f"{what}: a PUT still answers {last}, wanted {want}, after {timeout}s")
    return time.time() - start


def main():
    pg = Postgres()
    shared = os.path.join(pg.dir, "store")
    config = receiver_config(shared, index=pg.url, devices={},
                             extra='[registry]\nrotate_grace = "1h"\npoll = "1s"\n')
    receivers = [Receiver(config_body=config) for _ in range(2)]
    uploads = Uploads()
    secrets = []

    def body():
        for r in receivers:
            r.start()
        check("no device keys" in receivers[0].read_log(), "no warning for a start with no keys")
        key_file = os.path.join(shared, "registry.key")
        check(stat.S_IMODE(os.stat(key_file).st_mode) == 0o600, "key file is not 0600")
        check("created registry key file" in receivers[0].read_log() + receivers[1].read_log(),
              "the key file's creation was not logged")

        first = issued_key(device_cli(receivers[0], "add", "h017"))
        secrets.append(first[1])
        took = wait_all(receivers, uploads, first, None, "after add")
        print(f"add reached both receivers in {took:.1f}s")

        second = issued_key(device_cli(receivers[1], "rotate", "h017", "--grace", f"{GRACE_S}s"))
        secrets.append(second[1])
        rotated_at = time.time()
        took = wait_all(receivers, uploads, second, None, "new key after rotate")
        print(f"rotate reached both receivers in {took:.1f}s")
        for r in receivers:
            check(uploads.put(r.endpoint, first) is None, "old key refused within the grace")
        time.sleep(max(0, rotated_at + GRACE_S + 0.5 - time.time()))
        for r in receivers:
            check(uploads.put(r.endpoint, first) == ("InvalidAccessKeyId", 403),
                  "old key still works after the grace")
            check(uploads.put(r.endpoint, second) is None, "new key refused after the grace")

        listing = device_cli(receivers[0], "list")
        check(re.search(rf"^h017\s+enabled\s+\S+\s+{second[0]}$", listing, re.M),
              f"device list: {listing}")

        device_cli(receivers[0], "disable", "h017")
        wait_all(receivers, uploads, second, ("AccessDenied", 403), "after disable")
        device_cli(receivers[0], "enable", "h017")
        wait_all(receivers, uploads, second, None, "after enable")
        device_cli(receivers[0], "revoke", "h017")
        took = wait_all(receivers, uploads, second, ("InvalidAccessKeyId", 403), "after revoke")
        print(f"revoke reached both receivers in {took:.1f}s")
        check("revoked" in device_cli(receivers[0], "list"), "list does not show revoked")
        r = receivers[0].cli("device", "rotate", "h017")
        check(r.returncode == 1 and "revoked" in r.stderr, f"rotate of a revoked device: {r.stderr}")
        r = receivers[0].cli("device", "frobnicate")
        check(r.returncode == 2, f"a usage error exits {r.returncode}, not 2")
        r = receivers[0].cli("--version")
        check(r.returncode == 0 and r.stdout.startswith("granary-receiver "), f"--version: {r}")
        typo = os.path.join(receivers[0].dir, "typo.toml")
        with open(typo, "w") as f:
            f.write(f'data_dir = "{shared}"\n[registry]\nrotate_grac = "1h"\n')
        r = subprocess.run([RECEIVER_BIN, "check-config", "-c", typo], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 78 and 'did you mean "rotate_grace"' in r.stderr,
              f"a key typo: rc {r.returncode} {r.stderr}")

        # Secrets: never in logs, listings, API answers or the database.
        status, devices = receivers[0].api("/api/v1/devices", raw=True)
        check(status == 200, f"devices API {status}")
        dump = pg.query("SELECT access_key || ' ' || secret FROM registry_keys") + \
            pg.query("SELECT * FROM registry_enroll")
        exposed = listing + devices.decode() + dump + \
            receivers[0].read_log() + receivers[1].read_log()
        for s in secrets:
            check(s not in exposed, "a secret appears in a log, a listing, an answer or the database")
        warned = [line for line in receivers[0].read_log().splitlines() if "InvalidAccessKeyId" in line]
        check(warned and all(line.startswith("<4>") for line in warned),
              f"authentication failures are not logged at warning: {warned[:2]}")

        # A host sharing the index without its key file: refused, no new key left behind
        # (it would seal new devices under a key no other receiver has).
        lone = os.path.join(pg.dir, "lone")
        os.makedirs(lone)
        lone_cfg = os.path.join(pg.dir, "lone.toml")
        with open(lone_cfg, "w") as f:
            f.write(receiver_config(lone, index=pg.url, devices={}))
        r = subprocess.run([RECEIVER_BIN, "device", "list", "-c", lone_cfg], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode != 0 and "sealed under another key file" in r.stderr,
              f"a host without the key file: rc {r.returncode} {r.stderr}")
        check(not os.path.exists(os.path.join(lone, "registry.key")), "a stray key file was left")

    run_receivers(receivers, body, "receiver_registry")
    pg.stop()


if __name__ == "__main__":
    main()
