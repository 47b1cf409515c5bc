"""Run detection with the agent running: lastruns.txt jumping 10 -> 14 gives exactly the
reports of runs 11..14 in the outbox although the agent is killed (SIGKILL at the crash point
between a report's rename and its mark) and restarted in the middle; a second crash after a
run is marked pending but before its rename; a decrease is counted and logged and submits
nothing; a run's late file is attached once it appears and stops growing; a file that never
appears gives a report with missing_files after file_timeout. The agent's own outbox takes
each report and attachment into its catalog exactly once."""
import json
import os
import signal
import time

from harness import Agent, check, fail, wait_until


def reports(outbox):
    out = {}
    for name in os.listdir(outbox):
        if name.endswith(".json") and not name.startswith("."):
            with open(os.path.join(outbox, name)) as f:
                body = json.load(f)
            check(body["run"] not in out, f"run {body['run']} submitted twice")
            out[body["run"]] = body
    return out


def set_counter(path, run):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"MERLIN {run} 2026-11-30T09:00:00 user\nLET 5 other\n")
    os.rename(tmp, path)


def data_file(data, run, size=1000):
    with open(os.path.join(data, f"MERLIN{run:08}.nxs"), "wb") as f:
        f.write(bytes([run % 256]) * size)


def watcher(agent):
    """MERLIN's entry in the status runs block; empty before the first poll."""
    for w in agent.status().get("runs", []):
        for i in w["instruments"]:
            if i["instrument"] == "MERLIN":
                return i
    return {"decreases": 0, "pending": 0, "last_submitted": 0}


def main():
    agent = Agent("")
    outbox = os.path.join(agent.dir, "outbox")
    data = os.path.join(agent.dir, "data")
    counter = os.path.join(agent.dir, "lastruns.txt")
    os.makedirs(data)
    os.makedirs(outbox)
    agent.write_config(f"""[status]
interval = "1s"
[[outbox]]
name = "runs"
path = "{outbox}"
after = "keep"
[[watcher]]
name = "merlin"
type = "runs"
instrument = "MERLIN"
counter_file = "{counter}"
interval = "200ms"
file_template = "{data}/{{instrument}}{{run:08}}.nxs"
file_timeout = "3s"
""")
    set_counter(counter, 10)
    for run in range(11, 15):
        data_file(data, run)

    # First start: run 10 is recorded, nothing before it submitted.
    agent.start()
    agent.wait_ready()
    wait_until("first mark", lambda: os.path.exists(os.path.join(agent.state, "runs",
                                                                 "merlin.json")), 10)
    agent.stop()
    check(reports(outbox) == {}, f"first start submitted {reports(outbox)}")

    # 10 -> 14, killed right after run 11's report is renamed in, before its mark.
    set_counter(counter, 14)
    agent.start(env={"GRANARY_CRASH_POINT": "runs.committed"})
    agent.proc.wait(timeout=20)
    check(agent.proc.returncode == -signal.SIGKILL, f"exit {agent.proc.returncode}")
    agent.proc = None
    agent.log.close()
    check(sorted(reports(outbox)) == [11], f"at the crash: {sorted(reports(outbox))}")
    agent.start()
    agent.wait_ready()
    wait_until("runs 11..14", lambda: sorted(reports(outbox)) == [11, 12, 13, 14], 15)
    got = reports(outbox)
    for run in range(11, 15):
        body = got[run]
        name = f"MERLIN{run:08}.nxs"
        check(body["kind"] == "run" and body["instrument"] == "MERLIN" and
              "missing_files" not in body and [f["name"] for f in body["files"]] == [name],
              f"run {run}: {body}")
        check(os.path.getsize(os.path.join(outbox, body["uuid"], name)) == 1000,
              f"run {run}: attachment")
    print("10 -> 14 across a kill -9: runs 11..14 once each")

    # Killed after run 15 is marked pending, before anything is renamed in.
    agent.kill9()
    data_file(data, 15)
    set_counter(counter, 15)
    agent.start(env={"GRANARY_CRASH_POINT": "runs.marked"})
    agent.proc.wait(timeout=20)
    check(agent.proc.returncode == -signal.SIGKILL, f"exit {agent.proc.returncode}")
    agent.proc = None
    agent.log.close()
    check(15 not in reports(outbox), "run 15 renamed in before its crash point")
    agent.start()
    agent.wait_ready()
    wait_until("run 15 after the restart", lambda: 15 in reports(outbox), 10)
    check(not [n for n in os.listdir(outbox) if n.startswith(".")],
          f"staging left behind: {os.listdir(outbox)}")

    # A decrease: counted, logged, nothing submitted.
    set_counter(counter, 12)
    wait_until("decrease in status", lambda: watcher(agent)["decreases"] == 1, 10)
    time.sleep(1)
    check(sorted(reports(outbox)) == list(range(11, 16)), f"after the decrease: "
          f"{sorted(reports(outbox))}")
    check("went down from 15 to 12" in agent.read_log(), "decrease not logged")
    print("decrease 15 -> 12: counted, nothing submitted")

    # Run 16's file comes late: the report waits for it and carries it.
    set_counter(counter, 16)
    # Seen by a poll (interval 1s) and shown by the next status rewrite (interval 1s).
    # file_timeout is 3 s from detection, so only a short look for an early submission.
    wait_until("run 16 waiting for its file", lambda: watcher(agent)["pending"] == 1, 10)
    time.sleep(0.5)
    check(16 not in reports(outbox), "run 16 submitted before its file")
    check(watcher(agent)["pending"] == 1, f"status {watcher(agent)}")
    data_file(data, 16, size=5000)
    wait_until("run 16 with its late file", lambda: 16 in reports(outbox), 10)
    body = reports(outbox)[16]
    check(body["files"][0]["size"] == 5000 and "missing_files" not in body, f"run 16: {body}")

    # Run 17's file never comes: submitted with missing_files after file_timeout (3 s).
    set_counter(counter, 17)
    t0 = time.time()
    wait_until("run 17 with missing_files", lambda: 17 in reports(outbox), 10)
    took = time.time() - t0
    body = reports(outbox)[17]
    check(body["missing_files"] == [os.path.join(data, "MERLIN00000017.nxs")] and
          "files" not in body and took >= 2.5, f"run 17 after {took:.1f} s: {body}")
    print(f"late file attached; missing file reported after {took:.1f} s")
    wait_until("status", lambda: watcher(agent)["last_submitted"] == 17, 5)

    # The outbox (after = "keep", so the reports above stay readable) took each report and
    # attachment exactly once: runs 11..17, and the files of 11..16.
    def taken():
        return dict(agent.db("SELECT role, count(*) FROM outbox GROUP BY role"))
    wait_until("the outbox took every report", lambda: taken().get("report") == 7, 10)
    time.sleep(1)
    check(taken() == {"report": 7, "file": 6}, f"taken by the outbox: {taken()}")
    agent.stop()
    check(sorted(reports(outbox)) == list(range(11, 18)), f"end: {sorted(reports(outbox))}")
    print("PASS")


if __name__ == "__main__":
    main()
