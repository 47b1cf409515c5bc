"""Shared helpers for the integration tests: run the real granary binary in a temp
state dir, read its segments and its buffer database, start the local HTTP sensor."""
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("GRANARY_BIN", "granary")
SOURCE_DIR = os.environ.get("GRANARY_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_until(what, predicate, timeout, step=0.05):
    """Seconds until predicate() held; a failure naming `what` after `timeout` seconds."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if predicate():
            return time.time() - t0
        time.sleep(step)
    fail(f"{what}: not within {timeout} s")


class Agent:
    """One granary state dir and config; start/stop/kill the daemon on it."""

    def __init__(self, config_body, device="h017", workdir=None, env=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="granary-it-")
        self.state = os.path.join(self.dir, "state")
        self.config = os.path.join(self.dir, "granary.toml")
        self.device = device
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.log_path = os.path.join(self.dir, "agent.log")
        os.makedirs(self.dir, exist_ok=True)
        self.write_config(config_body)

    def write_config(self, config_body):
        with open(self.config, "w") as f:
            f.write(f'device = "{self.device}"\nstate_dir = "{self.state}"\n' + config_body)

    def cli(self, *args, check_rc=None, env=None, timeout=60):
        run_env = dict(self.env, **(env or {}))
        r = subprocess.run([BIN, *args, "-c", self.config], capture_output=True, text=True,
                           env=run_env, timeout=timeout)
        if check_rc is not None and r.returncode != check_rc:
            fail(f"granary {' '.join(args)} exited {r.returncode}, wanted {check_rc}\n"
                 f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def start(self, env=None):
        run_env = dict(self.env, **(env or {}))
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([BIN, "run", "-c", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=run_env)
        return self.proc

    def wait_ready(self, timeout=10):
        """Until this daemon (not an earlier run) has written its first status."""
        deadline = time.time() + timeout
        path = os.path.join(self.state, "status.json")
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail(f"agent exited early with {self.proc.returncode}:\n{self.read_log()}")
            try:
                with open(path) as f:
                    if json.load(f).get("pid") == self.proc.pid:
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        fail("agent never wrote status.json")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail(f"agent did not exit within {timeout}s of signal {sig}")
        self.proc = None
        self.log.close()
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.log.close()

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def status(self):
        with open(os.path.join(self.state, "status.json")) as f:
            return json.load(f)

    def segments(self):
        d = os.path.join(self.state, "segments")
        return sorted(n for n in os.listdir(d)) if os.path.isdir(d) else []

    def segment_lines(self, name):
        with gzip.open(os.path.join(self.state, "segments", name), "rt") as f:
            return [json.loads(line) for line in f.read().splitlines()]

    def db(self, query, args=()):
        con = sqlite3.connect(f"file:{self.state}/buffer.db?mode=ro", uri=True)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()


def check_segments_exact(agent, source):
    """Every seq from 1 to the last captured one in exactly one segment; returns last."""
    last = agent.db("SELECT next_seq - 1 FROM sources WHERE name=?", (source,))
    check(last, f"source {source} unknown to the buffer")
    last = last[0][0]
    buffered = int(agent.db("SELECT total(count) FROM readings")[0][0])
    check(buffered == 0, f"{buffered} readings still buffered after the final flush")
    seen = {}
    for name in agent.segments():
        if f"-{source}-" not in name:
            continue
        check(name.endswith(".jsonl.gz"), f"stray file {name}")
        for line in agent.segment_lines(name):
            seq = line["seq"]
            check(seq not in seen, f"seq {seq} in both {seen.get(seq)} and {name}")
            seen[seq] = name
    missing = [s for s in range(1, last + 1) if s not in seen]
    check(not missing, f"{len(missing)} seqs lost, first {missing[:5]}")
    check(max(seen) == last if seen else last == 0, f"seq beyond last captured: {max(seen)} > {last}")
    return last


class HttpSensor:
    """tests/sim/http_server.py on a random loopback port."""

    def __init__(self):
        script = os.path.join(SOURCE_DIR, "tests", "sim", "http_server.py")
        self.proc = subprocess.Popen(["/usr/bin/python3", script], stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline().strip())
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
