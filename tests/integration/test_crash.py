"""kill -9 at random moments (and at every named crash point of the seal path) while a
synthetic source captures >= 2,000 readings/s. Invariant: every seq from 1 to the last
captured one appears in exactly one segment: zero lost, zero duplicated."""
import random
import time

from harness import Agent, check, check_segments_exact

CONFIG = """
[buffer]
sync = "full"

[segment]
max_readings = 1500

[[source]]
name = "fast"
type = "synthetic"
interval = "100ms"
rate = 4000
payload_bytes = 100
"""

CRASH_POINTS = ["seal.after_write", "seal.after_rename", "seal.after_dirsync",
                "seal.before_commit", "seal.after_commit"]


def main():
    rng = random.Random(int(time.time()))
    agent = Agent(CONFIG)
    kills = 0
    for i in range(22):
        agent.start()
        time.sleep(rng.uniform(0.3, 1.6))
        agent.kill9()
        kills += 1
    for point in CRASH_POINTS:
        proc = agent.start(env={"GRANARY_CRASH_POINT": point})
        try:
            rc = proc.wait(timeout=30)
        except Exception:
            agent.kill9()
            check(False, f"crash point {point} was never reached")
        agent.proc = None
        agent.log.close()
        check(rc == -9, f"crash point {point}: exit {rc}, wanted SIGKILL")
    # A clean run after the crash points, then an offline flush seals the rest.
    agent.start()
    time.sleep(1.0)
    check(agent.stop() == 0, "clean stop failed")
    agent.cli("flush", check_rc=0)
    last = check_segments_exact(agent, "fast")
    check(last > 20_000, f"only {last} readings captured over {kills} runs")
    print(f"crash: {kills} random kills + {len(CRASH_POINTS)} crash points; "
          f"{last} readings, each in exactly one segment")


if __name__ == "__main__":
    main()
