"""The MQTT archive against a real mosquitto and a real MQTT 5 publisher (paho):

1. byte-exact capture: binary payloads (NUL, invalid UTF-8, 0 B to 256 KiB) over 50 topics
   with MQTT 5 properties, some with a publisher `_id`, some retained, vetoed topics among
   them; the sealed .bson.gz read back with Python's bson module, every field compared;
   a message sent twice with one `_id` archived once;
2. the agent stopped while QoS 1 messages are published: they arrive after the restart
   (persistent session) and are archived once;
3. kill -9 during a publish storm, 20 times: every message the broker acknowledged to the
   publisher is archived exactly once, with or without an `_id` (a resend without one is
   recognised by packet id, topic and payload);
4. a QoS 2 filter reports archive.ack_before_commit in the status;
5. `granary archive ls`, `archive inspect UUID`, `replay --dry-run` and `replay --broker` to
   a second broker, whose subscriber gets every message byte-identical, in order per topic."""
import base64
import gzip
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import uuid

import bson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, os.path.dirname(__file__))
from harness import Agent, check, fail, wait_until  # noqa: E402
from mqtt_broker import Broker  # noqa: E402

FIELDS = ["_id", "seq", "ts", "device", "source", "topic", "qos", "retain", "dup"]
STORM_KILLS = 20


def config(port, qos=1, extra=""):
    return f"""
[buffer]
sync = "normal"

[[source]]
name = "bus"
type = "mqtt"
url = "mqtt://127.0.0.1:{port}"
client_id = "archive-test"
veto = ["$SYS/#", "granary/#", "robot/heartbeat/#"]
reconnect_min = "100ms"
reconnect_max = "500ms"
{extra}
[[source.topics]]
filter = "robot/#"
qos = {qos}
"""


class Publisher:
    """A paho MQTT 5 client; publish() returns paho's MQTTMessageInfo."""

    def __init__(self, port, client_id="publisher"):
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.max_inflight_messages_set(200)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def publish(self, topic, payload, props=None, retain=False, qos=1):
        return self.c.publish(topic, payload, qos=qos, retain=retain, properties=props)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def archived_docs(agent):
    """Every record of source bus: sealed segments, then the buffered runs, seq order."""
    docs = []
    for name in agent.segments():
        if name.endswith(".bson.gz"):
            with open(os.path.join(agent.state, "segments", name), "rb") as f:
                docs += bson.decode_all(gzip.decompress(f.read()))
    con = sqlite3.connect(f"file:{agent.state}/buffer.db?mode=ro", uri=True)
    try:
        for (blob,) in con.execute("SELECT r.lines FROM readings r JOIN sources s ON"
                                   " s.id = r.source_id WHERE s.name = 'bus' ORDER BY r.first_seq"):
            docs += bson.decode_all(blob)
    finally:
        con.close()
    docs.sort(key=lambda d: d["seq"])
    return docs


def uuid_bytes(value):
    return value.bytes if isinstance(value, uuid.UUID) else bytes(value)


def archive_status(agent):
    return agent.status().get("archive", {})


def wait_archived(agent, count, timeout):
    def done():
        try:
            src = archive_status(agent)["sources"][0]
        except (KeyError, IndexError, OSError, ValueError):
            return False
        return src["archived"] >= count
    wait_until(f"{count} messages archived", done, timeout, step=0.2)


def message(i, rng):
    """Message i of the exact test: (topic, payload, props, retain, expected headers)."""
    vetoed = i % 10 == 9
    topic = f"robot/heartbeat/{i % 3}" if vetoed else f"robot/t{i % 50}/data"
    if i % 400 == 0:
        size = 256 * 1024
    elif i % 7 == 0:
        size = 0
    else:
        size = rng.randrange(1, 300)
    payload = bytes(rng.randrange(256) for _ in range(min(size, 64))) * (size // 64 + 1)
    payload = (b"\x00\xff\xfe" + payload)[:size]
    props = Properties(PacketTypes.PUBLISH)
    users = []
    headers = {}
    if i % 3 == 0:
        users += [("k", f"v{i}"), ("k", "again"), ("name ü", "")]
    pid = None
    if i % 4 == 0:
        pid = uuid.UUID(bytes=rng.randbytes(16), version=4)
        users.append(("_id", str(pid).upper() if i % 8 == 0 else str(pid)))
    if users:
        props.UserProperty = users
    if i % 5 == 0:
        props.ContentType = "application/octet-stream"
        headers["content_type"] = "application/octet-stream"
    if i % 6 == 0:
        props.CorrelationData = bytes([0, 1, 2, 255, i % 256])
        headers["correlation_data"] = bytes([0, 1, 2, 255, i % 256])
        props.ResponseTopic = f"robot/reply/{i}"
        headers["response_topic"] = f"robot/reply/{i}"
    if i % 11 == 0:
        props.PayloadFormatIndicator = 0
        headers["payload_format"] = 0
    if i % 13 == 0:
        props.MessageExpiryInterval = 3600
    retain = i % 97 == 0
    return topic, payload, props, retain, users, headers, pid, vetoed


def check_exact(agent, broker):
    rng = random.Random(15)
    pub = Publisher(broker.port)
    sent = []
    infos = []
    count = 1500
    for i in range(count):
        topic, payload, props, retain, users, headers, pid, vetoed = message(i, rng)
        infos.append(pub.publish(topic, payload, props, retain))
        if not vetoed:
            sent.append((topic, payload, retain, users, headers, pid, i % 13 == 0))
    # The same _id twice: archived once.
    dup_id = uuid.uuid4()
    for _ in range(2):
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("_id", str(dup_id))]
        infos.append(pub.publish("robot/dup", b"twice", props))
    sent.append(("robot/dup", b"twice", False, [("_id", str(dup_id))], {}, dup_id, False))
    for info in infos:
        info.wait_for_publish(30)
    pub.close()
    wait_archived(agent, len(sent), 60)
    st = archive_status(agent)
    src = st["sources"][0]
    check(st["ack_before_commit"] is False, f"QoS 1 must not ack before commit: {st}")
    check(src["protocol"] == "5", f"protocol: {src}")
    check(src["duplicates"] >= 1, f"the repeated _id is not counted: {src}")
    check(src["vetoed"] == count // 10, f"vetoed {src['vetoed']}, wanted {count // 10}")
    agent.cli("flush", check_rc=0)
    docs = archived_docs(agent)
    check(len(docs) == len(sent), f"archived {len(docs)} documents, sent {len(sent)} non-vetoed")
    check([d["seq"] for d in docs] == list(range(1, len(docs) + 1)), "seqs not contiguous from 1")
    ids = set()
    for d, (topic, payload, retain, users, headers, pid, expiry) in zip(docs, sent):
        keys = list(d.keys())
        check(keys[:len(FIELDS)] == FIELDS and keys[-2:] == ["headers", "payload"],
              f"field order {keys}")
        check(d["device"] == "h017" and d["source"] == "bus", f"device/source {d}")
        check(d["topic"] == topic, f"topic {d['topic']} != {topic}")
        check(bytes(d["payload"]) == payload, f"payload differs on {topic} seq {d['seq']}")
        check(d["qos"] == 1 and d["retain"] is retain, f"qos/retain of seq {d['seq']}: {d}")
        got_users = [tuple(p) for p in d["headers"].get("user_properties", [])]
        idb = uuid_bytes(d["_id"])
        check(len(idb) == 16, "_id is not 16 bytes")
        if pid is not None:
            check(idb == pid.bytes, f"seq {d['seq']}: publisher _id not kept")
            check(got_users == users, f"seq {d['seq']}: user properties {got_users} != {users}")
        else:
            want = users + [("_id", str(uuid.UUID(bytes=idb)))]
            check(got_users == want, f"seq {d['seq']}: user properties {got_users} != {want}")
            check(uuid.UUID(bytes=idb).version == 4, "a new _id is not a v4 UUID")
        for k, v in headers.items():
            got = d["headers"].get(k)
            check(got == v or bytes(got or b"") == v, f"seq {d['seq']}: header {k} {got!r} != {v!r}")
        if expiry:
            check(0 < d["headers"].get("message_expiry", 0) <= 3600, f"expiry of seq {d['seq']}")
        ids.add(idb)
    check(len(ids) == len(docs), "an _id was archived twice")
    print(f"exact: {len(docs)} messages archived byte-exact, {src['vetoed']} vetoed,"
          f" {src['duplicates']} duplicate(s) skipped")
    return len(docs)


def check_cli_and_replay(agent, workdir):
    """archive ls / inspect, then replay to a second broker: a subscriber there gets every
    archived message byte-identical (topic, payload, properties, _id), in order per topic."""
    docs = archived_docs(agent)
    ls = agent.cli("archive", "ls", check_rc=0).stdout
    check(f"source bus: {len(docs)} messages" in ls, f"archive ls: {ls[:300]}")
    pick = docs[len(docs) // 2]
    pick_id = str(uuid.UUID(bytes=uuid_bytes(pick["_id"])))
    shown = json.loads(agent.cli("archive", "inspect", pick_id, check_rc=0).stdout)
    check(shown["_id"] == pick_id and shown["seq"] == pick["seq"] and
          base64.b64decode(shown["payload_base64"]) == bytes(pick["payload"]),
          f"archive inspect {pick_id}: {shown}")
    agent.cli("archive", "inspect", str(uuid.uuid4()), check_rc=1)
    dry = agent.cli("replay", "--dry-run", "--topic", "robot/t1/#", check_rc=0)
    check(len(dry.stdout.splitlines()) == sum(d["topic"] == "robot/t1/data" for d in docs),
          f"replay --dry-run --topic: {dry.stdout[:300]}")

    second = Broker(workdir, anonymous=True, name="mosquitto-replay")
    second.start()
    sub, got = subscribe_all(second)
    try:
        t0 = time.time()
        agent.cli("replay", "--broker", f"mqtt://127.0.0.1:{second.port}", check_rc=0,
                  timeout=120)
        check_same_per_topic(got, docs, 60)
        print(f"replay: {len(got)} messages byte-identical and in order per topic on a second"
              f" broker in {time.time() - t0:.1f} s; archive ls and inspect agree")
    finally:
        sub.loop_stop()
        second.stop()


def subscribe_all(broker):
    """A paho MQTT 5 subscriber to '#' (retain as published) and the list it fills."""
    got = []
    subscribed = threading.Event()
    sub = mqtt.Client(client_id="replay-subscriber", protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: got.append(m)
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    sub.subscribe("#", options=mqtt.SubscribeOptions(qos=1, retainAsPublished=True))
    check(subscribed.wait(10), "replay subscriber not subscribed")
    return sub, got


def check_same_per_topic(got, docs, timeout):
    """`got` (paho messages) holds exactly `docs` (archived documents): per topic the same
    order, each byte-identical in payload, QoS, retain and properties. Returns the wait."""
    took = wait_until("every replayed message received", lambda: len(got) >= len(docs), timeout)
    time.sleep(0.5)  # anything beyond the expected count would arrive now
    check(len(got) == len(docs), f"replay delivered {len(got)}, archived {len(docs)}")
    per_topic = {}
    for d in docs:
        per_topic.setdefault(d["topic"], []).append(d)
    for m in got:
        want = per_topic[m.topic].pop(0)
        check(m.payload == bytes(want["payload"]), f"replayed payload differs on {m.topic}")
        check(m.qos == want["qos"] and bool(m.retain) == want["retain"],
              f"replayed qos/retain on {m.topic}")
        users = [tuple(p) for p in getattr(m.properties, "UserProperty", [])]
        check(users == [tuple(p) for p in want["headers"].get("user_properties", [])],
              f"replayed user properties on {m.topic}: {users}")
        h = want["headers"]
        if "content_type" in h:
            check(m.properties.ContentType == h["content_type"], "replayed content type")
        if "correlation_data" in h:
            check(m.properties.CorrelationData == bytes(h["correlation_data"]),
                  "replayed correlation data")
        if "response_topic" in h:
            check(m.properties.ResponseTopic == h["response_topic"], "replayed response topic")
    return took


def check_persistent_session(agent, broker, before):
    check(agent.stop() == 0, "agent did not stop cleanly")
    pub = Publisher(broker.port, "offline-publisher")
    infos = [pub.publish(f"robot/offline/{i % 5}", f"while-down-{i}".encode()) for i in range(300)]
    for info in infos:
        info.wait_for_publish(30)
    pub.close()
    agent.start()
    agent.wait_ready()
    wait_archived(agent, 300, 60)
    agent.cli("flush", check_rc=0)
    docs = archived_docs(agent)
    got = [bytes(d["payload"]) for d in docs if d["topic"].startswith("robot/offline/")]
    check(sorted(got) == sorted(f"while-down-{i}".encode() for i in range(300)),
          f"published while down: {len(got)} archived, wanted 300 once each")
    check(len(docs) == before + 300, f"{len(docs)} documents, wanted {before + 300}")
    print("persistent session: 300 messages published while the agent was stopped, archived once")


def check_kill_storm(agent, broker):
    pub = Publisher(broker.port, "storm-publisher")
    infos = {}
    stop = threading.Event()

    def storm():
        i = 0
        while not stop.is_set() and i < 20000:
            props = None
            if i % 2 == 0:
                props = Properties(PacketTypes.PUBLISH)
                props.UserProperty = [("_id", str(uuid.UUID(int=(15 << 64) | i, version=4)))]
            infos[i] = pub.publish(f"robot/storm/{i % 7}", f"storm-{i}".encode(), props)
            i += 1
            if i % 20 == 0:
                time.sleep(0.01)

    t = threading.Thread(target=storm)
    t.start()
    rng = random.Random(9)
    for _ in range(STORM_KILLS):
        time.sleep(rng.uniform(0.3, 0.8))
        agent.proc.send_signal(signal.SIGKILL)
        agent.proc.wait()
        agent.log.close()
        agent.start()
        agent.wait_ready(20)
    stop.set()
    t.join(30)
    for info in list(infos.values()):
        info.wait_for_publish(30)
    pub.close()
    acked = {i for i, info in infos.items() if info.is_published()}
    check(len(acked) == len(infos), f"the broker acknowledged {len(acked)} of {len(infos)}")

    def counts():
        c = {}
        for d in archived_docs(agent):
            if d["topic"].startswith("robot/storm/"):
                i = int(bytes(d["payload"]).decode()[len("storm-"):])
                c[i] = c.get(i, 0) + 1
        return c

    wait_until("every acknowledged storm message archived",
               lambda: acked <= set(counts()), 60, step=0.5)
    c = counts()
    with_id_twice = [i for i in acked if i % 2 == 0 and c[i] != 1]
    check(not with_id_twice, f"messages with an _id archived more than once: {with_id_twice[:10]}")
    # Without an _id too: a message the broker delivers again after a kill comes first,
    # with its packet id, and is recognised by packet id, topic and payload.
    twice = [i for i in acked if i % 2 == 1 and c[i] != 1]
    windows = agent.read_log().count("before an acknowledgement")
    print(f"kill -9 x{STORM_KILLS}: {len(acked)} acknowledged messages, none lost; "
          f"{len(acked) - len(twice)} archived exactly once, {len(twice)} without an _id "
          f"more than once; {windows} connections got more messages than the receive "
          f"maximum before acknowledging")
    check(not twice, f"messages without an _id archived more than once: {len(twice)}, "
          f"e.g. {sorted(twice)[:10]}")


def check_qos2_reported(workdir, broker):
    agent = Agent(config(broker.port, qos=2).replace("archive-test", "archive-qos2"),
                  workdir=os.path.join(workdir, "qos2"))
    agent.start()
    try:
        agent.wait_ready()
        wait_until("status with the archive section", lambda: "archive" in agent.status(), 10)
        check(agent.status()["archive"]["ack_before_commit"] is True,
              "a QoS 2 filter must report ack_before_commit")
    finally:
        agent.stop()
    print("qos 2: archive.ack_before_commit reported")


def main():
    workdir = tempfile.mkdtemp(prefix="granary-archive-")
    broker = Broker(workdir, anonymous=True)
    broker.start()
    agent = Agent(config(broker.port), workdir=os.path.join(workdir, "agent"))
    try:
        agent.start()
        agent.wait_ready()
        wait_until("the subscriber connected",
                   lambda: archive_status(agent).get("sources", [{}])[0].get("connected"), 20)
        t0 = time.time()
        n = check_exact(agent, broker)
        check_cli_and_replay(agent, workdir)
        check_persistent_session(agent, broker, n)
        check_kill_storm(agent, broker)
        check(agent.stop() == 0, "agent did not stop cleanly after the storm")
        check_qos2_reported(workdir, broker)
        print(f"test_archive: ok in {time.time() - t0:.1f} s")
    except SystemExit:
        print(agent.read_log()[-4000:], file=sys.stderr)
        raise
    finally:
        if agent.proc is not None:
            agent.proc.kill()
            agent.proc.wait()
        broker.stop()


if __name__ == "__main__":
    main()
