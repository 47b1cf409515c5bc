"""A private mosquitto for the MQTT tests: loopback only, a random port, a password file
made with mosquitto_passwd, an ACL file, persistence in its temp dir (so retained status and
sessions survive a restart on the same port). Also a subscriber that records every message."""
import os
import socket
import subprocess
import threading
import time

from harness import check, fail

# Devices may publish only below their own name (%u is the MQTT username); the monitor
# account reads everything. The same file is shown in docs/operations.md.
ACL = """\
pattern write granary/%u/status
pattern write granary/%u/events

user monitor
topic read granary/#
"""

USERS = {"h017": "pw-h017", "h018": "pw-h018", "h019": "pw-h019", "monitor": "pw-monitor"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, workdir, anonymous=False, name="mosquitto"):
        """`anonymous`: no accounts and no ACL (the robot's own local bus)."""
        self.dir = os.path.join(workdir, name)
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.port = free_port()
        self.proc = None
        passwd = os.path.join(self.dir, "passwd")
        for i, (user, password) in enumerate(USERS.items()):
            args = ["mosquitto_passwd", "-b", passwd, user, password]
            if i == 0:
                args.insert(1, "-c")
            subprocess.run(args, check=True, capture_output=True)
        os.chmod(passwd, 0o600)
        acl = os.path.join(self.dir, "acl")
        with open(acl, "w") as f:
            f.write(ACL)
        os.chmod(acl, 0o600)
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        # A busy anonymous bus logs errors only: a line per message would slow the broker.
        access = ("allow_anonymous true\nmax_queued_messages 100000\nlog_type error\n"
                  "log_type warning\n" if anonymous else
                  f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\nlog_type all\n")
        with open(self.conf, "w") as f:
            f.write(f"""\
listener {self.port} 127.0.0.1
{access}persistence true
persistence_location {self.dir}/data/
autosave_interval 1
user root
log_dest file {self.dir}/mosquitto.log
""")

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail(f"mosquitto exited {self.proc.returncode}: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        fail("mosquitto did not listen")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def log(self):
        try:
            with open(os.path.join(self.dir, "mosquitto.log")) as f:
                return f.read()
        except OSError:
            return ""

    def publish(self, user, topic, payload, retain=False):
        args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-u", user,
                "-P", USERS[user], "-t", topic, "-m", payload, "-q", "1"]
        if retain:
            args.append("-r")
        return subprocess.run(args, capture_output=True, text=True, timeout=10)

    def retained(self, topic, user="monitor", timeout=5):
        """The retained message on `topic`, or None."""
        r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-u", user,
                            "-P", USERS[user], "-t", topic, "-C", "1", "-W", str(timeout),
                            "--retained-only"],
                           capture_output=True, text=True, timeout=timeout + 5)
        return r.stdout.strip() or None


class Subscriber:
    """mosquitto_sub on `topic` as the monitor; messages as (time, topic, payload).
    Reconnects by itself when the broker restarts (mosquitto_sub does not)."""

    def __init__(self, broker, topic="granary/#"):
        self.broker = broker
        self.topic = topic
        self.messages = []
        self.lock = threading.Lock()
        self.stopped = False
        self.proc = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            self.proc = subprocess.Popen(
                ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-u", "monitor",
                 "-P", USERS["monitor"], "-t", self.topic, "-v", "-q", "1"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for line in self.proc.stdout:
                topic, _, payload = line.rstrip("\n").partition(" ")
                with self.lock:
                    self.messages.append((time.time(), topic, payload))
            self.proc.wait()
            time.sleep(0.2)

    def wait_for(self, predicate, timeout, what):
        """The first message (after none seen) matching predicate(topic, payload)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for m in self.messages:
                    if predicate(m[1], m[2]):
                        return m
            time.sleep(0.05)
        with self.lock:
            tail = self.messages[-5:]
        fail(f"no MQTT message {what} within {timeout}s; last: {tail}")

    def since(self, t):
        with self.lock:
            return [m for m in self.messages if m[0] >= t]

    def close(self):
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
        self.thread.join(timeout=5)
