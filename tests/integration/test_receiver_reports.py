"""Reports and files end to end, put with boto3 as a device would: three kinds, a report
before its files and one after, a report missing a file and a file with no report (each an
event after a small attachment_grace), refusals with their reasons (a repeated JSON key, a
bad or mismatched uuid, an unknown kind, a wrong sha256 metadata), files of 0 bytes and a
few MiB with their SHA-256, Range GETs, an external validator on a real mosquitto (a paho
service that accepts one kind, rejects another with a reason and stays silent for a third
until the receiver asks again), a pending validation asked again by a restarted receiver,
the reports API over two pages, per-kind /metrics, and verify, backup and reindex covering
reports and files.

With GRANARY_RECEIVER_INDEX=postgresql the index is a throwaway PostgreSQL."""
import hashlib
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid

import mqtt_broker
from harness import check
from receiver_harness import Postgres, Receiver, boto3_client, run_receivers, s3_error_code

BUCKET = "granary"
rng = random.Random(14)


def kinds_config(port):
    kinds = "".join(f'[[kind]]\nname = "{k}"\n' for k in ("error", "job", "clip"))
    kinds += '[[kind]]\nname = "small"\nmax_bytes = 200\n'
    kinds += "".join(f'[[kind]]\nname = "{k}"\nvalidator = "mqtt"\n' for k in ("vala", "valb", "valc"))
    return (f'[mqtt]\nport = {port}\nkeepalive = "5s"\n'
            f'[reports]\nattachment_grace = "2s"\nvalidator_timeout = "1s"\n{kinds}')


def report_key(kind, rid, device="h017"):
    return f"granary/{device}/reports/{kind}/2026/11/30/{rid}.json"


def file_key(rid, name, device="h017"):
    return f"granary/{device}/files/{rid}/{name}"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def put_report(s3, kind, rid, body, key=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    meta = {"granary-format": "report.json/1", "granary-kind": kind, "granary-uuid": rid,
            "granary-sha256": sha(data)}
    return s3_error_code(lambda: s3.put_object(Bucket=BUCKET, Key=key or report_key(kind, rid),
                                               Body=data, Metadata=meta))


def put_file(s3, rid, name, data, kind="", sha256=None, key=None):
    meta = {"granary-format": "file/1", "granary-uuid": rid}
    if kind:
        meta["granary-kind"] = kind
    if sha256 is not False:
        meta["granary-sha256"] = sha256 or sha(data)
    return s3_error_code(lambda: s3.put_object(Bucket=BUCKET, Key=key or file_key(rid, name),
                                               Body=data, Metadata=meta))


def events(r, kind):
    status, body = r.api("/api/v1/events?device=h017&limit=1000")
    check(status == 200, f"events: {status}")
    return [e for e in body["events"] if e["kind"] == kind]


def wait_for(what, fn, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    check(False, f"timed out waiting for {what}")


def report(r, rid):
    status, body = r.api(f"/api/v1/reports/{rid}")
    check(status == 200, f"report {rid}: {status} {body}")
    return body


def test_kinds_and_linking(r, s3, uploaded):
    """Report before its files (error), files before their report (job), a missing file
    (clip), a file with no report; returns nothing, fills `uploaded` {(uuid, name): bytes}."""
    big = rng.randbytes(3 * 1024 * 1024 + 17)
    small = b"job output\n" * 100
    r1, r2, r3, lone = (str(uuid.uuid4()) for _ in range(4))
    files1 = {"empty.bin": b"", "cam0.jpg": big}
    body1 = {"uuid": r1, "kind": "error", "code": 17, "message": "arm stalled",
             "files": [{"name": n, "size": len(d), "sha256": sha(d)} for n, d in files1.items()]}
    check(put_report(s3, "error", r1, body1) is None, "report before its files")
    for name, data in files1.items():
        check(put_file(s3, r1, name, data, "error") is None, f"file {name}")
    check(put_file(s3, r2, "out.txt", small, "job") is None, "file before its report")
    body2 = {"uuid": r2, "kind": "job", "job": 4711, "result": "ok",
             "files": [{"name": "out.txt", "size": len(small), "sha256": sha(small)}]}
    check(put_report(s3, "job", r2, body2) is None, "report after its file")
    body3 = {"uuid": r3, "kind": "clip", "files": [{"name": "clip.mp4", "size": 10}]}
    check(put_report(s3, "clip", r3, body3) is None, "report missing its file")
    check(put_file(s3, lone, "log.txt", b"alone\n") is None, "file without a report")
    uploaded.update({(r1, n): d for n, d in files1.items()})
    uploaded[(r2, "out.txt")] = small
    uploaded[(lone, "log.txt")] = b"alone\n"

    one = report(r, r1)
    check(one["kind"] == "error" and one["state"] == "accepted" and one["report"]["code"] == 17
          and one["complete"] and len(one["files"]) == 2
          and all(f["present"] and f["listed"] and f["matches"] for f in one["files"]),
          f"report 1: {one}")
    two = report(r, r2)
    check(two["complete"] and two["files"][0]["present"] and two["files"][0]["matches"]
          and two["report"]["job"] == 4711, f"report 2 (files first): {two}")
    three = report(r, r3)
    check(not three["complete"] and three["files"][0]["listed"] and not three["files"][0]["present"],
          f"report 3: {three}")

    for (rid, name), data in uploaded.items():
        status, got = r.api(f"/api/v1/files/{rid}/{name}", raw=True)
        check(status == 200 and sha(got) == sha(data) and len(got) == len(data),
              f"file {rid}/{name}: {status}, {len(got)} bytes")
    missing = wait_for("the missing-file event", lambda: events(r, "report-files-missing"))
    check(len(missing) == 1 and r3 in missing[0]["detail"] and "clip.mp4 missing" in missing[0]["detail"],
          f"missing event: {missing}")
    lonely = wait_for("the file-without-report event", lambda: events(r, "file-without-report"))
    check(len(lonely) == 1 and lone in lonely[0]["detail"], f"lone file event: {lonely}")
    time.sleep(2.5)  # another maintenance pass or two: each is raised once
    check(len(events(r, "report-files-missing")) == 1
          and len(events(r, "file-without-report")) == 1, "attachment events raised once")
    return r1


def http_get(r, path, headers):
    import urllib.request
    from receiver_harness import READER_TOKEN
    req = urllib.request.Request(r.endpoint + path, headers=dict(headers, Authorization=f"Bearer {READER_TOKEN}"))
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_ranges(r, rid, uploaded):
    data = uploaded[(rid, "cam0.jpg")]
    path = f"/api/v1/files/{rid}/cam0.jpg"
    status, h, body = http_get(r, path, {})
    check(status == 200 and h.get("X-Content-Type-Options") == "nosniff"
          and "sandbox" in h.get("Content-Security-Policy", "")
          and h.get("Content-Disposition") == 'attachment; filename="cam0.jpg"'
          and h.get("Accept-Ranges") == "bytes" and body == data, f"plain GET headers {h}")
    for spec, lo, hi in (("bytes=100-199", 100, 199), ("bytes=-10", len(data) - 10, len(data) - 1),
                         (f"bytes={len(data) - 5}-", len(data) - 5, len(data) - 1),
                         ("bytes=1048576-99999999", 1048576, len(data) - 1)):
        status, h, body = http_get(r, path, {"Range": spec})
        check(status == 206 and body == data[lo:hi + 1]
              and h.get("Content-Range") == f"bytes {lo}-{hi}/{len(data)}",
              f"Range {spec}: {status} {h.get('Content-Range')} {len(body)} bytes")
    status, h, _ = http_get(r, path, {"Range": f"bytes={len(data)}-"})
    check(status == 416 and h.get("Content-Range") == f"bytes */{len(data)}", f"416: {status} {h}")
    status, _, body = http_get(r, f"/api/v1/files/{rid}/empty.bin", {})
    check(status == 200 and body == b"", f"0-byte file: {status} {body!r}")


def test_refusals(r, s3):
    rid = str(uuid.uuid4())
    other = str(uuid.uuid4())
    good = {"uuid": rid, "kind": "error"}
    cases = [
        ("duplicate key", lambda: put_report(s3, "error", rid,
                                             f'{{"uuid":"{rid}","kind":"error","a":1,"a":2}}'.encode()),
         'the key "a" appears twice'),
        ("bad uuid", lambda: put_report(s3, "error", rid, {"uuid": "not-a-uuid", "kind": "error"}),
         "is not a lowercase RFC 4122 UUID"),
        ("uuid mismatch", lambda: put_report(s3, "error", rid, {"uuid": other, "kind": "error"}),
         f"uuid {other} but the key names {rid}"),
        ("unknown kind", lambda: put_report(s3, "nosuch", rid, dict(good, kind="nosuch")),
         'unknown report kind "nosuch"'),
        ("kind mismatch", lambda: put_report(s3, "job", rid, good), 'kind "error" but the key names "job"'),
        ("not an object", lambda: put_report(s3, "error", rid, b"[1,2]"), "not one JSON object"),
        ("too large", lambda: put_report(s3, "small", rid, dict(good, kind="small", pad="x" * 300)),
         'kind "small" takes at most 200'),
        ("wrong file sha256", lambda: put_file(s3, rid, "x.bin", b"abc", sha256=sha(b"abd")),
         "metadata granary-sha256"),
        ("no file sha256", lambda: put_file(s3, rid, "y.bin", b"abc", sha256=False),
         "a file needs metadata granary-sha256"),
        ("bad file name", lambda: put_file(s3, rid, ".hidden", b"abc"), "file name is not"),
    ]
    for name, put, reason in cases:
        code = put()
        check(code == ("InvalidSegment", 400), f"{name} answered {code}")
        ev = events(r, "rejected")[0]
        check(reason in ev["detail"], f"{name}: the event says {ev['detail']!r}")
    status, _ = r.api(f"/api/v1/reports/{rid}")
    check(status == 404, f"no refused report is indexed ({status})")
    kept = [n for n in os.listdir(os.path.join(r.data, "rejected")) if n.endswith(".body")]
    check(len(kept) == len(cases), f"rejected/ keeps every refused body: {len(kept)}")


class ValidatorService:
    """Accepts vala, rejects valb with a reason, ignores valc's first request."""

    def __init__(self, port):
        import paho.mqtt.client as mqtt
        self.requests = []
        self.available = []
        self.ready = threading.Event()
        self.client = mqtt.Client(client_id="validator")
        self.client.on_connect = lambda c, u, f, rc: c.subscribe(
            [("granary/validate/+", 1), ("granary/available", 1)])
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self.on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        check(self.ready.wait(10), "validator not subscribed")

    def on_message(self, client, userdata, msg):
        body = json.loads(msg.payload)
        if msg.topic == "granary/available":
            self.available.append(body)
            return
        self.requests.append((msg.topic, body))
        kind = msg.topic.rsplit("/", 1)[1]
        answer = None
        if kind == "vala":
            answer = {"result": "accept"}
        elif kind == "valb":
            answer = {"result": "reject", "reason": "frames out of order"}
        elif kind == "valc" and sum(1 for t, b in self.requests if b["request_id"] == body["request_id"]) > 1:
            answer = {"result": "accept"}
        if answer:
            client.publish(f"granary/validation/{body['request_id']}", json.dumps(answer), qos=1)

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


def test_validator(r, s3, broker, uploaded):
    service = ValidatorService(broker.port)
    try:
        ids = {k: str(uuid.uuid4()) for k in ("vala", "valb", "valc")}
        for kind, rid in ids.items():
            check(put_report(s3, kind, rid, {"uuid": rid, "kind": kind, "n": 1}) is None,
                  f"{kind} report")
        a = wait_for("vala accepted", lambda: report(r, ids["vala"])["state"] == "accepted")
        b = wait_for("valb rejected", lambda: (lambda j: j if j["state"] == "rejected" else None)(
            report(r, ids["valb"])))
        check(b["reason"] == "frames out of order", f"valb: {b}")
        frame = rng.randbytes(5000)
        check(put_file(s3, ids["valb"], "frame.bin", frame, kind="valb") is None, "valb file")
        uploaded[(ids["valb"], "frame.bin")] = frame
        f = wait_for("the valb file rejected", lambda: [x for x in report(r, ids["valb"])["files"]
                                                        if x.get("state") == "rejected"])
        check(f[0]["name"] == "frame.bin" and f[0]["reason"] == "frames out of order", f"file {f}")
        status, h, got = http_get(r, f"/api/v1/files/{ids['valb']}/frame.bin", {})
        check(status == 200 and got == frame and h.get("X-Granary-State") == "rejected",
              f"a rejected file stays stored: {status} {h.get('X-Granary-State')}")
        status, got = r.api(f"/api/v1/reports/{ids['valb']}/body", raw=True)
        check(status == 200 and json.loads(got)["uuid"] == ids["valb"], "a rejected report stays stored")
        time.sleep(0.3)
        check(report(r, ids["valc"])["state"] == "pending", "valc pending while unanswered")
        wait_for("valc accepted after a retry", lambda: report(r, ids["valc"])["state"] == "accepted",
                 timeout=10)
        sent = [b for t, b in service.requests if b["uuid"] == ids["valc"]]
        check(len(sent) >= 2 and len({b["request_id"] for b in sent}) == 1, f"valc requests {sent}")
        req = [b for t, b in service.requests if b["uuid"] == ids["vala"]][0]
        check(req["kind"] == "vala" and req["device"] == "h017" and req["key"] == report_key("vala", ids["vala"])
              and req["url"].endswith(f"/api/v1/reports/{ids['vala']}/body") and req["size"] > 0
              and len(req["sha256"]) == 64, f"request {req}")
        wait_for("announcements", lambda: {ids["vala"], ids["valc"]} <= {m.get("uuid") for m in service.available})
        check(ids["valb"] not in {m.get("uuid") for m in service.available}, "a rejected report is not announced")
        rid = str(uuid.uuid4())
        check(put_report(s3, "error", rid, {"uuid": rid, "kind": "error"}) is None, "error report")
        wait_for("an accepted report announced", lambda: [m for m in service.available
                                                         if m.get("uuid") == rid and m["kind"] == "error"
                                                         and m["type"] == "report"])
        print(f"validator: {len(service.requests)} requests, {len(service.available)} announcements")
        return ids
    finally:
        service.stop()


def test_pending_across_restart(r, s3, broker):
    """A request nobody answered is sent again by the restarted receiver."""
    rid = str(uuid.uuid4())
    check(put_report(s3, "vala", rid, {"uuid": rid, "kind": "vala"}) is None, "vala report")
    time.sleep(1.5)  # sent, and sent again, to no one
    check(report(r, rid)["state"] == "pending", "pending while no validator listens")
    r.stop()
    service = ValidatorService(broker.port)
    try:
        r.start()
        wait_for("vala accepted after the restart", lambda: report(r, rid)["state"] == "accepted")
        check([b for t, b in service.requests if b["uuid"] == rid], "asked after the restart")
    finally:
        service.stop()


def all_reports(r, query=""):
    out, cursor, pages = [], None, 0
    while True:
        path = f"/api/v1/reports?limit=5{query}" + (f"&cursor={cursor}" if cursor else "")
        status, body = r.api(path)
        check(status == 200, f"{path}: {status} {body}")
        out += body["reports"]
        pages += 1
        cursor = body.get("next_cursor")
        if not cursor:
            return out, pages


def test_paging_and_metrics(r):
    listed, pages = all_reports(r)
    check(len(listed) == 8 and pages == 2 and len({x["uuid"] for x in listed}) == 8,
          f"{len(listed)} reports in {pages} pages")
    check([(x["time"], x["uuid"]) for x in listed] == sorted((x["time"], x["uuid"]) for x in listed),
          "reports in (time, uuid) order")
    jobs, _ = all_reports(r, "&kind=job&device=h017")
    check(len(jobs) == 1 and jobs[0]["kind"] == "job", f"kind filter {jobs}")
    status, body = r.api("/metrics", token=None)
    text = body if isinstance(body, str) else body.decode()
    for sample in ('granary_receiver_index_uploads{type="report",kind="error",state="accepted"} 2',
                   'granary_receiver_index_uploads{type="file",kind="valb",state="rejected"} 1',
                   'granary_receiver_index_uploads{type="report",kind="valb",state="rejected"} 1',
                   'granary_receiver_index_uploads{type="file",kind="error",state="accepted"} 2'):
        check(sample in text, f"/metrics lacks {sample}")
    return listed


def test_verify_backup_reindex(r, listed, uploaded, postgres):
    out = r.cli("verify")
    check(out.returncode == 0 and f"checked {len(listed) + len(uploaded)} report(s) and file(s): 0 "
          "not as indexed" in out.stdout, f"verify: {out.stdout}{out.stderr}")
    if postgres:
        return
    dest = os.path.join(r.dir, "backup.db")
    out = r.cli("backup", dest)
    rows = dict(l.split()[:2] for l in out.stdout.splitlines() if len(l.split()) >= 2)
    check(out.returncode == 0 and rows.get("reports") == str(len(listed))
          and rows.get("files") == str(len(uploaded)), f"backup: {out.stdout}{out.stderr}")
    r.stop()
    r.remove_index()
    out = r.cli("reindex")
    check(out.returncode == 0, f"reindex: {out.stdout}{out.stderr}")
    r.start()
    again, _ = all_reports(r)
    check(sorted(x["uuid"] for x in again) == sorted(x["uuid"] for x in listed),
          f"after reindex {len(again)} reports")
    for (rid, name), data in uploaded.items():
        status, got = r.api(f"/api/v1/files/{rid}/{name}", raw=True)
        check(status == 200 and got == data, f"after reindex {rid}/{name}: {status}")
    out = r.cli("verify")
    check(out.returncode == 0, f"verify after reindex: {out.stdout}")


def main():
    postgres = Postgres() if ("--postgres" in sys.argv
                             or os.environ.get("GRANARY_RECEIVER_INDEX") == "postgresql") else None
    workdir = tempfile.mkdtemp(prefix="granary-reports-")
    broker = mqtt_broker.Broker(workdir, anonymous=True)
    r = Receiver(workdir, index=postgres.url if postgres else "sqlite", extra=kinds_config(broker.port))

    def body():
        broker.start()
        r.start()
        s3 = boto3_client(r.endpoint)
        started = time.time()
        uploaded = {}
        rid = test_kinds_and_linking(r, s3, uploaded)
        test_ranges(r, rid, uploaded)
        test_refusals(r, s3)
        wait_for("the receiver's MQTT session", lambda: r.metric("granary_receiver_mqtt_connected") == 1)
        test_validator(r, s3, broker, uploaded)
        test_pending_across_restart(r, s3, broker)
        listed = test_paging_and_metrics(r)
        test_verify_backup_reindex(r, listed, uploaded, postgres)
        print(f"{len(listed)} reports and {len(uploaded)} files in {time.time() - started:.1f}s")

    try:
        run_receivers([r], body, "receiver_reports" + ("_pg" if postgres else ""))
    finally:
        broker.stop()
        if postgres:
            postgres.stop()


if __name__ == "__main__":
    main()
