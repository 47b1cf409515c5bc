"""Segments parked by an error waiting cannot fix (403) heal by themselves, long before
permanent_retry (1 h here), without a signal:
  1. the agent's credentials file is fixed in place: the change is seen and they upload;
  2. the receiver is the one that was wrong (a device secret rotated there by mistake) and
     is fixed: the next segment's upload succeeds, and the parked ones follow it;
  3. the device is disabled in the receiver's registry, then enabled again with the
     receiver running: the backlog parked meanwhile uploads within one retry interval.
Before both, with the receiver down, every retry log line names the object key once."""
import os
import re

from harness import Agent, check, wait_until
from receiver_harness import DEVICES, agent_and_receiver
from test_receiver_agent import fixed_port_receiver

SOURCES = """
[segment]
max_readings = 40

[[source]]
name = "synth"
type = "synthetic"
interval = "200ms"
rate = 20
"""

HEAL_LIMIT_S = 20


def parked(agent):
    """Ids of sealed segments whose last attempt was refused with a 403."""
    return {r[0] for r in agent.db(
        "SELECT id FROM segments WHERE state='sealed' AND last_error LIKE '%HTTP 403%'")}


def uploaded(agent, ids):
    rows = agent.db(f"SELECT count(*) FROM segments WHERE state='uploaded' AND id IN "
                    f"({','.join(str(i) for i in ids)})")
    return rows[0][0] == len(ids)


def park_some(agent):
    """Waits until at least 3 segments are parked; returns their ids."""
    wait_until("three segments parked by 403", lambda: len(parked(agent)) >= 3, 30)
    return parked(agent)


def write_credentials(path, secret, ak=DEVICES["h017"][0]):
    with open(path, "w") as f:  # in place, as an editor or config tool does
        f.write(f"[default]\naws_access_key_id = {ak}\naws_secret_access_key = {secret}\n")


def set_receiver_secret(receiver, old, new):
    with open(receiver.config) as f:
        body = f.read()
    check(old in body, "receiver config without the device secret")
    with open(receiver.config, "w") as f:
        f.write(body.replace(old, new))


def main():
    receiver, upload = fixed_port_receiver()
    creds = os.path.join(receiver.dir, "credentials")
    good = DEVICES["h017"][1]
    agent = Agent(SOURCES + upload + 'permanent_retry = "1h"\n', device="h017")
    with agent_and_receiver(agent, receiver):
        # 0. Receiver down: retryable errors, each log line naming its key once.
        agent.start()
        agent.wait_ready()
        wait_until("a retry logged", lambda: "retry in" in agent.read_log(), 30)
        for line in agent.read_log().splitlines():
            if "retry in" in line:
                check(line.count("h017-synth-") == 1, f"key not named exactly once: {line}")

        # 1. Wrong credentials on the device, fixed in the file only.
        write_credentials(creds, "wrong-secret-0000")
        receiver.start()
        ids = park_some(agent)
        write_credentials(creds, good)
        took = wait_until("parked segments uploaded after the credentials file changed",
                          lambda: uploaded(agent, ids), HEAL_LIMIT_S)
        check("changed: uploading with the new credentials" in agent.read_log(),
              "no log line for the credentials change")
        print(f"credentials file fixed: {len(ids)} parked segments uploaded in {took:.1f} s")

        # 2. The receiver holds a wrong secret for the device; fixed there, agent untouched.
        receiver.stop()
        set_receiver_secret(receiver, good, "rotated-by-mistake-0000")
        receiver.start()
        ids = park_some(agent)
        receiver.stop()
        set_receiver_secret(receiver, "rotated-by-mistake-0000", good)
        receiver.start()
        took = wait_until("parked segments uploaded after another upload succeeded",
                          lambda: uploaded(agent, ids), HEAL_LIMIT_S)
        print(f"receiver fixed: {len(ids)} parked segments uploaded in {took:.1f} s")

        # 3. A registry key for the device, disabled and enabled again on the running receiver.
        added = receiver.cli("device", "add", "h017")
        check(added.returncode == 0, f"device add: {added.stdout}{added.stderr}")
        ak = re.search(r"^access key: (\S+)$", added.stdout, re.M).group(1)
        sk = re.search(r"^secret key: (\S+)$", added.stdout, re.M).group(1)
        write_credentials(creds, sk, ak)
        before = agent.db("SELECT count(*) FROM segments WHERE state='uploaded'")[0][0]
        wait_until("an upload with the registry key",
                   lambda: agent.db("SELECT count(*) FROM segments WHERE state='uploaded'")[0][0]
                   > before, HEAL_LIMIT_S)
        disabled = receiver.cli("device", "disable", "h017")
        check(disabled.returncode == 0, f"device disable: {disabled.stderr}")
        ids = park_some(agent)
        enabled = receiver.cli("device", "enable", "h017")
        check(enabled.returncode == 0, f"device enable: {enabled.stderr}")
        took = wait_until("parked segments uploaded after the device was enabled again",
                          lambda: uploaded(agent, ids), HEAL_LIMIT_S)
        print(f"device re-enabled: {len(ids)} parked segments uploaded in {took:.1f} s")
        rc = agent.stop()
        check(rc == 0, f"stop exited {rc}")
        print("parked_heal: ok")


if __name__ == "__main__":
    main()
