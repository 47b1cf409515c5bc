"""`make run` as a new user runs it: in the background, until the demo agent has uploaded
its first segment and its retained status is on the demo broker; then Ctrl-C (SIGINT to the
whole process group, as a terminal sends it) must leave none of the processes it started."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from harness import BIN, SOURCE_DIR, check, fail


def descendants(pid):
    """PIDs of every living descendant of `pid`."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main():
    build = os.path.relpath(os.path.dirname(os.path.dirname(os.path.abspath(BIN))), SOURCE_DIR)
    run_dir = tempfile.mkdtemp(prefix="granary-make-run-")
    env = dict(os.environ, GRANARY_RUN_DIR=run_dir)
    out_path = os.path.join(run_dir, "make-run.out")
    out = open(out_path, "w")
    make = subprocess.Popen(["make", "--no-print-directory", "run", f"BUILD={build}", "JOBS=1"],
                            cwd=SOURCE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    started = set()
    try:
        deadline = time.time() + 500  # make builds first when the tree changed
        status_path = os.path.join(run_dir, "state", "status.json")
        uploaded = 0
        while time.time() < deadline and uploaded == 0:
            if make.poll() is not None:
                fail(f"make run exited {make.returncode}:\n{open(out_path).read()[-3000:]}")
            started.update(descendants(make.pid))
            try:
                with open(status_path) as f:
                    uploaded = json.load(f)["uploads"]["uploaded"]
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        check(uploaded > 0, f"no segment uploaded:\n{open(out_path).read()[-3000:]}")
        text = open(out_path).read()
        m = re.search(r"mosquitto_sub -h 127\.0\.0\.1 -p (\d+) -t 'granary/#' -v", text)
        check(m, f"make run did not print a mosquitto_sub line:\n{text}")
        r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", m.group(1), "-t",
                            "granary/demo01/status", "-C", "1", "-W", "20", "--retained-only"],
                           capture_output=True, text=True, timeout=30)
        status = json.loads(r.stdout)
        check(status["device"] == "demo01" and status["state"] in ("running", "degraded"),
              f"retained status: {r.stdout}")
        for needle in ("storage:", "EAGLE:", "metrics:", "http://127.0.0.1:"):
            check(needle in text, f"make run did not print {needle!r}:\n{text}")
        started.update(descendants(make.pid))
        swift = glob_pids(os.path.join(run_dir, "s3"))
        started.update(swift)

        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fail("make run did not exit within 60 s of Ctrl-C")
        time.sleep(1)
        left = [p for p in started if alive(p)]
        check(not left, f"processes left after Ctrl-C: {left}")
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
        out.close()
    shutil.rmtree(run_dir, ignore_errors=True)
    print("PASS test_make_run")


def glob_pids(s3_dir):
    pids = []
    if os.path.isdir(s3_dir):
        for name in os.listdir(s3_dir):
            if name.endswith(".pid"):
                with open(os.path.join(s3_dir, name)) as f:
                    pids += [int(x) for x in f.read().split() if x.isdigit()]
    return pids


if __name__ == "__main__":
    main()
