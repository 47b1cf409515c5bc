"""The agent against a real mosquitto started here: the retained status carries every
field docs/formats.md documents; events arrive (a state loss found at start among them); SIGTERM leaves a retained "stopped", kill -9
makes the broker publish the "offline" will; a broker down for a while costs no reading
(seq continuous) and status resumes; a wrong password shows in status and logs while capture
goes on; the ACL keeps one device from publishing another's status. Also the metrics file
and the loopback /metrics."""
import json
import os
import re
import shutil
import tempfile
import time
import urllib.request

from harness import SOURCE_DIR, Agent, check, check_segments_exact
from mqtt_broker import USERS, Broker, Subscriber, free_port

SOURCE = """
[status]
interval = "1s"

[[source]]
name = "synth"
type = "synthetic"
interval = "200ms"
rate = 10
"""


def mqtt_section(broker, secret_path, extra=""):
    return f"""
[mqtt]
host = "127.0.0.1"
port = {broker.port}
username = "h017"
password_file = "{secret_path}"
keepalive = "5s"
reconnect_min = "200ms"
reconnect_max = "1s"
{extra}"""


def write_secret(root, name, password):
    path = os.path.join(root, name)
    with open(path, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    return path


def status_of(payload):
    return json.loads(payload)


def documented_fields():
    """Every `field` named in the MQTT status table of docs/formats.md, as dotted paths."""
    with open(os.path.join(SOURCE_DIR, "docs", "formats.md")) as f:
        text = f.read()
    section = text.split("## MQTT status", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_.\[\]]+)` \|", section, re.M)


def has_field(doc, path):
    node = doc
    for part in path.split("."):
        if part.endswith("[]"):
            node = node.get(part[:-2])
            if not isinstance(node, list) or not node:
                return False
            node = node[0]
        else:
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
    return True


def retained_status_and_events(root, broker, sub):
    secret = write_secret(root, "h017.password", USERS["h017"])
    port = free_port()
    agent = Agent(SOURCE + mqtt_section(broker, secret) + f"\n[metrics]\nlisten_port = {port}\n",
                  workdir=os.path.join(root, "status"))
    agent.start()
    try:
        agent.wait_ready()
        started = sub.wait_for(lambda t, p: t == "granary/h017/events" and
                               status_of(p)["type"] == "start", 15, "start event")
        check(status_of(started[2])["device"] == "h017", f"start event: {started}")
        sub.wait_for(lambda t, p: t == "granary/h017/status" and
                     status_of(p)["buffer"]["captured"] > 0, 15, "status with captured readings")
        retained = broker.retained("granary/h017/status")
        check(retained is not None, "no retained status")
        doc = status_of(retained)
        fields = documented_fields()
        check(len(fields) > 40, f"docs/formats.md documents only {len(fields)} status fields")
        missing = [f for f in fields if not has_field(doc, f)]
        check(not missing, f"documented fields missing from the MQTT status: {missing}")
        check(doc["state"] == "running" and doc["mqtt"]["connected"], f"status: {doc}")
        check(doc["mqtt"]["broker"] == f"127.0.0.1:{broker.port}", f"broker: {doc['mqtt']}")

        # Metrics: the textfile and the loopback HTTP endpoint.
        time.sleep(1.5)
        with open(os.path.join(agent.state, "metrics.prom")) as f:
            text = f.read()
        check("granary_mqtt_connected 1\n" in text, f"metrics file: {text[:400]}")
        check(re.search(r'^granary_source_polls_total\{source="synth"\} [1-9]', text, re.M),
              "no polls in the metrics file")
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        check("# TYPE granary_buffer_captured_total counter" in body, body[:300])

        # SIGTERM: the last retained status says "stopped", and no will follows.
        t = time.time()
        check(agent.stop() == 0, "agent did not exit 0")
        sub.wait_for(lambda tp, p: tp == "granary/h017/events" and status_of(p)["type"] == "stop",
                     10, "stop event")
        time.sleep(1)
        retained = status_of(broker.retained("granary/h017/status"))
        check(retained["state"] == "stopped", f"retained after SIGTERM: {retained}")
        offline = [m for m in sub.since(t) if m[1] == "granary/h017/status" and
                   status_of(m[2])["state"] == "offline"]
        check(not offline, f"a clean stop published the will: {offline}")

        # A state loss found at start: the event comes with the first status, the retained
        # status is degraded with the reason, and the metrics count it.
        db = os.path.join(agent.state, "buffer.db")
        with open(db, "w"):
            pass
        for suffix in ("-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        agent.start()
        agent.wait_ready()
        lost = sub.wait_for(lambda tp, p: tp == "granary/h017/events" and
                            status_of(p)["type"] == "state_lost", 15, "state_lost event")
        check("new or empty" in status_of(lost[2])["reason"], f"state_lost event: {lost}")
        m = sub.wait_for(lambda tp, p: tp == "granary/h017/status" and
                         status_of(p).get("pid") == agent.proc.pid, 15, "status after the loss")
        doc = status_of(m[2])
        check(doc["state"] == "degraded" and
              any(r.startswith("state lost at ") for r in doc["degraded_reasons"]),
              f"status after a state loss: {doc['state']} {doc['degraded_reasons']}")
        time.sleep(1.5)
        with open(os.path.join(agent.state, "metrics.prom")) as f:
            text = f.read()
        check(re.search(r"^granary_state_losses_total 1$", text, re.M),
              "no state loss in the metrics file")
        check(agent.stop() == 0, "agent did not exit 0 after the state loss")
    finally:
        if agent.proc:
            agent.kill9()


def kill9_publishes_will(root, broker, sub):
    secret = write_secret(root, "h017.password", USERS["h017"])
    agent = Agent(SOURCE + mqtt_section(broker, secret), workdir=os.path.join(root, "kill9"))
    agent.start()
    agent.wait_ready()
    sub.wait_for(lambda t, p: t == "granary/h017/status" and status_of(p)["state"] == "running" and
                 status_of(p).get("pid") == agent.proc.pid, 15, "running status of the new agent")
    t = time.time()
    agent.kill9()
    m = sub.wait_for(lambda tp, p: tp == "granary/h017/status" and
                     status_of(p)["state"] == "offline", 15, "offline will after kill -9")
    check(m[0] >= t, "offline will came before the kill")
    check(status_of(broker.retained("granary/h017/status"))["state"] == "offline",
          "the will is not the retained status")


def broker_outage(root, broker, sub):
    secret = write_secret(root, "h017.password", USERS["h017"])
    agent = Agent(SOURCE + mqtt_section(broker, secret), workdir=os.path.join(root, "outage"))
    agent.start()
    try:
        agent.wait_ready()
        sub.wait_for(lambda t, p: t == "granary/h017/status" and status_of(p).get("pid") == agent.proc.pid
                     and status_of(p).get("mqtt", {}).get("connected"), 15, "status before the outage")
        broker.stop()
        down_at = time.time()
        captured_before = agent.status()["buffer"]["captured"]
        time.sleep(5)
        st = agent.status()
        check(st["buffer"]["captured"] > captured_before,
              f"capture stopped while the broker was down: {captured_before} -> {st['buffer']['captured']}")
        check(not st["mqtt"]["connected"] and st["mqtt"]["last_error"],
              f"status.json does not show the outage: {st['mqtt']}")
        broker.start()
        m = sub.wait_for(lambda t, p: t == "granary/h017/status" and status_of(p).get("mqtt", {}).get("connects", 0) >= 2
                         and status_of(p)["updated"] / 1000 > down_at, 20, "status after the broker came back")
        check(status_of(m[2])["buffer"]["captured"] > captured_before, "stale status after reconnect")
        check(agent.stop() == 0, "agent did not exit 0")
        last = check_segments_exact(agent, "synth")
        check(last > 30, f"only {last} readings captured")
    finally:
        if agent.proc:
            agent.kill9()


def wrong_password(root, broker):
    secret = write_secret(root, "wrong.password", "not-the-password")
    agent = Agent(SOURCE + mqtt_section(broker, secret), workdir=os.path.join(root, "wrongpw"))
    agent.start()
    try:
        agent.wait_ready()
        deadline = time.time() + 15
        st = agent.status()
        while time.time() < deadline and "not authorised" not in st["mqtt"]["last_error"]:
            time.sleep(0.2)
            st = agent.status()
        check("not authorised" in st["mqtt"]["last_error"], f"status mqtt: {st['mqtt']}")
        check(f"127.0.0.1:{broker.port}" in st["mqtt"]["last_error"], st["mqtt"]["last_error"])
        check(not st["mqtt"]["connected"], "connected with a wrong password?")
        captured = st["buffer"]["captured"]
        # status.json is rewritten every 2 s, so one 2 s sleep can land just before the
        # next write; give it two rewrites.
        deadline = time.time() + 5
        while time.time() < deadline and agent.status()["buffer"]["captured"] <= captured:
            time.sleep(0.2)
        check(agent.status()["buffer"]["captured"] > captured, "capture stopped on a wrong password")
        log = agent.read_log()
        check("refused the connection" in log and "not authorised" in log, f"log: {log[-800:]}")
        check("not-the-password" not in log, "the password is in the log")
        r = agent.cli("status")
        check(f"mqtt: NOT connected to 127.0.0.1:{broker.port}" in r.stdout and
              "not authorised" in r.stdout, f"granary status: {r.stdout}")
        check(agent.stop() == 0, "agent did not exit 0")
        check_segments_exact(agent, "synth")
    finally:
        if agent.proc:
            agent.kill9()


def acl_keeps_devices_apart(broker):
    genuine = broker.retained("granary/h017/status")
    check(genuine is not None, "no retained status for h017")
    r = broker.publish("h018", "granary/h017/status", '{"state":"forged"}', retain=True)
    check(r.returncode == 0, f"mosquitto_pub: {r.stderr}")
    r = broker.publish("h018", "granary/h018/status", '{"state":"own"}', retain=True)
    check(r.returncode == 0, f"mosquitto_pub: {r.stderr}")
    time.sleep(0.5)
    check(broker.retained("granary/h017/status") == genuine,
          "h018 overwrote h017's status: the ACL does not hold")
    check(broker.retained("granary/h018/status") == '{"state":"own"}',
          "h018 cannot publish its own status: the ACL is too strict for the check to mean anything")
    check("Denied PUBLISH" in broker.log(), "the broker did not log the denied publish")


def password_file_mode(root, broker):
    secret = os.path.join(root, "open.password")
    with open(secret, "w") as f:
        f.write("x\n")
    os.chmod(secret, 0o644)
    agent = Agent(SOURCE + mqtt_section(broker, secret), workdir=os.path.join(root, "mode"))
    for cmd in ("check-config", "run"):
        r = agent.cli(cmd)
        check(r.returncode == 78, f"{cmd} with a 0644 password file exited {r.returncode}")
        check("mqtt.password_file" in r.stderr and "0644" in r.stderr, r.stderr)


def main():
    root = tempfile.mkdtemp(prefix="granary-mqtt-")
    broker = Broker(root)
    broker.start()
    sub = Subscriber(broker)
    try:
        time.sleep(0.5)  # the subscriber is connected before the first agent starts
        password_file_mode(root, broker)
        retained_status_and_events(root, broker, sub)
        kill9_publishes_will(root, broker, sub)
        broker_outage(root, broker, sub)
        wrong_password(root, broker)
        acl_keeps_devices_apart(broker)
    finally:
        sub.close()
        broker.stop()
    shutil.rmtree(root, ignore_errors=True)
    print("PASS test_mqtt")


if __name__ == "__main__":
    main()
