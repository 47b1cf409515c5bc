"""The MQTT archive end to end: a publisher sends 10,000 MQTT 5 messages over 50 topics
(binary payloads with NUL and invalid UTF-8, 0 B to 256 KiB, user properties, some with an
`_id`, some retained, vetoed topics among them) to a local mosquitto; the agent's mqtt source
archives them into .bson.gz segments and uploads them to granary-receiver;
`granary-receiver restore` republishes them to a second broker, where a subscriber receives
exactly the non-vetoed messages, byte-identical (topic, payload, properties, `_id`), in order
per topic. Then `granary replay --s3`, from a fresh state dir with the same config, reads the
uploaded segments back from the receiver and delivers the same messages to a third broker the
same way; without [upload], or with a wrong secret, it fails naming the cause."""
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Agent, check, wait_until  # noqa: E402
from mqtt_broker import Broker  # noqa: E402
from receiver_harness import DEVICES, Receiver  # noqa: E402
from test_archive import (Publisher, archived_docs, check_same_per_topic, config,  # noqa: E402
                          message, subscribe_all, wait_archived)

COUNT = 10_000


def replay_from_s3(workdir, broker, receiver, upload, docs):
    """`granary replay --s3` on a device whose local segments are gone: a fresh state dir,
    the same [upload] config."""
    fresh = Agent(config(broker.port, extra="") + upload, workdir=os.path.join(workdir, "fresh"))
    local = fresh.cli("replay", "--dry-run", check_rc=0)
    check("0 messages would be published" in local.stderr, f"fresh state dir: {local.stderr}")

    bare = Agent(config(broker.port, extra=""), workdir=os.path.join(workdir, "bare"))
    r = bare.cli("replay", "--s3", "--dry-run", check_rc=1)
    check("[upload]" in r.stderr, f"replay --s3 without [upload]: {r.stderr}")

    wrong = os.path.join(workdir, "wrong-credentials")
    ak, _ = DEVICES["h017"]
    with open(wrong, "w") as f:
        f.write(f"[default]\naws_access_key_id = {ak}\naws_secret_access_key = not-the-secret\n")
    os.chmod(wrong, 0o600)
    denied = Agent(config(broker.port, extra="") + upload.replace(
        "credentials_file = ", f'credentials_file = "{wrong}"\n# was: '),
        workdir=os.path.join(workdir, "denied"))
    r = denied.cli("replay", "--s3", "--dry-run", check_rc=1)
    check(receiver.endpoint in r.stderr and "HTTP 403" in r.stderr
          and "SignatureDoesNotMatch" in r.stderr,
          f"replay --s3 with a wrong secret: {r.stderr}")

    third = Broker(workdir, anonymous=True, name="mosquitto-replay")
    third.start()
    try:
        sub, got = subscribe_all(third)
        try:
            r = fresh.cli("replay", "--s3", "--broker", f"mqtt://127.0.0.1:{third.port}",
                          timeout=120)
            check(r.returncode == 0, f"replay --s3 exited {r.returncode}: {r.stderr[-2000:]}")
            check(f"replayed {len(docs)} messages" in r.stderr, f"replay --s3: {r.stderr}")
            check_same_per_topic(got, docs, 60)
        finally:
            sub.loop_stop()
    finally:
        third.stop()


def main():
    workdir = tempfile.mkdtemp(prefix="granary-archive-rt-")
    broker = Broker(workdir, anonymous=True)
    broker.start()
    receiver = Receiver(workdir=os.path.join(workdir, "receiver")).start()
    creds = os.path.join(workdir, "credentials")
    ak, sk = DEVICES["h017"]
    with open(creds, "w") as f:
        f.write(f"[default]\naws_access_key_id = {ak}\naws_secret_access_key = {sk}\n")
    os.chmod(creds, 0o600)
    upload = f"""
[upload]
endpoint = "{receiver.endpoint}"
bucket = "granary"
region = "us-east-1"
credentials_file = "{creds}"
retry_min = "100ms"
retry_max = "1s"
"""
    agent = Agent(config(broker.port, extra="") + upload, workdir=os.path.join(workdir, "agent"))
    second = Broker(workdir, anonymous=True, name="mosquitto-restore")
    second.start()
    try:
        agent.start()
        agent.wait_ready()
        wait_until("the subscriber connected",
                   lambda: agent.status().get("archive", {}).get("sources", [{}])[0]
                   .get("connected"), 20)
        t0 = time.time()
        rng = random.Random(1515)
        pub = Publisher(broker.port)
        infos, expected = [], 0
        for i in range(COUNT):
            topic, payload, props, retain, _, _, _, vetoed = message(i, rng)
            infos.append(pub.publish(topic, payload, props, retain))
            expected += 0 if vetoed else 1
        for info in infos:
            info.wait_for_publish(60)
        pub.close()
        wait_archived(agent, expected, 60)
        agent.cli("flush", check_rc=0)
        docs = archived_docs(agent)
        check(len(docs) == expected, f"archived {len(docs)}, wanted {expected}")

        def uploaded():
            b = agent.status()["buffer"]
            return b["segments_sealed"] == 0 and b["segments_uploaded"] > 0
        wait_until("every segment uploaded", uploaded, 60, step=0.2)
        indexed = receiver.api("/api/v1/messages?device=h017&limit=1")
        check(indexed is not None, "the receiver lists no messages")

        sub, got = subscribe_all(second)
        try:
            r = receiver.cli("restore", "--broker", f"mqtt://127.0.0.1:{second.port}",
                             "--device", "h017", timeout=120)
            check(r.returncode == 0, f"restore exited {r.returncode}: {r.stderr[-2000:]}")
            check_same_per_topic(got, docs, 60)
        finally:
            sub.loop_stop()
        t_restore = time.time() - t0
        replay_from_s3(workdir, broker, receiver, upload, docs)
        print(f"round trip: {COUNT} published, {len(docs)} archived, uploaded, restored to a "
              f"second broker byte-identical in order per topic, in {t_restore:.1f} s; "
              f"replay --s3 took {time.time() - t0 - t_restore:.1f} s more")
    except SystemExit:
        print(agent.read_log()[-3000:], file=sys.stderr)
        print(receiver.read_log()[-3000:], file=sys.stderr)
        raise
    finally:
        if agent.proc is not None:
            agent.stop()
        receiver.stop()
        second.stop()
        broker.stop()


if __name__ == "__main__":
    main()
