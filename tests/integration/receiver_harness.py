"""Run the real granary-receiver for a test: a temp data dir, a config with device keys and
a reader token, start/stop/kill -9, and clients (boto3 and awscli from Debian, curl
--aws-sigv4, the JSON API)."""
import contextlib
import gzip
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from harness import check, fail

RECEIVER_BIN = os.environ.get("GRANARY_RECEIVER_BIN", "granary-receiver")
READER_TOKEN = "reader-token-0123456789abcdef"
DEVICES = {"h017": ("AKIDH017", "secret-h017-0123"), "h018": ("AKIDH018", "secret-h018-0123")}
CLEAN_AWS_ENV = {"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                 "AWS_EC2_METADATA_DISABLED": "true"}


def receiver_config(data_dir, index="sqlite", extra="", devices=DEVICES, listen="127.0.0.1:0"):
    body = f'data_dir = "{data_dir}"\nlisten = "{listen}"\nindex = "{index}"\n{extra}\n'
    for name, (ak, sk) in devices.items():
        body += f'[[device]]\nname = "{name}"\naccess_key = "{ak}"\nsecret_key = "{sk}"\n'
    body += f'[[reader]]\nname = "tests"\ntoken = "{READER_TOKEN}"\n'
    return body


def real_s3_config(endpoint, bucket, access_key, secret_key, event_token, region="us-east-1"):
    """The [s3] section of a receiver in real-S3 mode, told of objects by event notifications."""
    return (f'[s3]\nendpoint = "{endpoint}"\nregion = "{region}"\nbucket = "{bucket}"\n'
            f'access_key = "{access_key}"\nsecret_key = "{secret_key}"\n'
            f'event_token = "{event_token}"\n')


class Receiver:
    def __init__(self, workdir=None, index="sqlite", extra="", data_dir=None, config_body=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="granary-recv-")
        os.makedirs(self.dir, exist_ok=True)
        self.data = data_dir or os.path.join(self.dir, "data")
        self.config = os.path.join(self.dir, f"receiver-{os.getpid()}-{id(self)}.toml")
        with open(self.config, "w") as f:
            f.write(config_body if config_body is not None else receiver_config(self.data, index, extra))
        self.log_path = os.path.join(self.dir, "receiver.log")
        self.proc = None
        self.port = None

    def cli(self, *args, timeout=120):
        return subprocess.run([RECEIVER_BIN, *args, "-c", self.config], capture_output=True,
                              text=True, timeout=timeout)

    def start(self, env=None, args=()):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([RECEIVER_BIN, "run", "-c", self.config, *args],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=dict(os.environ, **(env or {})))
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.proc.wait(timeout=10)
            fail(f"receiver did not start (rc {self.proc.returncode}):\n{self.read_log()}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self, timeout=20):
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("receiver did not stop on SIGTERM")
        self.proc = None
        self.log.close()
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.log.close()

    def expect_crash(self, point, request):
        """Runs request() against a receiver started with GRANARY_CRASH_POINT=point: the
        connection dies with the process (killed at the point), never with an answer."""
        try:
            request()
            fail(f"{point}: the request was answered; the crash point never fired")
        except Exception as e:  # the connection died with the process
            check("InternalError" not in str(e), f"{point}: {e}")
        self.proc.wait(timeout=10)
        check(self.proc.returncode == -9, f"{point}: receiver exited {self.proc.returncode}")
        self.proc = None
        self.log.close()

    def remove_index(self):
        """Deletes the SQLite index with its WAL (a lost database); the receiver is stopped."""
        for suffix in ("", "-wal", "-shm"):
            path = os.path.join(self.data, "index.db" + suffix)
            if os.path.exists(path):
                os.remove(path)

    def read_log(self):
        if not os.path.exists(self.log_path):
            return "(the receiver never started)"
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def api(self, path, token=READER_TOKEN, raw=False):
        req = urllib.request.Request(self.endpoint + path)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                body = r.read()
                return r.status, (body if raw else json.loads(body) if body.startswith(b"{") else body.decode())
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def metric(self, name):
        """The value of an unlabelled sample in /metrics, or None."""
        status, body = self.api("/metrics", token=None)
        text = body if isinstance(body, str) else body.decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def coverage(self, device, source):
        status, body = self.api(f"/api/v1/devices/{device}/coverage?source={source}")
        check(status == 200, f"coverage {device}/{source}: {status} {body}")
        return body["sources"][0]


def run_receivers(receivers, body, name):
    """Runs body(); on a failed check prints the first receiver's log tail; stops them all."""
    try:
        body()
        print(f"{name}: ok")
    except SystemExit:
        print(receivers[0].read_log()[-4000:], file=sys.stderr)
        raise
    finally:
        for r in receivers:
            if r.proc:
                r.stop()


@contextlib.contextmanager
def agent_and_receiver(agent, receiver):
    """On a failed check prints both logs' tails; kills whichever still runs at the end."""
    try:
        yield
    except SystemExit:
        print(receiver.read_log()[-3000:], file=sys.stderr)
        print(agent.read_log()[-3000:], file=sys.stderr)
        raise
    finally:
        if agent.proc:
            agent.kill9()
        if receiver.proc:
            receiver.kill9()


def accepted_digests(data_dir):
    """{relative path under accepted/: SHA-256} of every accepted file."""
    root = os.path.join(data_dir, "accepted")
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def segment_lines(device, source, first, last, ts0=1732284000000):
    return "".join(json.dumps({"device": device, "source": source, "seq": s,
                               "ts": ts0 + s * 1000, "data": {"v": s}}, separators=(",", ":")) + "\n"
                   for s in range(first, last + 1))


def segment(device, source, first, last, lines=None):
    """(key, gzip bytes, metadata) as the agent would upload them."""
    text = lines if lines is not None else segment_lines(device, source, first, last)
    body = gzip.compress(text.encode(), mtime=0)
    key = f"granary/{device}/{source}/2024/11/22/{device}-{source}-20241122T14-{first}.jsonl.gz"
    meta = {"granary-device": device, "granary-source": source, "granary-first-seq": str(first),
            "granary-last-seq": str(last), "granary-count": str(last - first + 1),
            "granary-format": "jsonl.gz/1"}
    return key, body, meta


def boto3_client(endpoint, device="h017", secret=None):
    import boto3
    from botocore.config import Config
    ak, sk = DEVICES[device]
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=ak, aws_secret_access_key=secret or sk,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


def s3_error_code(fn):
    """The S3 error code a boto3 call fails with, or None when it succeeds."""
    from botocore.exceptions import ClientError
    try:
        fn()
        return None
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


def boto3_ranged(client, key, bucket="granary"):
    """A get(range) for check_ranges through boto3's get_object(Range=...)."""
    from botocore.exceptions import ClientError

    def get(byte_range):
        try:
            o = client.get_object(Bucket=bucket, Key=key, Range=byte_range)
            return (o["ResponseMetadata"]["HTTPStatusCode"], o.get("ContentRange"),
                    o.get("AcceptRanges"), o["Body"].read())
        except ClientError as e:
            return (e.response["ResponseMetadata"]["HTTPStatusCode"],
                    e.response["ResponseMetadata"]["HTTPHeaders"].get("content-range"),
                    e.response["Error"]["Code"], b"")
    return get


def check_ranges(label, body, get):
    """`bytes=a-b`, `a-`, `-n` and a last byte past the end answer 206 with the right bytes and
    Content-Range; a range starting at the end answers 416 with `bytes */size`. `get(range)`
    returns (status, Content-Range, Accept-Ranges or the error code, bytes)."""
    n = len(body)
    for spec, a, b in ((f"bytes=10-{n // 2}", 10, n // 2), (f"bytes={n - 7}-", n - 7, n - 1),
                       ("bytes=-5", n - 5, n - 1), (f"bytes={n // 3}-{4 * n}", n // 3, n - 1)):
        status, content_range, accept, got = get(spec)
        check(status == 206 and content_range == f"bytes {a}-{b}/{n}" and accept == "bytes" and
              got == body[a:b + 1], f"{label} {spec}: {status} {content_range} {accept}, "
                                    f"{len(got)} bytes (want {b - a + 1})")
    status, content_range, code, _ = get(f"bytes={n}-")
    check(status == 416 and content_range == f"bytes */{n}" and code == "InvalidRange",
          f"{label} bytes={n}-: {status} {content_range} {code}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Postgres:
    """A throwaway PostgreSQL 15 cluster in a temp dir on a random loopback port, run as the
    unprivileged `postgres` user when the test runs as root (postgres refuses root)."""
    BIN = "/usr/lib/postgresql/15/bin"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="granary-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            import pwd
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run(["initdb", "-D", self.data, "-U", "granary", "--auth=trust", "-E", "UTF8",
                   "--locale=C.UTF-8"])
        self.start()
        self._run(["createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "granary", "granary"])
        self.url = f"postgresql://granary@127.0.0.1:{self.port}/granary"

    def start(self):
        self._run(["pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "pg.log"), "-w", "-o",
                   f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
                   "-c fsync=off -c max_connections=50", "start"])

    def _run(self, argv):
        cmd = [os.path.join(self.BIN, argv[0]), *argv[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.dir)
        check(r.returncode == 0, f"{argv[0]} failed: {r.stdout}\n{r.stderr}")
        return r

    def query(self, sql):
        r = subprocess.run([os.path.join(self.BIN, "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", "granary", "-d", "granary", "-At", "-c", sql],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"psql: {r.stderr}")
        return r.stdout.strip()

    def stop(self):
        self._run(["pg_ctl", "-D", self.data, "-m", "immediate", "stop"])
