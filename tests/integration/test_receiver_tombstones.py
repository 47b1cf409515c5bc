"""Loss is never silent, end to end: with the receiver unreachable, the agent's disk quota
drops its oldest segments and records tombstones; once the receiver is up, the agent uploads
what it kept plus the tombstones, and the receiver's coverage shows every dropped range as an
explained gap (reason "quota") and no unexplained one: accepted + tombstoned = [1, last].
Then, against the receiver alone: a second tombstone from the same first seq with a wider
range widens the record (it was answered 200 and not recorded, leaving the gap
unexplained); a narrower one is a conflict."""
import json
import time

from harness import Agent, check
from receiver_harness import (Receiver, agent_and_receiver, boto3_client, run_receivers,
                              s3_error_code, segment)
from test_receiver_agent import drain, fixed_port_receiver

SOURCES = """
[segment]
max_readings = 200

[quota]
max_bytes = "1MiB"

[[source]]
name = "synth"
type = "synthetic"
interval = "100ms"
rate = 5000
payload_bytes = "600B"
"""


def put_tombstone(s3, first, last, name):
    body = json.dumps({"device": "h017", "source": "meter", "first_seq": first, "last_seq": last,
                       "count": last - first + 1, "reason": "quota", "at": 1}).encode()
    key = f"granary/h017/meter/tombstones/h017-meter-{first}-{last}-{name}.tombstone.json"
    return s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body,
                                               Metadata={"granary-format": "tombstone/1"}))


def test_widening(r):
    s3 = boto3_client(r.endpoint)
    for first in (1, 31):
        key, body, meta = segment("h017", "meter", first, first + 9)
        s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
    check(put_tombstone(s3, 11, 15, "a") is None, "the first tombstone was refused")
    check(put_tombstone(s3, 11, 30, "b") is None, "the wider tombstone was refused")
    cov = r.coverage("h017", "meter")
    check(cov["tombstones"] == [[11, 30]], f"tombstones after widening: {cov['tombstones']}")
    unexplained = [g for g in cov["gaps"] if not g.get("reason")]
    check(not unexplained, f"unexplained gaps after widening: {cov['gaps']}")
    code = put_tombstone(s3, 11, 20, "c")
    check(code == ("ObjectConflict", 409), f"a narrower tombstone answered {code}")


def main():
    alone = Receiver().start()
    run_receivers([alone], lambda: test_widening(alone), "receiver tombstone widening")
    r, upload = fixed_port_receiver()
    agent = Agent(SOURCES + upload, device="h017")
    with agent_and_receiver(agent, r):
        agent.start()
        agent.wait_ready()
        deadline = time.time() + 60
        while time.time() < deadline:  # the receiver is down: wait for the quota to drop
            dropped = agent.db("SELECT count(*) FROM drops")[0][0] if agent.db(
                "SELECT count(*) FROM sqlite_master WHERE name='drops'")[0][0] else 0
            if dropped >= 3:
                break
            time.sleep(0.5)
        check(dropped >= 3, "the quota never dropped anything")
        r.start()
        drain(agent, upload, 180)
        last = agent.db("SELECT next_seq - 1 FROM sources WHERE name='synth'")[0][0]
        cov = r.coverage("h017", "synth")
        unexplained = [g for g in cov["gaps"] if not g["explained"]]
        explained = [g for g in cov["gaps"] if g["explained"]]
        check(not unexplained, f"unexplained gaps: {unexplained}")
        check(explained and all(g["reason"] == "quota" for g in explained), f"gaps {cov['gaps']}")
        covered = sum(b - a + 1 for a, b in cov["ranges"]) + sum(g["last_seq"] - g["first_seq"] + 1
                                                                 for g in explained)
        check(covered == last and cov["ranges"][-1][1] == last,
              f"accepted + tombstoned = {covered}, captured {last}: {cov}")
        dropped_readings = agent.db("SELECT total(count) FROM drops")[0][0]
        check(sum(g["last_seq"] - g["first_seq"] + 1 for g in explained) == dropped_readings,
              f"tombstoned {explained} but the agent dropped {dropped_readings}")
        print(f"receiver tombstones: ok ({len(explained)} explained gap(s), "
              f"{int(dropped_readings)} readings dropped by quota, {last} captured)")


if __name__ == "__main__":
    main()
