"""Debian's haproxy in front of receivers for a test or a bench: a config for N backends on
loopback with health checks on the receiver's `/healthz`, a frontend on a random port of
127.0.0.1 (plain HTTP, or TLS terminated with a PEM of certificate and key), haproxy run in
the foreground (`-db`) and stopped by its PID, and the backends' states read from its stats
socket."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from harness import check, fail
from receiver_harness import free_port


def haproxy_config(port, backends, stats_socket, tls_pem=None, check_interval="1s"):
    """backends: the receivers' loopback ports, named r1, r2, ... in order."""
    bind = f"bind 127.0.0.1:{port}" + (f" ssl crt {tls_pem}" if tls_pem else "")
    servers = "".join(f"  server r{i} 127.0.0.1:{p} check\n" for i, p in enumerate(backends, 1))
    # Timeouts above the receiver's validation budget (20 s), so the receiver's 503 SlowDown
    # reaches the client rather than haproxy's 504. Requests are balanced one by one (HTTP
    # mode), so one kept-alive client spreads over every replica.
    return f"""global
  maxconn 4096
  stats socket {stats_socket} mode 600 level admin
defaults
  mode http
  balance roundrobin
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  default-server inter {check_interval} fall 2 rise 1
frontend receivers
  {bind}
  default_backend receivers
backend receivers
  option httpchk GET /healthz
  http-check expect status 200
{servers}"""


class Balancer:
    """haproxy over `backends` (ports). start() returns once the frontend accepts
    connections and, unless told otherwise, every backend's health check passed."""

    def __init__(self, backends, workdir=None, tls_pem=None, check_interval="1s"):
        self.dir = workdir or tempfile.mkdtemp(prefix="granary-haproxy-")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.socket_path = os.path.join(self.dir, "haproxy.sock")
        self.config = os.path.join(self.dir, "haproxy.cfg")
        self.log_path = os.path.join(self.dir, "haproxy.log")
        with open(self.config, "w") as f:
            f.write(haproxy_config(self.port, backends, self.socket_path, tls_pem, check_interval))
        self.backends = list(backends)
        self.endpoint = f"{'https' if tls_pem else 'http'}://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, wait_up=True, timeout=20):
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen([binary, "-db", "-f", self.config],
                                         stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + timeout
        while True:
            check(self.proc.poll() is None, f"haproxy exited {self.proc.returncode}:\n{self.read_log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                if not wait_up or all(s == "UP" for s in self.server_states().values()):
                    return self
            except OSError:
                pass
            if time.time() > deadline:
                fail(f"haproxy not ready within {timeout} s: {self._states_or_error()}\n{self.read_log()}")
            time.sleep(0.1)

    def server_states(self):
        """{server name: status} as haproxy's health checks see them: UP, DOWN, MAINT, ..."""
        rows = self._stats_command("show stat").splitlines()
        header = rows[0].lstrip("# ").split(",")
        states = {}
        for row in rows[1:]:
            fields = dict(zip(header, row.split(",")))
            if fields.get("pxname") == "receivers" and fields.get("svname", "").startswith("r"):
                states[fields["svname"]] = fields["status"].split(" ")[0]
        return states

    def wait_state(self, server, wanted, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.server_states().get(server) == wanted:
                return
            time.sleep(0.2)
        fail(f"haproxy: {server} not {wanted} within {timeout} s: {self._states_or_error()}")

    def _stats_command(self, command):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.socket_path)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def _states_or_error(self):
        try:
            return str(self.server_states())
        except OSError as e:
            return f"stats socket: {e}"

    def pid(self):
        return self.proc.pid

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=10):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("haproxy did not stop on SIGTERM")
        finally:
            self.proc = None
