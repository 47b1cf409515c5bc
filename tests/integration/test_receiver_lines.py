"""The line cap is the receiver's config key max_line_bytes (documented: at least the agent's
max_reading_bytes): with the default (1 MiB + 64 KiB) a segment holding a 2 MiB reading is
rejected; with max_line_bytes = "3MiB" it is accepted and served back by /readings."""
import json

from harness import check
from receiver_harness import Receiver, boto3_client, run_receivers, s3_error_code, segment

BIG = "x" * (2 << 20)


def lines():
    out = ""
    for seq in (1, 2, 3):
        data = {"v": BIG} if seq == 2 else {"v": seq}
        out += json.dumps({"device": "h017", "source": "big", "seq": seq,
                           "ts": 1732284000000 + seq * 1000, "data": data}) + "\n"
    return out


def put(r):
    key, body, meta = segment("h017", "big", 1, 3, lines())
    return s3_error_code(lambda: boto3_client(r.endpoint).put_object(
        Bucket="granary", Key=key, Body=body, Metadata=meta))


def test_caps(default, wide):
    code = put(default)
    check(code == ("InvalidSegment", 400), f"2 MiB line under the default cap: {code}")
    check(put(wide) is None, "2 MiB line under max_line_bytes = 3MiB refused")
    status, body = wide.api("/api/v1/devices/h017/readings?source=big", raw=True)
    got = [json.loads(l) for l in body.decode().splitlines()]
    check(status == 200 and [g["seq"] for g in got] == [1, 2, 3] and got[1]["data"]["v"] == BIG,
          f"readings {status} {body[:200]}")


def main():
    wide = Receiver(extra='max_line_bytes = "3MiB"').start()
    default = Receiver().start()
    run_receivers([wide, default], lambda: test_caps(default, wide), "receiver lines")


if __name__ == "__main__":
    main()
