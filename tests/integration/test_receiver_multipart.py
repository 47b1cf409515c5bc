"""S3 multipart uploads into granary-receiver from independent clients: boto3's upload_file and
Debian's `aws s3 cp` with a 5 MiB multipart threshold store a 50 MiB segment (10+ parts) that
GET returns byte for byte with S3's multipart ETag; an upload continues across a receiver
restart (SIGTERM) and a kill -9 between parts; ListParts and ListMultipartUploads list what
was sent; Abort removes the parts; a Complete with a wrong ETag, out of order, or with a small part before the last is
refused with S3's code; another device cannot touch the upload; part and total size caps;
a receiver killed mid-Complete neither loses nor duplicates the object (a retried Complete
answers the same ETag); an abandoned upload expires and its parts are removed.

With GRANARY_RECEIVER_INDEX=postgresql the index (and the upload state) is a throwaway
PostgreSQL."""
import base64
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

from harness import check
from receiver_harness import (CLEAN_AWS_ENV, DEVICES, Postgres, Receiver, boto3_client,
                              boto3_ranged, check_ranges, receiver_config, run_receivers,
                              s3_error_code)

MiB = 1 << 20
LIMITS = '[multipart]\nmax_part_bytes = "8MiB"\nmax_upload_bytes = "56MiB"\n'


def big_segment(source, first, size):
    """(key, body, metadata, path-less) of a valid jsonl.gz segment of at least `size` bytes:
    lines of random base64 (~60 KB each), gzip stored (level 0) so the body is as big as
    its lines."""
    lines, total, seq = [], 0, first
    while total < size:
        blob = base64.b64encode(os.urandom(45000)).decode()
        line = json.dumps({"device": "h017", "source": source, "seq": seq,
                           "ts": 1732284000000 + seq * 1000, "data": {"v": seq, "b": blob}},
                          separators=(",", ":")) + "\n"
        lines.append(line)
        total += len(line)
        seq += 1
    body = gzip.compress("".join(lines).encode(), compresslevel=0, mtime=0)
    last = seq - 1
    key = f"granary/h017/{source}/2024/11/22/h017-{source}-20241122T14-{first}.jsonl.gz"
    meta = {"granary-device": "h017", "granary-source": source, "granary-first-seq": str(first),
            "granary-last-seq": str(last), "granary-count": str(last - first + 1),
            "granary-format": "jsonl.gz/1"}
    return key, body, meta


def parts_etag(parts):
    """S3's ETag of an object made of `parts`: md5 of the parts' binary md5s, '-', the count."""
    digests = [hashlib.md5(p).digest() for p in parts]
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


def multipart_etag(body, chunk):
    return parts_etag([body[i:i + chunk] for i in range(0, len(body), chunk)])


def upload_dirs(r):
    root = os.path.join(r.data, "quarantine", "uploads")
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def test_boto3_upload_file(r, tmp):
    from boto3.s3.transfer import TransferConfig
    key, body, meta = big_segment("boto3", 1, 50 * MiB)
    path = os.path.join(tmp, "boto3.jsonl.gz")
    with open(path, "wb") as f:
        f.write(body)
    s3 = boto3_client(r.endpoint)
    started = time.time()
    s3.upload_file(path, "granary", key, ExtraArgs={"Metadata": meta},
                   Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                                         max_concurrency=4))
    took = time.time() - started
    got = s3.get_object(Bucket="granary", Key=key)
    check(got["Body"].read() == body, "boto3: GET bytes differ from the uploaded file")
    check(got["ETag"] == multipart_etag(body, 5 * MiB), f"boto3: ETag {got['ETag']}")
    check(got["Metadata"] == meta, f"boto3: metadata {got['Metadata']}")
    head = s3.head_object(Bucket="granary", Key=key)
    check(head["ContentLength"] == len(body), f"HEAD length {head['ContentLength']}")
    check_ranges("boto3 ranged GET of a multipart object", body, boto3_ranged(s3, key))
    listed = s3.list_objects_v2(Bucket="granary", Prefix="granary/h017/boto3/")["Contents"]
    check(len(listed) == 1 and listed[0]["ETag"] == got["ETag"], f"listing {listed}")
    cov = r.coverage("h017", "boto3")
    check(cov["segments"] == 1 and cov["readings"] == int(meta["granary-count"]), f"coverage {cov}")
    check(upload_dirs(r) == [], f"parts left after Complete: {upload_dirs(r)}")
    orphans = s3.list_multipart_uploads(Bucket="granary", Prefix="granary/h017/").get("Uploads", [])
    check(orphans == [], f"uploads left open: {orphans}")
    print(f"  boto3 upload_file: {len(body)} bytes in {len(body) // (5 * MiB) + 1} parts, "
          f"{took:.1f} s")


def test_awscli_cp(r, tmp):
    key, body, meta = big_segment("awscli", 1, 50 * MiB)
    path = os.path.join(tmp, "aws.jsonl.gz")
    with open(path, "wb") as f:
        f.write(body)
    config = os.path.join(tmp, "aws-config")
    with open(config, "w") as f:
        f.write("[default]\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n"
                "  addressing_style = path\n")
    ak, sk = DEVICES["h017"]
    env = dict(os.environ, **CLEAN_AWS_ENV, AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk,
               AWS_DEFAULT_REGION="us-east-1")
    env["AWS_CONFIG_FILE"] = config
    metadata = ",".join(f"{k}={v}" for k, v in meta.items())
    started = time.time()
    cp = subprocess.run(["/usr/bin/aws", "--endpoint-url", r.endpoint, "s3", "cp", path,
                         f"s3://granary/{key}", "--metadata", metadata, "--no-progress"],
                        capture_output=True, text=True, env=env, timeout=120)
    took = time.time() - started
    check(cp.returncode == 0, f"aws s3 cp: {cp.stdout} {cp.stderr}")
    out = os.path.join(tmp, "aws-out")
    # get-object: one GET (the receiver serves no ranges, which `aws s3 cp` would ask for).
    get = subprocess.run(["/usr/bin/aws", "--endpoint-url", r.endpoint, "s3api", "get-object",
                          "--bucket", "granary", "--key", key, out],
                         capture_output=True, text=True, env=env, timeout=120)
    check(get.returncode == 0, f"aws get-object: {get.stderr}")
    with open(out, "rb") as f:
        check(f.read() == body, "awscli: GET bytes differ from the uploaded file")
    head = boto3_client(r.endpoint).head_object(Bucket="granary", Key=key)
    check(head["ETag"] == multipart_etag(body, 5 * MiB), f"awscli: ETag {head['ETag']}")
    check(upload_dirs(r) == [], f"parts left after Complete: {upload_dirs(r)}")
    print(f"  aws s3 cp: {len(body)} bytes in {len(body) // (5 * MiB) + 1} parts, {took:.1f} s")


def upload_parts(s3, key, upload_id, parts, first=1):
    etags = []
    for n, data in enumerate(parts, start=first):
        etags.append(s3.upload_part(Bucket="granary", Key=key, UploadId=upload_id, PartNumber=n,
                                    Body=data)["ETag"])
    return etags


def complete(s3, key, upload_id, numbered_etags):
    return s3.complete_multipart_upload(
        Bucket="granary", Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in numbered_etags]})


def test_restart_between_parts(r):
    key, body, meta = big_segment("restart", 1, 12 * MiB)
    chunks = [body[0:5 * MiB], body[5 * MiB:10 * MiB], body[10 * MiB:]]
    s3 = boto3_client(r.endpoint)
    upload_id = s3.create_multipart_upload(Bucket="granary", Key=key, Metadata=meta)["UploadId"]
    etags = upload_parts(s3, key, upload_id, chunks[:1])
    r.stop()
    r.start()
    s3 = boto3_client(r.endpoint)
    etags += upload_parts(s3, key, upload_id, chunks[1:2], first=2)
    r.kill9()
    r.start()
    s3 = boto3_client(r.endpoint)
    listed = s3.list_parts(Bucket="granary", Key=key, UploadId=upload_id)["Parts"]
    check([(p["PartNumber"], p["ETag"], p["Size"]) for p in listed]
          == [(1, etags[0], 5 * MiB), (2, etags[1], 5 * MiB)], f"ListParts after restarts {listed}")
    etags += upload_parts(s3, key, upload_id, chunks[2:], first=3)
    done = complete(s3, key, upload_id, enumerate(etags, start=1))
    check(done["ETag"] == multipart_etag(body, 5 * MiB), f"restart: ETag {done['ETag']}")
    check(s3.get_object(Bucket="granary", Key=key)["Body"].read() == body,
          "restart: GET bytes differ")


def test_refusals(r):
    s3 = boto3_client(r.endpoint)
    other = boto3_client(r.endpoint, device="h018")
    key, body, meta = big_segment("refused", 1, 11 * MiB)
    upload_id = s3.create_multipart_upload(Bucket="granary", Key=key, Metadata=meta)["UploadId"]
    a, b = body[:5 * MiB], body[5 * MiB:]
    etags = upload_parts(s3, key, upload_id, [a, b])
    listed = s3.list_parts(Bucket="granary", Key=key, UploadId=upload_id)
    check([(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]]
          == [(1, f'"{hashlib.md5(a).hexdigest()}"', len(a)),
              (2, f'"{hashlib.md5(b).hexdigest()}"', len(b))], f"ListParts {listed['Parts']}")
    page = s3.list_parts(Bucket="granary", Key=key, UploadId=upload_id, MaxParts=1)
    check(page["IsTruncated"] and [p["PartNumber"] for p in page["Parts"]] == [1]
          and page["NextPartNumberMarker"] == 1, f"ListParts page {page}")
    code = s3_error_code(lambda: complete(s3, key, upload_id, [(1, etags[0]), (2, '"' + "0" * 32 + '"')]))
    check(code == ("InvalidPart", 400), f"wrong ETag: {code}")
    code = s3_error_code(lambda: complete(s3, key, upload_id, [(1, etags[0]), (3, etags[1])]))
    check(code == ("InvalidPart", 400), f"missing part: {code}")
    code = s3_error_code(lambda: complete(s3, key, upload_id, [(2, etags[1]), (1, etags[0])]))
    check(code == ("InvalidPartOrder", 400), f"out of order: {code}")
    code = s3_error_code(lambda: s3.upload_part(Bucket="granary", Key=key, UploadId=upload_id,
                                                PartNumber=3, Body=b"x", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg=="))
    check(code == ("BadDigest", 400), f"bad Content-MD5: {code}")
    code = s3_error_code(lambda: s3.upload_part(Bucket="granary", Key=key, UploadId=upload_id,
                                                PartNumber=10001, Body=b"x"))
    check(code == ("InvalidArgument", 400), f"part 10001: {code}")
    code = s3_error_code(lambda: s3.upload_part(Bucket="granary", Key=key, UploadId=upload_id,
                                                PartNumber=3, Body=b"x" * (8 * MiB + 1)))
    check(code == ("EntityTooLarge", 400), f"part over max_part_bytes: {code}")
    # Another device: its own prefix with this upload id, and this device's key.
    own = key.replace("granary/h017/", "granary/h018/")
    check(s3_error_code(lambda: other.upload_part(Bucket="granary", Key=own, UploadId=upload_id,
                                                  PartNumber=1, Body=b"x")) == ("NoSuchUpload", 404),
          "another device's part on its own key")
    check(s3_error_code(lambda: other.upload_part(Bucket="granary", Key=key, UploadId=upload_id,
                                                  PartNumber=1, Body=b"x")) == ("AccessDenied", 403),
          "another device's part")
    for fn in (lambda c, k: c.list_parts(Bucket="granary", Key=k, UploadId=upload_id),
               lambda c, k: c.abort_multipart_upload(Bucket="granary", Key=k, UploadId=upload_id),
               lambda c, k: complete(c, k, upload_id, [(1, etags[0]), (2, etags[1])])):
        check(s3_error_code(lambda: fn(other, key)) == ("AccessDenied", 403), "another device: key")
        check(s3_error_code(lambda: fn(other, own)) == ("NoSuchUpload", 404), "another device: id")
    check(upload_id in upload_dirs(r), "the parts are gone before the upload ended")
    pending = s3.list_multipart_uploads(Bucket="granary", Prefix="granary/h017/refused/")
    check([(u["Key"], u["UploadId"]) for u in pending.get("Uploads", [])] == [(key, upload_id)],
          f"ListMultipartUploads {pending}")
    check(s3_error_code(lambda: other.list_multipart_uploads(Bucket="granary", Prefix="granary/h017/"))
          == ("AccessDenied", 403), "another device listed this one's uploads")
    check(other.list_multipart_uploads(Bucket="granary", Prefix="granary/h018/").get("Uploads", []) == [],
          "another device sees this one's uploads under its own prefix")
    # Abort removes the parts; the upload is gone for every operation.
    s3.abort_multipart_upload(Bucket="granary", Key=key, UploadId=upload_id)
    check(upload_id not in upload_dirs(r), "Abort left the parts")
    for fn in (lambda: s3.list_parts(Bucket="granary", Key=key, UploadId=upload_id),
               lambda: s3.upload_part(Bucket="granary", Key=key, UploadId=upload_id, PartNumber=3, Body=b"x"),
               lambda: s3.abort_multipart_upload(Bucket="granary", Key=key, UploadId=upload_id),
               lambda: complete(s3, key, upload_id, [(1, etags[0]), (2, etags[1])])):
        check(s3_error_code(fn) == ("NoSuchUpload", 404), "an aborted upload answered")
    check(s3_error_code(lambda: s3.get_object(Bucket="granary", Key=key)) == ("NoSuchKey", 404),
          "aborted upload stored")
    check(s3.list_multipart_uploads(Bucket="granary", Prefix="granary/h017/refused/").get("Uploads", [])
          == [], "an aborted upload is still listed")
    # A small part before the last.
    upload_id = s3.create_multipart_upload(Bucket="granary", Key=key, Metadata=meta)["UploadId"]
    small = upload_parts(s3, key, upload_id, [body[:1 * MiB], body[1 * MiB:2 * MiB]])
    code = s3_error_code(lambda: complete(s3, key, upload_id, enumerate(small, start=1)))
    check(code == ("EntityTooSmall", 400), f"small first part: {code}")
    # Sent again at full size, the part replaces the small one and Complete succeeds.
    small[0] = upload_parts(s3, key, upload_id, [a])[0]
    small[1] = upload_parts(s3, key, upload_id, [b], first=2)[0]
    check(len(os.listdir(os.path.join(r.data, "quarantine", "uploads", upload_id))) == 2,
          "replaced parts left their old files")
    done = complete(s3, key, upload_id, enumerate(small, start=1))
    check(done["ETag"] == parts_etag([a, b]), f"ETag {done['ETag']}")
    again = complete(s3, key, upload_id, enumerate(small, start=1))  # a retry
    check(again["ETag"] == done["ETag"], f"retried Complete: {again['ETag']}")
    check(s3_error_code(lambda: s3.list_parts(Bucket="granary", Key=key, UploadId=upload_id))
          == ("NoSuchUpload", 404), "a completed upload still lists parts")
    # All parts together over max_upload_bytes (56 MiB).
    key2 = key.replace("refused", "refused2")
    big = s3.create_multipart_upload(Bucket="granary", Key=key2)["UploadId"]
    chunk = os.urandom(8 * MiB)
    upload_parts(s3, key2, big, [chunk] * 7)
    code = s3_error_code(lambda: s3.upload_part(Bucket="granary", Key=key2, UploadId=big,
                                                PartNumber=8, Body=b"x"))
    check(code == ("EntityTooLarge", 400), f"over max_upload_bytes: {code}")
    s3.abort_multipart_upload(Bucket="granary", Key=key2, UploadId=big)
    # A body that fails validation: rejected like a PUT, the evidence kept, the parts gone.
    key3 = key.replace("refused", "refused3")
    bad = s3.create_multipart_upload(Bucket="granary", Key=key3)["UploadId"]
    parts = upload_parts(s3, key3, bad, [os.urandom(5 * MiB), b"not gzip"])
    code = s3_error_code(lambda: complete(s3, key3, bad, enumerate(parts, start=1)))
    check(code == ("InvalidSegment", 400), f"invalid body: {code}")
    code = s3_error_code(lambda: complete(s3, key3, bad, enumerate(parts, start=1)))
    check(code == ("InvalidSegment", 400), f"invalid body retried: {code}")
    check(bad not in upload_dirs(r), "a rejected upload left its parts")
    check(any(n.endswith(".body") for n in os.listdir(os.path.join(r.data, "rejected"))),
          "no evidence of the rejected upload")


def test_crash_mid_complete(r):
    """Killed right after the concatenation is sealed, and right after the pipeline indexed
    it: the restarted receiver has the object once, and the client's retried Complete
    answers the ETag."""
    first = 1
    for point in ("receiver.multipart_sealed", "receiver.multipart_processed"):
        r.stop()
        r.start(env={"GRANARY_CRASH_POINT": point})
        s3 = boto3_client(r.endpoint)
        key, body, meta = big_segment("crash", first, 6 * MiB)
        upload_id = s3.create_multipart_upload(Bucket="granary", Key=key, Metadata=meta)["UploadId"]
        etags = upload_parts(s3, key, upload_id, [body[:5 * MiB], body[5 * MiB:]])
        r.expect_crash(point, lambda: complete(s3, key, upload_id, enumerate(etags, start=1)))
        r.start()
        s3 = boto3_client(r.endpoint)
        done = complete(s3, key, upload_id, enumerate(etags, start=1))
        check(done["ETag"] == multipart_etag(body, 5 * MiB), f"{point}: ETag {done['ETag']}")
        got = s3.get_object(Bucket="granary", Key=key)
        check(got["Body"].read() == body and got["ETag"] == done["ETag"], f"{point}: GET differs")
        first += int(meta["granary-count"])
    cov = r.coverage("h017", "crash")
    check(cov["segments"] == 2 and cov["ranges"] == [[1, first - 1]], f"coverage {cov}")


def test_expiry(r):
    """With multipart.expire_after = 2s an abandoned upload is removed with its parts."""
    r.stop()
    with open(r.config, "w") as f:
        f.write(receiver_config(r.data, r.index, LIMITS + 'expire_after = "2s"\n'))
    r.start()
    s3 = boto3_client(r.endpoint)
    key = "granary/h017/expiry/abandoned.jsonl.gz"
    upload_id = s3.create_multipart_upload(Bucket="granary", Key=key)["UploadId"]
    upload_parts(s3, key, upload_id, [b"a" * 1024])
    check(upload_id in upload_dirs(r), "no part on disk")
    deadline = time.time() + 15
    while upload_id in upload_dirs(r) and time.time() < deadline:
        time.sleep(0.5)
    check(upload_id not in upload_dirs(r), "the abandoned upload's parts were not removed")
    check(s3_error_code(lambda: s3.list_parts(Bucket="granary", Key=key, UploadId=upload_id))
          == ("NoSuchUpload", 404), "an expired upload still answers")
    check(f"multipart upload {upload_id} of granary/{key} by h017 expired" in r.read_log(),
          "the expiry is not logged")
    r.stop()
    v = r.cli("verify")
    check(v.returncode == 0, f"verify: {v.stdout}{v.stderr}")


def main():
    postgres = Postgres() if os.environ.get("GRANARY_RECEIVER_INDEX") == "postgresql" else None
    tmp = tempfile.mkdtemp(prefix="granary-multipart-")
    r = Receiver(tmp, index=postgres.url if postgres else "sqlite", extra=LIMITS)
    r.index = postgres.url if postgres else "sqlite"

    def body():
        r.start()
        for test in (test_boto3_upload_file, test_awscli_cp):
            started = time.time()
            test(r, tmp)
            print(f"{test.__name__}: ok ({time.time() - started:.1f} s)")
        for test in (test_restart_between_parts, test_refusals, test_crash_mid_complete,
                     test_expiry):
            started = time.time()
            test(r)
            print(f"{test.__name__}: ok ({time.time() - started:.1f} s)")

    try:
        run_receivers([r], body, "receiver multipart" + (" (postgresql)" if postgres else ""))
    finally:
        if postgres:
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
