"""The granary command line as a user drives it: check-config --as-user names what the
service user cannot read; log lines carry times at a terminal and <N> prefixes for journald
and pipes; bad configs exit 78 with the file, line and key; check-config masks secrets;
poll, status and flush work with and without the daemon; `buffered` prints the readings
not yet sealed byte for byte as the seal then writes them, from the state dir or from a
copy of the database; SIGHUP reloads (and keeps the old config when the new one is bad);
SIGTERM exits 0 within 5 s."""
import gzip
import json
import os
import shutil
import re
import signal
import subprocess
import tempfile
import time

from harness import BIN, Agent, HttpSensor, check

BASE = """
[[source]]
name = "synth"
type = "synthetic"
interval = "100ms"
rate = 20
"""


def bad_configs(agent_dir):
    cases = {
        "unknown key": ('bogus = 1\n', ["granary.toml:3", "bogus", "unknown key"]),
        "negative interval": ('[[source]]\nname = "x"\ntype = "synthetic"\ninterval = "-5s"\n',
                              ["granary.toml:6", "interval"]),
        "duplicate source": (BASE + BASE, ["granary.toml:11", "synth", "duplicate"]),
        "wrong type": ('[buffer]\nbatch_max = "many"\n', ["granary.toml:4", "buffer.batch_max"]),
    }
    for name, (body, needles) in cases.items():
        a = Agent(body, workdir=os.path.join(agent_dir, name.replace(" ", "_")))
        for cmd in (["check-config"], ["run"]):
            r = a.cli(*cmd)
            check(r.returncode == 78, f"{name}: {cmd} exited {r.returncode}, wanted 78: {r.stderr}")
            for n in needles:
                check(n in r.stderr, f"{name}: '{n}' not in error: {r.stderr!r}")
    r = subprocess.run([BIN, "check-config", "-c", "/nonexistent/granary.toml"],
                       capture_output=True, text=True)
    check(r.returncode == 78 and "/nonexistent/granary.toml" in r.stderr,
          f"missing file: {r.returncode} {r.stderr}")


def check_as_user():
    """check-config --as-user: root reads every file, the service user may not."""
    d = tempfile.mkdtemp(prefix="granary-asuser-")
    os.chmod(d, 0o755)
    creds = os.path.join(d, "s3.credentials")
    with open(creds, "w") as f:
        f.write("[default]\naws_access_key_id = AKID\naws_secret_access_key = secret\n")
    os.chmod(creds, 0o600)
    state = os.path.join(d, "state")
    config = os.path.join(d, "granary.toml")
    with open(config, "w") as f:
        f.write(f'device = "h017"\nstate_dir = "{state}"\n{BASE}\n[upload]\n'
                f'endpoint = "http://127.0.0.1:9"\nbucket = "granary"\ncredentials_file = "{creds}"\n')
    os.chmod(config, 0o644)
    r = subprocess.run([BIN, "check-config", "-c", config, "--as-user", "nobody"],
                       capture_output=True, text=True)
    if os.geteuid() != 0:
        check(r.returncode == 78 and "needs root" in r.stderr, f"--as-user, not root: {r.stderr}")
        print("as-user: not root here, so only the refusal to check as another user was tested")
        return
    check(r.returncode == 78, f"--as-user nobody with a root-only credentials file: exit {r.returncode}")
    check(f"as user nobody: {creds}: cannot read" in r.stderr, f"credentials not named: {r.stderr}")
    check(f"as user nobody: {d}: cannot write" in r.stderr, f"state dir not named: {r.stderr}")
    import pwd
    nobody = pwd.getpwnam("nobody")
    os.chown(creds, nobody.pw_uid, nobody.pw_gid)
    os.mkdir(state)
    os.chown(state, nobody.pw_uid, nobody.pw_gid)
    r = subprocess.run([BIN, "check-config", "-c", config, "--as-user", "nobody"],
                       capture_output=True, text=True)
    check(r.returncode == 0 and "readable by nobody" in r.stderr, f"--as-user once fixed: {r.stderr}")
    r = subprocess.run([BIN, "check-config", "-c", config, "--as-user", "no-such-user-x"],
                       capture_output=True, text=True)
    check(r.returncode == 78 and "no user" in r.stderr, f"unknown user: {r.stderr}")


def log_lines_as_seen(agent, on_terminal, env_extra=None):
    """The first log lines of `granary run` with stderr on a pseudo-terminal or a pipe."""
    import pty
    import select
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    env.update(env_extra or {})
    if on_terminal:
        master, slave = pty.openpty()
        proc = subprocess.Popen([BIN, "run", "-c", agent.config], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=slave, env=env)
        os.close(slave)
        out, deadline = b"", time.time() + 10
        while b"\n" not in out and time.time() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                out += os.read(master, 4096)
        proc.terminate()
        proc.wait(timeout=10)
        os.close(master)
        return out.decode(errors="replace").splitlines()
    proc = subprocess.Popen([BIN, "run", "-c", agent.config], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    line = proc.stderr.readline()
    proc.terminate()
    proc.wait(timeout=10)
    return [line.decode(errors="replace")]


def check_log_format():
    """People at a terminal get times and level names; journald and pipes get <N> prefixes."""
    agent = Agent(BASE)
    lines = log_lines_as_seen(agent, True)
    check(lines and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (notice|info|warning): ",
                             lines[0]), f"terminal log line: {lines[:1]}")
    piped = log_lines_as_seen(agent, False)
    check(re.match(r"<\d>", piped[0]), f"piped log line: {piped}")
    journal = log_lines_as_seen(agent, True, {"JOURNAL_STREAM": "8:1234"})
    check(journal and re.match(r"<\d>", journal[0]), f"terminal under journald: {journal[:1]}")


def check_buffered(root):
    agent = Agent("[buffer]\nseal_on_stop = false\n" + BASE.replace("rate = 20", "rate = 200"),
                  workdir=os.path.join(root, "buffered"))
    agent.start()
    agent.wait_ready()
    time.sleep(1.5)
    check(agent.stop() == 0, "agent stop failed")
    check(not agent.segments(), f"seal_on_stop = false sealed {agent.segments()}")
    buffered = agent.db("SELECT total(count) FROM readings")[0][0]
    r = agent.cli("buffered", check_rc=0)
    lines = r.stdout.splitlines()
    check(len(lines) == buffered and buffered > 0, f"{len(lines)} lines for {buffered} buffered")
    check(f"{len(lines)} reading(s)" in r.stderr, f"no count on stderr: {r.stderr}")
    seqs = [json.loads(line)["seq"] for line in lines]
    check(seqs == list(range(1, len(lines) + 1)), f"seqs {seqs[:3]}..{seqs[-3:]}")
    first = json.loads(lines[0])
    check(first["device"] == "h017" and first["source"] == "synth" and isinstance(first["data"], dict),
          f"line {lines[0]}")
    # A copy read without a config, as a database moved aside after a state loss is.
    copy = os.path.join(root, "moved-aside.db")
    shutil.copy(os.path.join(agent.state, "buffer.db"), copy)
    r2 = subprocess.run([BIN, "buffered", "--db", copy, "--device", "h017"], capture_output=True,
                        text=True, timeout=30)
    check(r2.returncode == 0 and r2.stdout == r.stdout, f"--db copy: rc {r2.returncode} {r2.stderr}")
    r3 = subprocess.run([BIN, "buffered", "--db", copy + ".missing", "--device", "h017"],
                        capture_output=True, text=True, timeout=30)
    check(r3.returncode == 1 and "no buffer at" in r3.stderr, f"missing db: {r3.returncode} {r3.stderr}")
    # The seal writes the very bytes `buffered` printed.
    agent.cli("flush", check_rc=0)
    sealed = ""
    for name in agent.segments():
        with gzip.open(os.path.join(agent.state, "segments", name), "rt") as f:
            sealed += f.read()
    check(sealed == r.stdout, f"sealed {len(sealed)} bytes differ from the {len(r.stdout)} printed")


def main():
    check_as_user()
    check_log_format()
    sensor = HttpSensor()
    root = tempfile.mkdtemp(prefix="granary-cli-")
    try:
        bad_configs(os.path.join(root, "bad"))
        check_buffered(root)

        secret_cfg = BASE + f"""
[[source]]
name = "meter"
type = "http_json"
interval = "1s"
url = "{sensor.url}/json"
username = "u"
password = "hunter2-secret"
"""
        agent = Agent(secret_cfg)
        r = agent.cli("check-config", check_rc=0)
        check("hunter2-secret" not in r.stdout + r.stderr, "secret printed by check-config")
        check("***" in r.stdout, "masked secret missing from check-config")
        # The effective config is itself a valid config.
        with open(agent.config + ".effective", "w") as f:
            f.write(r.stdout)
        r2 = subprocess.run([BIN, "check-config", "-c", agent.config + ".effective"],
                            capture_output=True, text=True)
        check(r2.returncode == 0, f"effective config does not load: {r2.stderr}")

        # A source without auth prints no masked password: the output is the same config.
        plain = Agent(BASE.replace("synthetic", "http_json").replace("rate = 20", f'url = "{sensor.url}/json"'))
        r = plain.cli("check-config", check_rc=0)
        check(not re.search(r'^\w+ = "\*\*\*"', r.stdout, re.M) and '\npassword = ""\n' in r.stdout,
              f"unset secret: {r.stdout}")

        # Usage errors exit 2, as docs/operations.md says.
        for argv in (["no-such-command"], ["status", "--no-such-flag"], []):
            r = subprocess.run([BIN, *argv], capture_output=True, text=True)
            check(r.returncode == 2, f"usage error {argv}: exit {r.returncode}, wanted 2")

        # Before the first run there is no buffer: a state to show, exit 0.
        r = agent.cli("status", check_rc=0)
        check("no data yet" in r.stdout, f"status before the first run: {r.stdout}")
        agent.cli("status", "--json", check_rc=0)

        r = agent.cli("poll", "meter", check_rc=0)
        json.loads(r.stdout.splitlines()[0])
        r = agent.cli("poll", "nosuch")
        check(r.returncode != 0 and "nosuch" in r.stderr, "poll of an unknown source")

        # Offline: status of an empty state dir, then run, flush via the daemon, status.
        agent.start()
        agent.wait_ready()
        time.sleep(1.0)
        r = agent.cli("status", check_rc=0)
        check("pid" in r.stdout, f"status while running: {r.stdout}")
        for name in ("synth", "meter"):
            check(r.stdout.count(f"source {name} ") == 1, f"{name} not listed once: {r.stdout}")
        check(re.search(r"disk: [\d.]+ (B|KiB|MiB) used of 1 GiB quota, [\d.]+ [KMGT]?i?B free",
                        r.stdout), f"sizes not for people: {r.stdout}")
        r = agent.cli("flush", check_rc=0)
        check(agent.segments(), "flush through the daemon sealed nothing")
        before = len(agent.segments())

        # SIGHUP with a broken config: rejected, daemon keeps polling with the old one.
        with open(agent.config) as f:
            good = f.read()
        with open(agent.config, "w") as f:
            f.write(good + "\nnot valid toml [[[\n")
        agent.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        check(agent.proc.poll() is None, "daemon died on a bad reload")
        check("reload rejected" in agent.read_log(), "no log line for the rejected reload")
        polls_before = {s["name"]: s["polls"] for s in agent.status()["sources"]}
        time.sleep(2.5)
        polls_after = {s["name"]: s["polls"] for s in agent.status()["sources"]}
        check(polls_after["synth"] > polls_before["synth"], "polling stopped after a bad reload")

        # SIGHUP with a good config adding a source.
        with open(agent.config, "w") as f:
            f.write(good + BASE.replace('"synth"', '"synth2"'))
        agent.proc.send_signal(signal.SIGHUP)
        time.sleep(2.5)
        names = {s["name"] for s in agent.status()["sources"]}
        check("synth2" in names, f"reload did not add synth2: {names}")

        t0 = time.time()
        rc = agent.stop(signal.SIGINT)
        check(rc == 0 and time.time() - t0 < 5, f"SIGINT: rc {rc} after {time.time() - t0:.1f}s")
        check(len(agent.segments()) > before, "seal_on_stop sealed nothing")

        r = agent.cli("status", check_rc=0)
        check("not running" in r.stdout, f"offline status: {r.stdout}")
        r = agent.cli("status", "--json", check_rc=0)
        st = json.loads(r.stdout)
        check(st["buffer"]["segments_sealed"] == len(agent.segments()),
              f"offline status counts {st['buffer']} vs files {agent.segments()}")
        r = agent.cli("flush", check_rc=0)  # offline flush with nothing to do
        check(subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout.startswith("granary "),
              "--version")
        for cmd in ["run", "check-config", "poll", "status", "flush", "buffered"]:
            r = subprocess.run([BIN, cmd, "--help"], capture_output=True, text=True)
            check(r.returncode == 0 and "--config" in r.stdout, f"{cmd} --help: {r.stdout}")
        print("cli: ok")
    finally:
        sensor.close()


if __name__ == "__main__":
    main()
