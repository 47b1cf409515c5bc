"""End to end: the granary agent (synthetic source, no special mode) uploads to the receiver
while both are killed with SIGKILL at random moments, 20 times each. Afterwards the
invariant holds: the receiver's coverage of the source is exactly [1, last captured seq]
with no gaps, every seq indexed once (readings == last), and `verify` reports nothing.

With --postgres (or GRANARY_RECEIVER_INDEX=postgresql) the receiver's index is a real PostgreSQL
started by the test, as the unprivileged postgres user."""
import os
import random
import sys
import time

from harness import Agent, check
from receiver_harness import DEVICES, Postgres, Receiver, agent_and_receiver, free_port

SOURCES = """
[segment]
max_readings = 200

[[source]]
name = "synth"
type = "synthetic"
interval = "100ms"
rate = 500
"""


def upload_config(endpoint, credentials):
    return f"""
[upload]
endpoint = "{endpoint}"
bucket = "granary"
region = "us-east-1"
prefix = "granary"
credentials_file = "{credentials}"
retry_min = "100ms"
retry_max = "1s"
stall_timeout = "5s"
connect_timeout = "2s"
"""


def fixed_port_receiver(index="sqlite", device="h017"):
    """A receiver whose port is chosen now, so the agent's endpoint can be written before it
    starts and survives its restarts, and the [upload] section for `device`."""
    port = free_port()
    receiver = Receiver(index=index)
    with open(receiver.config) as f:
        body = f.read().replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"')
    with open(receiver.config, "w") as f:
        f.write(body)
    creds = os.path.join(receiver.dir, "credentials")
    with open(creds, "w") as f:
        ak, sk = DEVICES[device]
        f.write(f"[default]\naws_access_key_id = {ak}\naws_secret_access_key = {sk}\n")
    os.chmod(creds, 0o600)
    return receiver, upload_config(f"http://127.0.0.1:{port}", creds)


def drain(agent, upload, timeout):
    """Stop (sealing), restart without sources, flush, wait until nothing is pending."""
    if agent.proc is not None and agent.proc.poll() is None:
        time.sleep(2)  # a SIGTERM before the agent has set up its signal handling kills it
        rc = agent.stop()
        check(rc == 0, f"agent stop exited {rc}")
    agent.write_config(upload)
    agent.start()
    agent.wait_ready()
    agent.cli("flush", check_rc=0)
    deadline = time.time() + timeout
    while time.time() < deadline:
        pending = agent.db("SELECT count(*) FROM segments WHERE state='sealed'")[0][0]
        buffered = int(agent.db("SELECT total(count) FROM readings")[0][0])
        if pending == 0 and buffered == 0:
            rc = agent.stop()
            check(rc == 0, f"agent stop (drained) exited {rc}")
            return
        time.sleep(0.3)
    check(False, f"not all uploaded after {timeout}s: {agent.status().get('uploads')}")


def main():
    postgres = Postgres() if ("--postgres" in sys.argv
                             or os.environ.get("GRANARY_RECEIVER_INDEX") == "postgresql") else None
    receiver, upload = fixed_port_receiver(index=postgres.url if postgres else "sqlite")
    agent = Agent(SOURCES + upload, device="h017")
    rng = random.Random()
    try:
        with agent_and_receiver(agent, receiver):
            run(agent, receiver, upload, rng, postgres)
    finally:
        if postgres:
            postgres.stop()


def run(agent, receiver, upload, rng, postgres):
    """The kills, the drain and the checks."""
    receiver.start()
    agent.start()
    agent.wait_ready()
    kills = {"agent": 0, "receiver": 0}
    while min(kills.values()) < 20:
        time.sleep(rng.uniform(0.2, 1.0))
        victim = rng.choice([v for v, n in kills.items() if n < 20])
        if victim == "agent":
            agent.kill9()
            agent.start()
        else:
            receiver.kill9()
            time.sleep(rng.uniform(0.0, 0.5))
            receiver.start()
        kills[victim] += 1
    drain(agent, upload, 180)
    # Restart the receiver once more so its recovery has run on whatever the last kill left.
    receiver.kill9()
    receiver.start()
    last = agent.db("SELECT next_seq - 1 FROM sources WHERE name='synth'")[0][0]
    check(last > 1000, f"only {last} readings captured")
    cov = receiver.coverage("h017", "synth")
    check(cov["ranges"] == [[1, last]], f"coverage {cov['ranges']} but seqs 1..{last} captured")
    check(cov["gaps"] == [], f"gaps {cov['gaps']}")
    check(cov["readings"] == last, f"{cov['readings']} readings indexed for {last} captured")
    uploaded = agent.db("SELECT count(*) FROM segments WHERE state='uploaded'")[0][0]
    check(cov["segments"] == uploaded, f"{cov['segments']} indexed, {uploaded} uploaded")
    receiver.stop()
    v = receiver.cli("verify")
    check(v.returncode == 0, f"verify: {v.stdout}\n{v.stderr}")
    print(f"receiver e2e{' (postgresql)' if postgres else ''}: ok, {last} readings in "
          f"{uploaded} segments after {kills['agent']} agent and {kills['receiver']} receiver kills")


if __name__ == "__main__":
    main()
