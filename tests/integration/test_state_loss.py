"""Damaged state files never delete data, end to end with the real agent and receiver.
Segments sealed while the receiver is down; then (1) a clean stop and buffer.db truncated
to 0 bytes with its -wal/-shm removed, (2) kill -9 and the WAL removed. After each start no
segment file is gone, the loss is in status (online and offline alike), and once the
receiver is up every reading that was in a segment file is accepted exactly once: no key
conflict (a reused seq would be one), and accepted + tombstoned covers [1, last] with no
unexplained gap."""
import os
import time

from harness import Agent, check
from receiver_harness import agent_and_receiver
from test_receiver_agent import drain, fixed_port_receiver

SOURCES = """
[segment]
max_readings = 200

[[source]]
name = "synth"
type = "synthetic"
interval = "100ms"
rate = 2000
"""


def start_keeping(agent, before):
    """Starts the agent on its damaged state; every segment file in `before` is still there."""
    agent.start()
    agent.wait_ready()
    check(before <= set(agent.segments()),
          f"segment files deleted: {sorted(before - set(agent.segments()))}")


def wait_segments(agent, n, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(agent.segments()) >= n:
            return
        time.sleep(0.2)
    check(False, f"fewer than {n} segments sealed: {agent.segments()}")


def seqs_in_files(agent):
    seqs = {}
    for name in agent.segments():
        if name.endswith(".jsonl.gz"):
            for line in agent.segment_lines(name):
                seqs[line["seq"]] = line["data"]
    return seqs


def remove(path):
    if os.path.exists(path):
        os.remove(path)


def offline_status(agent):
    import json
    r = agent.cli("status", "--json", check_rc=0)
    return json.loads(r.stdout)["buffer"]


def main():
    r, upload = fixed_port_receiver()
    agent = Agent(SOURCES + upload, device="h017")
    db = os.path.join(agent.state, "buffer.db")
    in_files = {}
    with agent_and_receiver(agent, r):
        # (1) Clean stop, then the database is emptied.
        agent.start()
        agent.wait_ready()
        wait_segments(agent, 5)
        time.sleep(1)
        check(agent.stop() == 0, "agent stop failed")
        before = set(agent.segments())
        in_files.update(seqs_in_files(agent))
        with open(db, "w"):
            pass
        remove(db + "-wal")
        remove(db + "-shm")
        start_keeping(agent, before)
        b = agent.status()["buffer"]
        check(b["state_losses"] == 1, f"state loss not in status: {b}")
        check(agent.status()["state"] == "degraded", "a state loss must degrade the status")

        # (2) kill -9, then the WAL is lost.
        wait_segments(agent, len(before) + 3)
        time.sleep(0.5)
        agent.kill9()
        before = set(agent.segments())
        in_files.update(seqs_in_files(agent))
        remove(db + "-wal")
        start_keeping(agent, before)
        online = agent.status()["buffer"]
        check(online["state_losses"] == 2, f"second state loss not in status: {online}")
        check("write-ahead log" in online["last_state_loss"], f"reason: {online}")
        check(agent.stop() == 0, "agent stop failed")
        offline = offline_status(agent)
        for k in ("state_losses", "buffers_moved_aside", "possibly_lost", "last_state_loss"):
            check(offline[k] == online[k], f"{k}: offline {offline[k]} but online {online[k]}")
        check(sum(1 for n in os.listdir(agent.state) if n.startswith("corrupt-")) == 2,
              "each damaged database must be kept aside")

        # The receiver comes up: everything uploads once.
        r.start()
        drain(agent, upload, 180)
        check("ObjectConflict" not in agent.read_log(), "a key was reused with other bytes")
        last = agent.db("SELECT next_seq - 1 FROM sources WHERE name='synth'")[0][0]
        cov = r.coverage("h017", "synth")
        unexplained = [g for g in cov["gaps"] if not g["explained"]]
        check(not unexplained, f"unexplained gaps: {unexplained}")
        accepted = set()
        for a, b_ in cov["ranges"]:
            accepted.update(range(a, b_ + 1))
        missing = sorted(s for s in in_files if s not in accepted)
        check(not missing, f"{len(missing)} seqs from segment files never accepted: {missing[:10]}")
        tomb = sum(g["last_seq"] - g["first_seq"] + 1 for g in cov["gaps"])
        check(len(accepted) + tomb == last, f"accepted {len(accepted)} + tombstoned {tomb} != {last}")
        print(f"state loss: ok ({len(in_files)} seqs in files all accepted once, "
              f"{tomb} seqs tombstoned, last seq {last})")


if __name__ == "__main__":
    main()
