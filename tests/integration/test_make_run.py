"""`make run` as a new user runs it: in the background, until the demo agent has uploaded
its first segment and its retained status is on the demo broker. The lines it prints must
work as printed: the curl line answers 200 listing demo01, the data path holds the uploaded
segments, the mosquitto_sub line shows the status. Then Ctrl-C (SIGINT to the whole process
group, as a terminal sends it) must stop the agent first: it leaves no sealed segment or
buffered reading behind, and its retained status on the broker is `stopped` (checked on the
demo's broker, started again from its own config and persistence after the demo ended).
None of the processes the demo started may be left."""
import glob
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

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
            # Until the meter's first segment (sealed after 20 polls, 40 s) is in too.
            if not glob.glob(os.path.join(run_dir, "receiver", "accepted", "**", "*-meter-*.jsonl.gz"),
                             recursive=True):
                uploaded = 0
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
        for needle in ("receiver", "EAGLE", "metrics", "http://127.0.0.1:"):
            check(needle in text, f"make run did not print {needle!r}:\n{text}")
        check_printed_lines(text)
        started.update(descendants(make.pid))

        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        try:
            make.wait(timeout=90)
        except subprocess.TimeoutExpired:
            fail("make run did not exit within 90 s of Ctrl-C")
        time.sleep(1)
        left = [p for p in started if alive(p)]
        check(not left, f"processes left after Ctrl-C: {left}")
        text = open(out_path).read()
        check_stopped_in_order(text)
        check_nothing_pending(run_dir, text)
        check_retained_stopped(run_dir)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
        for pid in started:  # the peers run in sessions of their own
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        out.close()
    shutil.rmtree(run_dir, ignore_errors=True)
    print("PASS test_make_run")


def printed(text, label):
    """The value the demo printed after `label` (its line `  label   value`)."""
    m = re.search(rf"^  {label} +(.+)$", text, re.M)
    check(m, f"make run did not print a {label!r} line:\n{text}")
    return m.group(1).strip()


def check_printed_lines(text):
    # The API line, run as printed: 200 and demo01 listed.
    api = printed(text, "API")
    m = re.fullmatch(r"curl -s -H 'Authorization: Bearer (\S+)' (http://127\.0\.0\.1:\d+)/api/v1/devices", api)
    check(m, f"unexpected API line: {api}")
    r = subprocess.run(["/bin/sh", "-c", api + " -o /dev/stderr -w '%{http_code}'"],
                       capture_output=True, text=True, timeout=30)
    check(r.stdout == "200", f"{api}: HTTP {r.stdout}: {r.stderr}")
    devices = [d["device"] for d in json.loads(r.stderr)["devices"]]
    check(devices == ["demo01"], f"{api} listed {devices}")
    # Without the token the API refuses: the token printed is what made the difference.
    req = urllib.request.Request(m.group(2) + "/api/v1/devices")
    try:
        urllib.request.urlopen(req, timeout=10)
        fail("the API answered without a token")
    except urllib.error.HTTPError as e:
        check(e.code == 401, f"the API without a token: {e.code}")
    check_dashboard_line(text, m.group(1))
    for label in ("coverage", "readings"):
        line = printed(text, label)
        r = subprocess.run(["/bin/sh", "-c", line + " --fail"], capture_output=True, text=True, timeout=30)
        check(r.returncode == 0 and "demo01" in r.stdout, f"{line}: rc {r.returncode} {r.stdout[:300]}")
    # Where the data lands: the uploaded segments are there.
    where = printed(text, "data lands in")
    root = where.split("/{")[0]
    files = glob.glob(os.path.join(root, "*", "*", "*", "*", "*.jsonl.gz"))
    check(files, f"no segment under {root} ({where})")
    # The subscribe line, run as printed (bounded): the demo's status topic.
    line = printed(text, "MQTT")
    r = subprocess.run(["/bin/sh", "-c", line + " -C 1 -W 10 -t granary/demo01/status --retained-only"],
                       capture_output=True, text=True, timeout=30)
    check(r.stdout.startswith("granary/demo01/status {"), f"{line}: {r.stdout!r} {r.stderr}")


def check_dashboard_line(text, api_token):
    """The dashboard line: its page is served, and its token signs in (the page sends it as
    a bearer token to the fleet list it shows first)."""
    line = printed(text, "dashboard")
    m = re.fullmatch(r"(http://127\.0\.0\.1:\d+)/  sign in with the reader token (\S+)", line)
    check(m, f"unexpected dashboard line: {line}")
    url, token = m.groups()
    check(token == api_token, f"the dashboard token {token} is not the API's {api_token}")
    with urllib.request.urlopen(url + "/", timeout=10) as r:
        page = r.read().decode()
        check(r.status == 200 and 'id="login-form"' in page and "/ui/app.js" in page,
              f"{url}/ is not the dashboard: {page[:300]}")
    req = urllib.request.Request(url + "/api/v1/devices?summary=1",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        devices = json.load(r)["devices"]
        check([d["device"] for d in devices] == ["demo01"] and "unexplained_missing" in devices[0],
              f"the dashboard's fleet list with the printed token: {devices}")


def check_stopped_in_order(text):
    """The agent stopped (and uploaded) before the demo stopped anything else."""
    check("stopping the agent" in text, f"the demo did not say it stops the agent:\n{text[-2000:]}")
    tail = text[text.index("stopping the agent"):]
    check(re.search(r"\bstopped$", tail, re.M), f"the agent did not log its stop:\n{tail}")
    check("still to upload" not in tail, f"the agent stopped with segments left:\n{tail}")


def check_nothing_pending(run_dir, text):
    config = os.path.join(run_dir, "granary.toml")
    r = subprocess.run([BIN, "status", "--json", "-c", config], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"granary status: {r.returncode} {r.stderr}")
    st = json.loads(r.stdout)
    b = st["buffer"]
    check(st["state"] == "stopped", f"offline state {st['state']}")
    check(b["segments_sealed"] == 0 and b["buffered"] == 0 and b["pending_bytes"] == 0,
          f"left in the buffer after Ctrl-C: {b}\n{text[-2000:]}")
    check(b["segments_uploaded"] >= 2, f"uploaded {b['segments_uploaded']}")
    # Every reading captured is in an accepted file: the last seq of each source is.
    accepted = os.path.join(run_dir, "receiver", "accepted")
    for source, last in b["last_seq"].items():
        found = glob.glob(os.path.join(accepted, "**", f"*-{source}-*.jsonl.gz"), recursive=True)
        check(found, f"nothing accepted of {source}")
        seqs = set()
        for path in found:
            with gzip.open(path, "rt") as f:
                seqs.update(json.loads(line)["seq"] for line in f)
        check(seqs == set(range(1, last + 1)), f"{source}: accepted seqs != 1..{last}")


def check_retained_stopped(run_dir):
    """The demo's broker again, from its config and persistence: the retained status."""
    conf = os.path.join(run_dir, "mosquitto.conf")
    port = int(re.search(r"^listener (\d+)", open(conf).read(), re.M).group(1))
    broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            check(broker.poll() is None, f"mosquitto -c {conf} exited {broker.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t",
                            "granary/demo01/status", "-C", "1", "-W", "5", "--retained-only"],
                           capture_output=True, text=True, timeout=15)
        check(r.stdout.strip(), f"no retained status after the demo: {r.stderr}")
        status = json.loads(r.stdout)
        check(status["state"] == "stopped", f"retained status after Ctrl-C: {status['state']}")
    finally:
        broker.terminate()
        broker.wait(timeout=10)


if __name__ == "__main__":
    main()
