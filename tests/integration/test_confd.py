"""Fleet provisioning through conf.d, against the running agent and no signal: a drop-in
file (its URL from ${METER_URL}) starts polling its source within 5 s; removing the file
stops it; a broken file is rejected with file:line:key in the log and the running
configuration kept; a key set both in the main file and a drop-in is refused naming both."""
import os
import sys
import time

from harness import Agent, HttpSensor, check, wait_until

BASE = """log_level = "info"
[[source]]
name = "synth"
type = "synthetic"
interval = "200ms"
"""

METER = """[[source]]
name = "meter-2"
type = "http_json"
interval = "500ms"
url = "${METER_URL}/json"
"""

LIMIT_S = 5


def sources(agent):
    return {s["name"]: s for s in agent.status()["sources"]}


def wait_for(what, predicate):
    return wait_until(what, predicate, LIMIT_S)


def write_atomically(path, text):
    """As a provisioning tool should: a hidden temp file, then a rename."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    sensor = HttpSensor()
    agent = Agent(BASE, env={"METER_URL": sensor.url})
    confd = os.path.join(agent.dir, "conf.d")
    os.makedirs(confd)
    try:
        agent.start()
        agent.wait_ready()
        check(set(sources(agent)) == {"synth"}, f"sources at start: {set(sources(agent))}")

        meter = os.path.join(confd, "meter-2.toml")
        write_atomically(meter, METER)
        took = wait_for("meter-2 polled after its drop-in appeared",
                        lambda: sources(agent).get("meter-2", {}).get("polls", 0) > 0
                        and sources(agent)["meter-2"]["errors"] == 0)
        print(f"drop-in picked up and polled in {took:.2f} s")

        os.unlink(meter)
        took_gone = wait_for("meter-2 gone after its drop-in was removed",
                             lambda: "meter-2" not in sources(agent))
        check("synth" in sources(agent), "the main file's source went with the drop-in")
        print(f"removal applied in {took_gone:.2f} s")

        # Written in place, not renamed: seen when the file is closed.
        broken = os.path.join(confd, "broken.toml")
        with open(broken, "w") as f:
            f.write('[[source]]\nname = "b"\ntype = "synthetic"\ninterval = "fast"\n')
        needle = f"{broken}:4: source[1].interval"
        wait_for("the broken drop-in rejected in the log",
                 lambda: needle in agent.read_log() and "reload rejected" in agent.read_log())
        polls = sources(agent)["synth"]["polls"]
        time.sleep(2.5)  # status.json is rewritten every 2 s
        now = sources(agent)
        check(set(now) == {"synth"} and now["synth"]["polls"] > polls,
              f"running config not kept after a broken drop-in: {now}")
        os.unlink(broken)

        # A key both files set: refused, naming both.
        twice = os.path.join(confd, "twice.toml")
        write_atomically(twice, 'log_level = "debug"\n')
        wait_for("a key set twice rejected",
                 lambda: f"{twice}:1: log_level: also set at {agent.config}:" in agent.read_log())
        check(agent.proc.poll() is None, "agent died on a rejected drop-in")
        os.unlink(twice)

        # Back to a good drop-in after the rejections.
        write_atomically(meter, METER)
        wait_for("meter-2 back", lambda: sources(agent).get("meter-2", {}).get("polls", 0) > 0)
        rc = agent.stop()
        check(rc == 0, f"stop exited {rc}")
        print("confd: ok")
    except SystemExit:
        print(agent.read_log()[-4000:], file=sys.stderr)
        raise
    finally:
        if agent.proc:
            agent.kill9()
        sensor.close()


if __name__ == "__main__":
    main()
