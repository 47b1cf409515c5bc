"""What a failed upload leaves behind, against the real receiver: a body whose Content-MD5
does not match leaves nothing in quarantine/ once answered (it stayed until a restart six
hours later); the same invalid (key, bytes) uploaded five times, as a retrying agent does,
is kept once in rejected/ (there were five copies); a line repeating a key is rejected
(it was accepted and served as is)."""
import os

from harness import check
from receiver_harness import Receiver, boto3_client, run_receivers, s3_error_code, segment, segment_lines


def test_quarantine_emptied(r, s3):
    key, body, meta = segment("h017", "md5", 1, 10)
    code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta,
                                               ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg=="))
    check(code == ("BadDigest", 400), f"bad Content-MD5 answered {code}")
    left = os.listdir(os.path.join(r.data, "quarantine"))
    check(left == [], f"quarantine/ after a failed request: {left}")


def test_rejected_once(r, s3):
    lines = segment_lines("h017", "bad", 1, 4) + segment_lines("h017", "bad", 6, 11)
    key, body, meta = segment("h017", "bad", 1, 10, lines)
    for _ in range(5):
        code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta))
        check(code == ("InvalidSegment", 400), f"invalid segment answered {code}")
    kept = sorted(os.listdir(os.path.join(r.data, "rejected")))
    check(len(kept) == 2, f"rejected/ after 5 identical uploads: {kept}")


def test_duplicate_key(s3):
    line = ('{"device":"h017","source":"dup","seq":1,"ts":1732284001000,"data":{"v":1},'
            '"device":"h018"}\n')
    key, body, meta = segment("h017", "dup", 1, 1, line)
    code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta))
    check(code == ("InvalidSegment", 400), f"a line with a duplicate key answered {code}")


def main():
    r = Receiver().start()

    def body():
        s3 = boto3_client(r.endpoint)
        test_quarantine_emptied(r, s3)
        test_rejected_once(r, s3)
        test_duplicate_key(s3)
    run_receivers([r], body, "receiver evidence")


if __name__ == "__main__":
    main()
