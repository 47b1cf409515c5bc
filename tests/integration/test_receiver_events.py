"""Real-S3 mode: objects land in an S3 bucket (here another granary-receiver, which is
S3-compatible and verifies SigV4), and standard S3 event notifications POSTed to
/v1/events/s3 make the receiver GET each object with the shared S3 client (s3/) and run the
same pipeline. Repeated notifications are idempotent; a bad token is 401, a malformed
document 400, and an object that cannot be fetched 503 so the notifier retries."""
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from harness import check
from receiver_harness import DEVICES, Receiver, boto3_client, real_s3_config, segment

EVENT_TOKEN = "event-token-0123456789abcdef"


def post(r, doc, token=EVENT_TOKEN):
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    req = urllib.request.Request(r.endpoint + "/v1/events/s3", data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def records(keys, bucket="granary"):
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": bucket},
                                "object": {"key": urllib.parse.quote_plus(k, safe="/"), "size": 1}}}
                        for k in keys]}


def main():
    upstream = Receiver().start()
    ak, sk = DEVICES["h017"]
    r = Receiver(extra=real_s3_config(upstream.endpoint, "granary", ak, sk, EVENT_TOKEN)).start()
    try:
        s3 = boto3_client(upstream.endpoint)
        keys, bodies = [], {}
        for first in (1, 101, 201):
            key, body, meta = segment("h017", "meter", first, first + 99)
            if first == 101:
                key = key.replace("20241122T14-101", "a b+c-101")  # event keys are form-encoded
            s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
            keys.append(key)
            bodies[key] = body
        status, body = post(r, records(keys))
        check(status == 200 and [x["outcome"] for x in body["records"]] == ["accepted"] * 3,
              f"events: {status} {body}")
        for key in keys:
            with open(os.path.join(r.data, "accepted", "granary", key), "rb") as f:
                check(f.read() == bodies[key], f"{key}: fetched bytes differ")
        cov = r.coverage("h017", "meter")
        check(cov["ranges"] == [[1, 300]] and cov["readings"] == 300, f"coverage {cov}")
        # Repeated (and SNS-wrapped) notifications change nothing.
        status, body = post(r, records(keys))
        check(status == 200 and all(x["outcome"] == "duplicate" for x in body["records"]), f"repeat: {body}")
        sns = {"Type": "Notification", "Message": json.dumps(records(keys[:1]))}
        status, body = post(r, sns)
        check(status == 200 and body["records"][0]["outcome"] == "duplicate", f"SNS: {body}")
        check(r.coverage("h017", "meter")["readings"] == 300, "repeated events indexed twice")
        # Refusals.
        status, _ = post(r, records(keys), token="wrong-token-0123456789")
        check(status == 401, f"wrong event token answered {status}")
        status, _ = post(r, b"{not json")
        check(status == 400, f"malformed event answered {status}")
        status, body = post(r, records(["granary/h017/meter/missing-meter-999.jsonl.gz"]))
        check(status == 503, f"missing object answered {status}")
        status, body = post(r, records(keys[:1], bucket="other-bucket"))
        check(status == 503, f"other bucket answered {status}")
        status, metrics = r.api("/metrics", token=None)
        check("granary_receiver_s3_event_fetch_errors_total 2" in metrics, "fetch errors not counted")
        print("receiver real-S3 mode: ok")
    except SystemExit:
        print(r.read_log()[-3000:], file=sys.stderr)
        raise
    finally:
        r.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
