"""Receiver MQTT: the retained status of a device (and its events) reach the fleet API
(online/offline), from TOML devices and from one added to the registry while running (it
was ignored), every accepted segment is announced on granary/available, and with the
broker down ingest goes on; when the broker returns the receiver reconnects by itself."""
import json
import os
import subprocess
import sys
import time

from harness import check
from receiver_harness import Receiver, boto3_client, free_port, segment


class Mosquitto:
    def __init__(self, workdir, port):
        self.port = port
        self.conf = os.path.join(workdir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        time.sleep(0.5)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc = None

    def pub(self, topic, payload, retain=False):
        args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1", "-t", topic,
                "-m", payload]
        subprocess.run(args + (["-r"] if retain else []), check=True, timeout=10)

    def sub(self, topic, count, timeout):
        return subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1",
                                 "-t", topic, "-C", str(count), "-W", str(timeout)],
                                stdout=subprocess.PIPE, text=True)


def wait_for(fn, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    check(False, f"timed out waiting for {what}")


def device(r, name):
    status, body = r.api(f"/api/v1/devices/{name}")
    return body if status == 200 else None


def main():
    port = free_port()
    r = Receiver(extra=f'[mqtt]\nport = {port}\nkeepalive = "5s"\n')
    broker = Mosquitto(r.dir, port)
    broker.start()
    r.start()
    try:
        broker.pub("granary/h017/status", json.dumps({"device": "h017", "state": "running", "uptime_s": 5}),
                   retain=True)
        d = wait_for(lambda: (lambda x: x if x and x["online"] else None)(device(r, "h017")), "status")
        check(d["status"]["state"] == "running", f"status {d}")
        broker.pub("granary/h018/events", json.dumps({"type": "upload_error", "detail": "403"}))
        wait_for(lambda: any(e["kind"] == "device:upload_error"
                             for e in r.api("/api/v1/events?device=h018")[1]["events"]), "event")
        broker.pub("granary/nobody/status", json.dumps({"state": "running"}))  # unknown: ignored
        # Registered while running (the device registry, not the TOML): heard from then on.
        time.sleep(1.0)
        check(device(r, "nobody") is None, "a status from an unknown device was recorded")
        added = r.cli("device", "add", "nobody")
        check(added.returncode == 0, f"device add: {added.stdout}{added.stderr}")
        time.sleep(2.5)  # the registry is polled every second
        broker.pub("granary/nobody/status", json.dumps({"device": "nobody", "state": "running"}))
        wait_for(lambda: (lambda x: x if x and x["online"] else None)(device(r, "nobody")),
                 "the status of a device added to the registry")

        sub = broker.sub("granary/available", 1, 20)
        time.sleep(0.5)
        s3 = boto3_client(r.endpoint)
        key, body, meta = segment("h017", "meter", 1, 100)
        s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
        out, _ = sub.communicate(timeout=30)
        msg = json.loads(out.strip())
        check(msg["key"] == key and msg["first_seq"] == 1 and msg["last_seq"] == 100, f"available {msg}")

        broker.pub("granary/h017/status", json.dumps({"device": "h017", "state": "offline"}), retain=True)
        wait_for(lambda: (lambda x: x if x and not x["online"] else None)(device(r, "h017")), "offline")

        # Broker down: ingest goes on.
        broker.stop()
        key2, body2, meta2 = segment("h017", "meter", 101, 200)
        s3.put_object(Bucket="granary", Key=key2, Body=body2, Metadata=meta2)
        check(r.coverage("h017", "meter")["ranges"] == [[1, 200]], "ingest stopped with the broker down")
        status, metrics = r.api("/metrics", token=None)
        check("granary_receiver_mqtt_available_published_total 1" in metrics
              and "granary_receiver_mqtt_available_dropped_total 1" in metrics, f"mqtt metrics:\n{metrics}")
        # Broker back: the receiver reconnects and follows status again.
        broker.start()
        broker.pub("granary/h017/status", json.dumps({"device": "h017", "state": "running"}), retain=True)
        wait_for(lambda: (lambda x: x if x and x["online"] else None)(device(r, "h017")),
                 "status after the broker came back", timeout=45)
        print("receiver mqtt: ok")
    except SystemExit:
        print(r.read_log()[-3000:], file=sys.stderr)
        raise
    finally:
        r.stop()
        if broker.proc:
            broker.stop()


if __name__ == "__main__":
    main()
