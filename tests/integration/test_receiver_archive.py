"""Archive segments (bson.gz/1) end to end, built independently of libbson with Python's bson
module (python3-bson) and uploaded with signed PUTs: every message is indexed with its offset
and served byte-exact (/bson, /payload, JSON with base64 and text); a gap in seq, a wrong
device, an _id of the wrong subtype and a truncated document are each rejected with a reason
naming the document; an _id delivered twice into two segments is indexed once and counted;
`verify` checks every message at its offset; `backup` and `reindex` cover the messages; and
`granary-receiver restore` to a real mosquitto delivers byte-identical messages (topic,
payload, QoS, retain, user properties with _id in order, the other MQTT 5 properties) to an
MQTT 5 subscriber (paho), in seq order per topic.

With GRANARY_RECEIVER_INDEX=postgresql the index is a throwaway PostgreSQL."""
import base64
import gzip
import os
import random
import sys
import tempfile
import threading
import time
import uuid

import bson
from bson.binary import Binary

import mqtt_broker
from archive_segments import all_messages, message_doc, upload
from harness import check
from receiver_harness import Postgres, Receiver, boto3_client, run_receivers

SEGMENTS, PER_SEGMENT, TOPICS = 3, 100, 7
TS0 = 1764460800000  # 2025-11-30T00:00:00Z
rng = random.Random(15)


def payload_for(seq):
    """Binary and text payloads: NUL, invalid UTF-8, empty, and a few up to 256 KiB."""
    kind = seq % 6
    if kind == 0:
        return b""
    if kind == 1:
        return f"text payload {seq} \u00e9\u6f22".encode()
    if kind == 2:
        return b"\x00\xff\xfe\xc3\x28" + bytes(rng.randrange(256) for _ in range(40))
    if kind == 3 and seq % 50 == 3:
        return bytes(rng.randrange(256) for _ in range(256 * 1024))
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))


def make_message(seq, device="h017", source="robot"):
    """(fields in the format's order, the UUID) as the agent archives a message."""
    headers = {"user_properties": [["robot", f"arm-{seq % 3}"], ["trace", str(seq)],
                                   ["robot", "again"]]}
    if seq % 5 == 1:
        headers["content_type"] = "application/x-robot"
    if seq % 6 == 1:
        headers["payload_format"] = 1
    if seq % 7 == 2:
        headers["response_topic"] = f"robot/reply/{seq}"
    if seq % 8 == 3:
        headers["correlation_data"] = Binary(b"\x00corr\xff" + str(seq).encode(), 0)
    if seq % 9 == 4:
        headers["message_expiry"] = 3600
    return message_doc(seq, TS0 + seq * 7, f"robot/arm/{seq % TOPICS}", payload_for(seq),
                       headers, device, source, qos=seq % 3, retain=seq % 10 == 0)


def test_ingest_and_api(r, s3, expected):
    for i in range(SEGMENTS):
        docs = [d for d, _ in expected[i * PER_SEGMENT:(i + 1) * PER_SEGMENT]]
        code, key = upload(s3, docs)
        check(code is None, f"segment {i} answered {code}")
    listed = all_messages(r)
    check([m["seq"] for m in listed] == list(range(1, SEGMENTS * PER_SEGMENT + 1)),
          f"listed seqs {[m['seq'] for m in listed][:20]}...")
    for (doc, mid), row in zip(expected, listed):
        check(row["id"] == str(mid) and row["topic"] == doc["topic"]
              and row["ts"] == TS0 + int(doc["seq"]) * 7, f"row {row}")
    by_topic = all_messages(r, "topic=robot/arm/3&from=" + str(TS0 + 50 * 7))
    check([m["seq"] for m in by_topic] == [s for s in range(50, 301) if s % TOPICS == 3],
          f"topic filter: {[m['seq'] for m in by_topic]}")
    for doc, mid in expected:
        status, stored = r.api(f"/api/v1/messages/{mid}/bson", raw=True)
        check(status == 200 and stored == bson.encode(doc), f"/bson of seq {doc['seq']}")
        status, payload = r.api(f"/api/v1/messages/{mid}/payload", raw=True)
        check(status == 200 and payload == bytes(doc["payload"]), f"/payload of seq {doc['seq']}")
        status, js = r.api(f"/api/v1/messages/{mid}")
        check(status == 200 and base64.b64decode(js["payload_base64"]) == bytes(doc["payload"]),
              f"JSON of seq {doc['seq']}: {status}")
        try:
            text = bytes(doc["payload"]).decode("utf-8")
            text = None if "\x00" in text else text
        except UnicodeDecodeError:
            text = None
        check(js.get("payload_text") == text, f"payload_text of seq {doc['seq']}")
        check(js["headers"]["user_properties"] == doc["headers"]["user_properties"]
              and js["qos"] == doc["qos"] and js["retain"] == doc["retain"],
              f"headers of seq {doc['seq']}: {js['headers']}")
    status, _ = r.api(f"/api/v1/messages/{uuid.uuid4()}")
    check(status == 404, f"unknown message answered {status}")
    # The independent reader sees the stored segment as written.
    path = os.path.join(r.data, "accepted", "granary", "granary", "h017", "robot", "2025", "11",
                        "30", "h017-robot-20251130T00-1.bson.gz")
    with gzip.open(path, "rb") as f:
        back = list(bson.decode_file_iter(f))
    check(len(back) == PER_SEGMENT and back[0]["_id"] == expected[0][1]
          and bytes(back[5]["payload"]) == bytes(expected[5][0]["payload"]),
          "python3-bson reads the accepted segment back")


def test_rejections(r, s3):
    base = SEGMENTS * PER_SEGMENT + 100
    cases = []
    gap = [make_message(s)[0] for s in range(base, base + 10) if s != base + 4]
    cases.append(("gap", gap, None, f"seq {base + 5} after {base + 3}"))
    wrong = [make_message(s)[0] for s in range(base + 20, base + 25)]
    wrong[2]["device"] = "h018"
    cases.append(("wrong device", wrong, None, 'device "h018" but the key is device "h017"'))
    bad_id = [make_message(s)[0] for s in range(base + 30, base + 33)]
    bad_id[1]["_id"] = Binary(uuid.uuid4().bytes, 3)
    cases.append(("bad _id", bad_id, None, "_id must be binary subtype 4"))
    short = [make_message(s)[0] for s in range(base + 40, base + 43)]
    raw = b"".join(bson.encode(d) for d in short)
    cases.append(("truncated", short, raw[:-9], "truncated document"))
    for name, docs, raw, reason in cases:
        code, key = upload(s3, docs, raw=raw)
        check(code == ("InvalidSegment", 400), f"{name} answered {code}")
        status, events = r.api("/api/v1/events?device=h017&limit=1")
        ev = events["events"][0]
        check(ev["kind"] == "rejected" and ev["key"] == key and reason in ev["detail"],
              f"{name}: event {ev}")
    kept = [n for n in os.listdir(os.path.join(r.data, "rejected")) if n.endswith(".body")]
    check(len(kept) == len(cases), f"rejected/ holds {kept}")


def test_duplicate_id(r, s3, expected):
    first = SEGMENTS * PER_SEGMENT + 1
    docs = [make_message(s)[0] for s in range(first, first + 10)]
    again = expected[4][1]  # seq 5's _id, delivered again
    docs[3]["_id"] = Binary(again.bytes, 4)
    code, key = upload(s3, docs)
    check(code is None, f"segment with a repeated _id answered {code}")
    check(r.metric("granary_receiver_messages_duplicate_total") == 1,
          f"duplicates counted {r.metric('granary_receiver_messages_duplicate_total')}")
    status, js = r.api(f"/api/v1/messages/{again}")
    check(status == 200 and js["seq"] == 5, f"the first copy stays: {js}")
    status, events = r.api("/api/v1/events?device=h017&limit=5")
    dup = [e for e in events["events"] if e["kind"] == "duplicate-messages"]
    check(len(dup) == 1 and str(again) in dup[0]["detail"] and dup[0]["key"] == key,
          f"duplicate event {events}")
    listed = all_messages(r)
    check(len(listed) == len(expected) + 9, f"{len(listed)} messages listed")
    expected += [(d, uuid.UUID(bytes=bytes(d["_id"]))) for i, d in enumerate(docs) if i != 3]
    cov = r.coverage("h017", "robot")
    check(cov["ranges"] == [[1, first + 9]] and cov["gaps"] == [], f"coverage {cov}")


def subscribe(broker, name, qos, received, ready):
    import paho.mqtt.client as mqtt
    from paho.mqtt.subscribeoptions import SubscribeOptions

    client = mqtt.Client(client_id=name, protocol=mqtt.MQTTv5)
    client.username_pw_set("monitor", mqtt_broker.USERS["monitor"])

    def on_connect(c, userdata, flags, rc, props=None):
        c.subscribe("robot/#", options=SubscribeOptions(qos=qos, retainAsPublished=True))

    client.on_connect = on_connect
    client.on_subscribe = lambda c, u, mid, rc, props=None: ready.set()
    client.on_message = lambda c, u, msg: received.append(msg)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    check(ready.wait(10), f"{name} not subscribed")
    return client


def test_restore(r, expected, workdir):
    broker = mqtt_broker.Broker(workdir)
    with open(os.path.join(broker.dir, "acl"), "w") as f:
        f.write("user monitor\ntopic readwrite #\n")
    broker.start()
    try:
        dry = r.cli("restore", "--dry-run", "--topic", "robot/arm/1")
        lines = [l for l in dry.stdout.splitlines() if " seq " in l]
        check(dry.returncode == 0 and len(lines) == sum(1 for d, _ in expected
                                                        if d["topic"] == "robot/arm/1"),
              f"dry run: {dry.stdout[-500:]}{dry.stderr}")
        # paho hands a QoS 2 message to the application only at PUBREL, after later QoS 0
        # ones: the QoS 2 subscriber checks the QoS, the QoS 1 one the order on the wire.
        received, in_order = [], []
        clients = [subscribe(broker, "archive-qos2", 2, received, threading.Event()),
                   subscribe(broker, "archive-qos1", 1, in_order, threading.Event())]
        password = os.path.join(workdir, "mqtt-password")
        with open(password, "w") as f:
            f.write(mqtt_broker.USERS["monitor"] + "\n")
        started = time.time()
        out = r.cli("restore", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--username",
                    "monitor", "--password-file", password, "--device", "h017", timeout=120)
        check(out.returncode == 0 and f"restored {len(expected)} of {len(expected)}" in out.stdout,
              f"restore: {out.stdout}{out.stderr}")
        deadline = time.time() + 30
        while min(len(received), len(in_order)) < len(expected) and time.time() < deadline:
            time.sleep(0.1)
        for client in clients:
            client.loop_stop()
            client.disconnect()
        print(f"restored {len(expected)} messages in {time.time() - started:.1f}s")
        check(len(received) == len(expected) and len(in_order) == len(expected),
              f"received {len(received)} and {len(in_order)} of {len(expected)}")
        by_id = {str(mid): doc for doc, mid in expected}
        for got in (received, in_order):
            ids = sorted(dict(m.properties.UserProperty)["_id"] for m in got)
            check(ids == sorted(by_id), "each restored message arrives exactly once")
        last_seq = {}
        for msg in received:
            props = dict(getattr(msg.properties, "UserProperty", []) or [])
            user = [list(p) for p in getattr(msg.properties, "UserProperty", []) or []]
            doc = by_id.get(props.get("_id"))
            check(doc is not None, f"a message without a known _id: {msg.topic}")
            h = doc["headers"]
            check(msg.topic == doc["topic"] and msg.payload == bytes(doc["payload"])
                  and msg.qos == doc["qos"] and bool(msg.retain) == doc["retain"]
                  and user == h["user_properties"], f"seq {doc['seq']} differs: {msg.topic} "
                  f"qos {msg.qos} retain {msg.retain} {user}")
            for name, prop in (("content_type", "ContentType"), ("response_topic", "ResponseTopic"),
                               ("payload_format", "PayloadFormatIndicator")):
                check(getattr(msg.properties, prop, None) == h.get(name),
                      f"seq {doc['seq']} {name}: {getattr(msg.properties, prop, None)}")
            corr = getattr(msg.properties, "CorrelationData", None)
            check(corr == (bytes(h["correlation_data"]) if "correlation_data" in h else None),
                  f"seq {doc['seq']} correlation data {corr}")
            if "message_expiry" in h:
                expiry = getattr(msg.properties, "MessageExpiryInterval", None)
                check(expiry is not None and 0 < expiry <= h["message_expiry"], f"expiry {expiry}")
        # MQTT orders a topic's messages per QoS only (MQTT 5.0, 4.6): the broker forwards a
        # QoS 2 message at PUBREL, and holds QoS 1 ones back while the subscriber's window
        # is full, so later QoS 0 messages may pass them. Restore publishes in seq order; the
        # order on the wire is checked per topic and original QoS.
        for msg in in_order:
            props = dict(getattr(msg.properties, "UserProperty", []) or [])
            doc = by_id[props["_id"]]
            seq = int(doc["seq"])
            lane = (msg.topic, doc["qos"])
            check(seq > last_seq.get(lane, 0), f"{msg.topic} (QoS {doc['qos']}): seq {seq} "
                  f"after {last_seq.get(lane)}")
            last_seq[lane] = seq
    finally:
        broker.stop()


def test_verify_backup_reindex(r, expected, postgres):
    out = r.cli("verify")
    check(out.returncode == 0 and f"{len(expected)} archived message(s)" in out.stdout
          and "0 message(s) not where indexed" in out.stdout, f"verify: {out.stdout}{out.stderr}")
    if postgres:
        return
    dest = os.path.join(r.dir, "backup.db")
    out = r.cli("backup", dest)
    check(out.returncode == 0 and any(l.split()[:2] == ["messages", str(len(expected))]
                                      for l in out.stdout.splitlines()),
          f"backup: {out.stdout}{out.stderr}")
    r.stop()
    r.remove_index()
    out = r.cli("reindex")
    check(out.returncode == 0, f"reindex: {out.stdout}{out.stderr}")
    r.start()
    listed = all_messages(r)
    check(sorted(m["id"] for m in listed) == sorted(str(mid) for _, mid in expected),
          f"after reindex {len(listed)} messages")
    out = r.cli("verify")
    check(out.returncode == 0 and f"{len(expected)} archived message(s)" in out.stdout,
          f"verify after reindex: {out.stdout}")


def main():
    postgres = Postgres() if ("--postgres" in sys.argv
                             or os.environ.get("GRANARY_RECEIVER_INDEX") == "postgresql") else None
    workdir = tempfile.mkdtemp(prefix="granary-archive-")
    r = Receiver(workdir, index=postgres.url if postgres else "sqlite")
    expected = [make_message(s) for s in range(1, SEGMENTS * PER_SEGMENT + 1)]

    def body():
        r.start()
        s3 = boto3_client(r.endpoint)
        started = time.time()
        test_ingest_and_api(r, s3, expected)
        test_rejections(r, s3)
        test_duplicate_id(r, s3, expected)
        print(f"ingest, API, rejections and duplicates: {time.time() - started:.1f}s")
        test_restore(r, expected, workdir)
        test_verify_backup_reindex(r, expected, postgres)

    try:
        run_receivers([r], body, "receiver_archive" + ("_pg" if postgres else ""))
    finally:
        if postgres:
            postgres.stop()


if __name__ == "__main__":
    main()
