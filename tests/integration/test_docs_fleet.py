"""docs/fleet.md, run as written. Every line of its ```sh blocks is either run, in order,
with bash (placeholders replaced by this test's stack: a receiver serving HTTPS with a test
CA on a random loopback port, and an agent for device field-001), or listed in STAND_INS
with the reason it cannot run here and what the test does in its place. A line of a kind
this test does not know fails it, so the guide cannot grow a command nobody checked.
Each command must exit 0; what it must have done is checked after it (50 devices
registered, the enrolled agent's readings reach the receiver, the rotated key in use,
field-050 revoked)."""
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time

from harness import BIN, SOURCE_DIR, Agent, check, fail
from receiver_harness import READER_TOKEN, RECEIVER_BIN, Receiver, receiver_config, run_receivers
from test_receiver_tls import api_tls, make_ca, make_server_cert

DOC = os.path.join(SOURCE_DIR, "docs", "fleet.md")
DOC_URL = "https://receiver.example:9000"
DOC_CA = "/etc/granary/ca.pem"

AGENT_BODY = """
[segment]
max_readings = 10

[[source]]
name = "meter"
type = "synthetic"
interval = "200ms"
rate = 5
"""


def commands(path):
    """(line number, command) of every non-comment line of the ```sh blocks."""
    out, inside = [], False
    with open(path) as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if text.startswith("```"):
                inside = (not inside) and text == "```sh"
                continue
            if inside and text and not text.startswith("#"):
                out.append((number, text))
    check(out, f"no ```sh command in {path}")
    return out


class Fleet:
    def __init__(self, work):
        self.work = work
        self.ca = make_ca(work)
        cert, key = make_server_cert(work, "receiver")
        self.receiver = Receiver(workdir=os.path.join(work, "receiver"))
        with open(self.receiver.config, "w") as f:
            f.write(receiver_config(self.receiver.data, devices={},
                                    extra=f'[http]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'))
        self.agent = Agent(AGENT_BODY, device="field-001", workdir=os.path.join(work, "device"))
        # `granary` and `granary-receiver` on PATH are the binaries under test.
        self.bin = os.path.join(work, "bin")
        os.makedirs(self.bin)
        os.symlink(os.path.abspath(BIN), os.path.join(self.bin, "granary"))
        os.symlink(os.path.abspath(RECEIVER_BIN), os.path.join(self.bin, "granary-receiver"))
        self.shell = os.path.join(work, "operator")  # where the operator's files land
        os.makedirs(self.shell)
        self.url = None

    def env(self):
        return dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}", READER_TOKEN=READER_TOKEN,
                    GRANARY_CONFIG=self.agent.config, GRANARY_RECEIVER_CONFIG=self.receiver.config)

    def substitute(self, command):
        command = command.replace(DOC_URL, self.url).replace(DOC_CA, self.ca)
        if "gre_…" in command:
            command = command.replace("gre_…", self.token("field-001"))
        check("receiver.example" not in command and "…" not in command,
              f"a placeholder this test does not know: {command}")
        return command

    def token(self, device):
        with open(os.path.join(self.shell, "tokens.txt")) as f:
            tokens = dict(line.split() for line in f if line.strip())
        if device in tokens:
            return tokens[device]
        return self.first_token[device]

    def run(self, number, command):
        r = subprocess.run(["/bin/bash", "-c", "set -o pipefail; " + self.substitute(command)],
                           cwd=self.shell, env=self.env(), capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, f"fleet.md:{number}: `{command}` exited {r.returncode}\n"
                                 f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        print(f"ran fleet.md:{number}: {command[:100]}")
        return r.stdout

    # What the stand-ins do in place of lines that cannot run here.
    def start_agent(self):
        """`systemctl restart granary`: the agent runs with the config enroll completed."""
        if self.agent.proc:
            self.agent.stop()
        effective = self.agent.cli("check-config", check_rc=0).stdout
        check(self.url in effective, "the enrolled conf.d/upload.toml is not in the effective config")
        self.agent.start()
        self.agent.wait_ready()
        self.wait_readings(0)

    def wait_readings(self, more_than, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, body = self.receiver.api("/api/v1/devices/field-001")
            if status == 200 and body.get("readings", 0) > more_than:
                return body["readings"]
            time.sleep(0.3)
        fail(f"no readings of field-001 beyond {more_than} within {timeout}s:\n"
             f"{self.agent.read_log()[-3000:]}")

    def copy_credentials(self):
        """`scp field-001.credentials ...`: the device's credentials file replaced."""
        shutil.copyfile(os.path.join(self.shell, "field-001.credentials"),
                        os.path.join(self.agent.dir, "s3.credentials"))

    def reload_agent(self):
        """`ssh ... chmod 600 ... && systemctl reload granary`."""
        os.chmod(os.path.join(self.agent.dir, "s3.credentials"), 0o600)
        before = self.wait_readings(0)
        self.agent.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        self.wait_readings(before)


# First word of a line that cannot run here: why, and the stand-in (None: nothing needed).
STAND_INS = {
    "systemctl": ("needs systemd and the installed unit; the test runs the agent itself",
                  Fleet.start_agent),
    "scp": ("copies to a device over ssh; the device is a directory here", Fleet.copy_credentials),
    "ssh": ("runs on a device over ssh; the test sets the mode and sends SIGHUP", Fleet.reload_agent),
    "apt-get": ("needs an apt repository and root; test_package installs, removes and purges the .debs",
                None),
    "mosquitto_sub": ("runs until interrupted; test_mqtt checks the topics and payloads", None),
}
RUN = ("granary", "granary-receiver", "for", "curl")


def check_after(fleet, command, out):
    """What a command must have done, beyond exiting 0."""
    if command.startswith("granary-receiver device add field-001 --enroll"):
        m = re.search(r"^enrollment token: (gre_\S+)$", out, re.M)
        check(m, f"device add --enroll printed: {out}")
        fleet.first_token = {"field-001": m.group(1)}
    elif command.startswith("for ") and "tokens.txt" in command:
        with open(os.path.join(fleet.shell, "tokens.txt")) as f:
            lines = [line.split() for line in f if line.strip()]
        check(len(lines) == 49 and all(len(x) == 2 and x[1].startswith("gre_") for x in lines),
              f"tokens.txt: {lines[:3]}... ({len(lines)} lines)")
        with open(os.path.join(fleet.shell, "tokens.txt"), "a") as f:
            f.write(f"field-001 {fleet.first_token['field-001']}\n")
    elif command == "granary-receiver device list":
        devices = re.findall(r"^(field-\d{3}) +(\w+)", out, re.M)
        check(len(devices) == 50, f"device list shows {len(devices)} devices:\n{out}")
        fleet.listed = dict(devices)
    elif command.startswith("granary enroll"):
        check(os.path.exists(os.path.join(fleet.agent.dir, "s3.credentials")), f"enroll wrote: {out}")
    elif command.startswith("granary status"):
        check("field-001" in out or "meter" in out, f"granary status: {out}")
    elif command.startswith("curl") and "/api/v1/devices/field-001/coverage" in command:
        body = json.loads(out)
        check(body["sources"][0]["source"] == "meter" and body["sources"][0]["readings"] > 0, out)
    elif command.startswith("curl") and "/api/v1/devices/field-001" in command:
        check(json.loads(out)["readings"] > 0, f"{command}: {out}")
    elif command.startswith("curl") and command.endswith("/api/v1/devices"):
        check(len(json.loads(out)["devices"]) >= 1, out)
    elif command.startswith("curl") and command.endswith("/healthz"):
        check(json.loads(out)["status"] == "ok", out)
    elif command.startswith("curl") and command.endswith("/metrics"):
        check("granary_receiver_objects_accepted_total" in out, out[:500])
    elif "device rotate field-001" in command:
        with open(os.path.join(fleet.shell, "field-001.credentials")) as f:
            creds = f.read()
        check(creds.startswith("[default]\naws_access_key_id = "), creds)
        fleet.rotated_key = re.search(r"aws_access_key_id = (\S+)", creds).group(1)


def main():
    work = tempfile.mkdtemp(prefix="granary-fleet-")
    fleet = Fleet(work)
    lines = commands(DOC)
    counts = {"run": 0, "stand-in": 0}

    def body():
        fleet.receiver.start()
        fleet.url = fleet.receiver.endpoint = f"https://127.0.0.1:{fleet.receiver.port}"
        ctx = ssl.create_default_context(cafile=fleet.ca)
        fleet.receiver.api = lambda path, **kw: api_tls(fleet.receiver, ctx, path)
        for number, command in lines:
            word = command.split()[0]
            if word in STAND_INS:
                why, action = STAND_INS[word]
                print(f"not run fleet.md:{number}: {command[:80]}: {why}")
                if action:
                    action(fleet)
                counts["stand-in"] += 1
                continue
            check(word in RUN, f"fleet.md:{number}: `{command}`: run it here or add it to STAND_INS")
            out = fleet.run(number, command)
            check_after(fleet, command, out)
            counts["run"] += 1
        # The rotation reached the device: its credentials file holds the new key, and
        # uploads went on after the reload (reload_agent waited for new readings).
        with open(os.path.join(fleet.agent.dir, "s3.credentials")) as f:
            check(getattr(fleet, "rotated_key", "?") in f.read(), "the rotated key is not on the device")
        r = fleet.receiver.cli("device", "list")
        listed = dict(re.findall(r"^(field-\d{3}) +(\w+)", r.stdout, re.M))
        check(listed.get("field-050") == "revoked" and listed.get("field-002") == "enabled",
              f"device list at the end:\n{r.stdout}")
        row = re.search(r"^field-001 .*$", r.stdout, re.M).group(0)
        check(fleet.rotated_key in row and "older until" in row, f"field-001 after rotate: {row}")
        again = fleet.agent.cli("enroll", "--receiver", fleet.url, "--token", fleet.token("field-001"),
                                "--ca", fleet.ca)
        check(again.returncode == 1 and "403" in again.stderr, f"a spent token: {again.stderr}")
        print(f"fleet.md: {counts['run']} lines run, {counts['stand-in']} stood in for")

    try:
        run_receivers([fleet.receiver], body, "docs_fleet")
    finally:
        if fleet.agent.proc:
            fleet.agent.stop()
    shutil.rmtree(work, ignore_errors=True)
    print("PASS test_docs_fleet")


if __name__ == "__main__":
    main()
