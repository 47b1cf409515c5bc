"""The real agent with exec sources that hang, flood stdout, print garbage and exit non-zero,
next to one that works: each bad one is a clean, counted error naming its cause; the good one
keeps its readings; the agent never keeps a zombie child (sampled from /proc while it runs)
and nothing a hung command started outlives its timeout."""
import os
import time

from harness import Agent, check, check_segments_exact


def children(pid):
    """{child pid: state} of the process `pid`, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            found[int(entry)] = fields[0]
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def main():
    agent = Agent("")
    pids_file = os.path.join(agent.dir, "grandchildren")
    sources = {
        "good": ("printf '{\"weight_kg\": 12.5}'", "", None),
        "hang": (f"sleep 60 & echo $! >> {pids_file}; wait", "", "killed after the 300ms timeout"),
        "flood": ("yes", 'max_stdout = "4KiB"\n', "more than max_stdout (4096 bytes)"),
        "garbage": ("echo '<html>oops</html>'", "", "stdout is not one JSON object"),
        "failing": ("echo '{}'; echo sensor offline >&2; exit 3", "", "exit status 3"),
    }
    config = ""
    for name, (script, extra, _) in sources.items():
        escaped = script.replace("\\", "\\\\").replace('"', '\\"')
        config += (f'\n[[source]]\nname = "{name}"\ntype = "exec"\ninterval = "500ms"\n'
                   f'timeout = "300ms"\ncommand = ["/bin/sh", "-c", "{escaped}"]\n{extra}')
    with open(agent.config, "a") as f:
        f.write(config)
    agent.start()
    agent.wait_ready()

    zombies_seen = {}
    deadline = time.time() + 6
    while time.time() < deadline:
        for child, state in children(agent.proc.pid).items():
            if state == "Z":
                zombies_seen.setdefault(child, time.time())
        # A child is a zombie only for the moment between its exit and its reaping.
        now = time.time()
        lasting = [p for p, since in zombies_seen.items()
                   if now - since > 0.5 and children(agent.proc.pid).get(p) == "Z"]
        check(not lasting, f"zombie children of the agent: {lasting}")
        time.sleep(0.05)

    status = {s["name"]: s for s in agent.status()["sources"]}
    rc = agent.stop()
    check(rc == 0, f"SIGTERM exit code {rc}")

    for name, (_, _, needle) in sources.items():
        s = status[name]
        if needle is None:
            check(s["errors"] == 0 and s["readings"] >= 6, f"{name}: {s}")
            continue
        check(s["errors"] >= 6 and s["readings"] == 0, f"{name}: errors not counted: {s}")
        check(needle in s["last_error"], f"{name}: '{needle}' not in {s['last_error']!r}")
        check(s["overruns"] == 0, f"{name}: a poll outlived its interval: {s}")
    last = check_segments_exact(agent, "good")
    lines = [l for n in agent.segments() if "-good-" in n for l in agent.segment_lines(n)]
    check(len(lines) == last and all(l["data"] == {"weight_kg": 12.5} for l in lines),
          f"good readings: {lines[:3]}")

    with open(pids_file) as f:
        started = [int(line) for line in f.read().split()]
    check(len(started) >= 6, f"hang ran only {len(started)} times")
    time.sleep(0.5)  # init reaps the SIGKILLed orphans
    survivors = [p for p in started if alive(p)]
    check(not survivors, f"processes started by the hung command survived: {survivors}")
    print(f"exec: ok ({len(started)} hung runs killed, "
          f"{sum(s['errors'] for s in status.values())} errors counted)")


if __name__ == "__main__":
    main()
