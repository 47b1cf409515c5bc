"""systemd notify protocol against a NOTIFY_SOCKET this test listens on: READY=1 once the
buffer is open, STATUS= lines, WATCHDOG=1 while the scheduler makes progress, and none once
the scheduler hangs (GRANARY_TEST_HANG_SCHEDULER), so systemd would restart the unit.
STOPPING=1 on SIGTERM. The receiver: READY=1 with the address it listens on, STOPPING=1."""
import os
import shutil
import socket
import tempfile
import time

from harness import Agent, check
from receiver_harness import Receiver

CONFIG = """
[[source]]
name = "synth"
type = "synthetic"
interval = "200ms"
rate = 5
"""
# The progress deadline is the longest interval plus its timeout plus 5 s of slack
# (agent/watchdog.cpp): 0.2 s + 0.2 s + 5 s.
DEADLINE_S = 5.4
HANG_AFTER_S = 3
WATCH_S = 16


def listen(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    return s


def collect(sock, seconds, since):
    """(seconds since `since`, assignment) for every line received within `seconds`."""
    out = []
    end = time.time() + seconds
    while time.time() < end:
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            continue
        for line in data.splitlines():
            out.append((time.time() - since, line))
    return out


def watch(sock_path, daemon, start, seconds):
    """(lines sent to NOTIFY_SOCKET, exit code): `seconds` after start(), then 1 s after a
    SIGTERM stop; `daemon` is an Agent or a Receiver, killed if anything goes wrong."""
    sock = listen(sock_path)
    t0 = time.time()
    try:
        start()
        got = collect(sock, seconds, t0)
        rc = daemon.stop()
        got += collect(sock, 1, t0)
    finally:
        if daemon.proc:
            daemon.kill9()
        sock.close()
    return got, rc


def run(root, name, hang):
    sock_path = os.path.join(root, f"{name}.sock")
    env = {"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "4000000"}
    if hang:
        env["GRANARY_TEST_HANG_SCHEDULER"] = str(HANG_AFTER_S * 1000)
    agent = Agent(CONFIG, workdir=os.path.join(root, name), env=env)
    got, rc = watch(sock_path, agent, agent.start, WATCH_S)
    check(rc == 0, f"{name}: agent exited {rc}")
    lines = [line for _, line in got]
    check("READY=1" in lines, f"{name}: no READY=1 in {lines[:10]}")
    ready_at = min(t for t, line in got if line == "READY=1")
    status = [line for line in lines if line.startswith("STATUS=")]
    check(any(line.startswith("STATUS=running: 1 sources") for line in status),
          f"{name}: STATUS lines: {status[:5]}")
    check("STOPPING=1" in lines, f"{name}: no STOPPING=1")
    pings = [t for t, line in got if line == "WATCHDOG=1"]
    check(pings and pings[0] >= ready_at, f"{name}: no WATCHDOG=1 after READY=1: {pings}")
    return pings


def receiver_notify(root):
    sock_path = os.path.join(root, "receiver.sock")
    receiver = Receiver(workdir=os.path.join(root, "receiver"))
    got, rc = watch(sock_path, receiver,
                    lambda: receiver.start(env={"NOTIFY_SOCKET": sock_path}), 1)
    lines = [line for _, line in got]
    check(rc == 0, f"receiver exited {rc}")
    check("READY=1" in lines, f"receiver: no READY=1 in {lines}")
    check(f"STATUS=listening on 127.0.0.1:{receiver.port}" in lines, f"receiver: {lines}")
    check("STOPPING=1" in lines and lines.index("STOPPING=1") > lines.index("READY=1"),
          f"receiver: no STOPPING=1 after READY=1 in {lines}")


def main():
    root = tempfile.mkdtemp(prefix="granary-wd-")
    receiver_notify(root)
    healthy = run(root, "healthy", hang=False)
    # A healthy agent pings every 2 s (the status loop) for the whole run.
    late = [t for t in healthy if t > WATCH_S - 5]
    check(len(late) >= 2, f"healthy agent stopped pinging: {healthy}")

    hung = run(root, "hung", hang=True)
    check(any(t < HANG_AFTER_S + 1 for t in hung), f"no ping before the hang: {hung}")
    # The loop runs every 2 s; allow one more period after the deadline passes.
    quiet_from = HANG_AFTER_S + DEADLINE_S + 2.5
    check(quiet_from < WATCH_S - 3, "the test does not watch long enough")
    after = [t for t in hung if t > quiet_from]
    check(not after, f"WATCHDOG=1 sent while the scheduler hung: pings at {hung}")
    shutil.rmtree(root, ignore_errors=True)
    print("PASS test_watchdog")


if __name__ == "__main__":
    main()
