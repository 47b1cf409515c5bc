"""granary-receiver against independent S3 clients on loopback: Debian's boto3 and awscli and
`curl --aws-sigv4` store and read back segments byte for byte; the S3 error cases answer
the right codes (wrong secret, other device's prefix, bad MD5, stale date, oversize, unsafe
keys); every kind of bad segment ends in rejected/ with its reason and an event while
accepted data stays; the API, /metrics, /healthz, `verify` and `backup` tell the truth; a
bad config exits 78 naming file, line and key."""
import datetime
import gzip
import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys

from harness import check
from receiver_harness import (CLEAN_AWS_ENV, DEVICES, Receiver, boto3_client, boto3_ranged,
                              check_ranges, s3_error_code, segment, segment_lines)


def test_boto3(r):
    s3 = boto3_client(r.endpoint)
    key, body, meta = segment("h017", "meter", 1, 100)
    key = key.replace("20241122T14-1", "a b+c=d€~-1")  # unicode, space, plus, equals, tilde
    put = s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
    check(put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"', f"ETag {put['ETag']}")
    got = s3.get_object(Bucket="granary", Key=key)
    check(got["Body"].read() == body, "boto3 GET bytes differ")
    check(got["Metadata"] == meta, f"metadata {got['Metadata']}")
    head = s3.head_object(Bucket="granary", Key=key)
    check(head["ContentLength"] == len(body), f"HEAD length {head['ContentLength']}")
    check_ranges("boto3 get_object(Range)", body, boto3_ranged(s3, key))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="granary", Prefix="granary/h017/")["Contents"]]
    check(keys == [key], f"listing {keys}")
    # Same key, same bytes: a no-op that still answers 200 with the ETag.
    again = s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
    check(again["ResponseMetadata"]["HTTPHeaders"].get("x-amz-meta-granary-outcome") == "duplicate",
          "re-PUT was not a duplicate")
    # Same key, other readings: a recorded conflict; the accepted bytes stay.
    _, other, _ = segment("h017", "meter", 1, 100, segment_lines("h017", "meter", 1, 100, ts0=5))
    code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=other, Metadata=meta))
    check(code == ("ObjectConflict", 409), f"conflicting PUT answered {code}")
    check(s3.get_object(Bucket="granary", Key=key)["Body"].read() == body, "accepted bytes overwritten")
    check(len(os.listdir(os.path.join(r.data, "conflicts"))) == 2, "conflict not kept")
    # Pagination.
    for first in range(101, 601, 100):
        k, b, m = segment("h017", "meter", first, first + 99)
        s3.put_object(Bucket="granary", Key=k, Body=b, Metadata=m)
    pages = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket="granary", Prefix="granary/h017/meter/", PaginationConfig={"PageSize": 2}))
    listed = [o["Key"] for p in pages for o in p.get("Contents", [])]
    check(len(pages) == 3 and len(listed) == 6 and listed == sorted(listed), f"pages {len(pages)}: {listed}")
    delim = s3.list_objects_v2(Bucket="granary", Prefix="granary/h017/", Delimiter="/")
    check([p["Prefix"] for p in delim.get("CommonPrefixes", [])] == ["granary/h017/meter/"],
          f"common prefixes {delim}")


def test_errors(r):
    s3 = boto3_client(r.endpoint)
    key, body, meta = segment("h017", "errs", 1, 10)
    wrong = boto3_client(r.endpoint, secret="not-the-secret")
    check(s3_error_code(lambda: wrong.put_object(Bucket="granary", Key=key, Body=body))
          == ("SignatureDoesNotMatch", 403), "wrong secret")
    other = key.replace("granary/h017/", "granary/h018/")
    check(s3_error_code(lambda: s3.put_object(Bucket="granary", Key=other, Body=body))
          == ("AccessDenied", 403), "other device's prefix")
    check(s3_error_code(lambda: s3.get_object(Bucket="granary", Key=other))
          == ("AccessDenied", 403), "reading another device's prefix")
    check(s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body,
                                              ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg=="))
          == ("BadDigest", 400), "bad Content-MD5")
    check(s3_error_code(lambda: s3.put_object(Bucket="nobucket", Key=key, Body=body))
          == ("NoSuchBucket", 404), "unknown bucket")
    check(s3_error_code(lambda: s3.get_object(Bucket="granary", Key=key + ".none"))
          == ("NoSuchKey", 404), "missing key")
    big = os.urandom(100 * 1024)
    check(s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=big))
          == ("EntityTooLarge", 400), "oversize")
    check(s3_error_code(lambda: s3.put_object(Bucket="granary", Key="granary/h017/../h018/x", Body=body))
          == ("InvalidArgument", 400), "key with ..")
    check(s3_error_code(lambda: s3.delete_object(Bucket="granary", Key=key)) is not None,
          "DELETE allowed")
    # Nothing of the above was stored.
    check(s3_error_code(lambda: s3.head_object(Bucket="granary", Key=key)) is not None,
          "a refused PUT stored the object")
    # A request signed 20 minutes ago.
    real = datetime.datetime

    class Stale(real):
        @classmethod
        def utcnow(cls):
            return real.utcnow() - datetime.timedelta(minutes=20)

    datetime.datetime = Stale  # botocore reads the clock through this module attribute
    try:
        code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body))
    finally:
        datetime.datetime = real
    check(code == ("RequestTimeTooSkewed", 403), f"stale date answered {code}")


def curl_sigv4(r, method_args, key, device="h017", query=""):
    ak, sk = DEVICES[device]
    path = "/granary/" + "/".join(
        __import__("urllib.parse").parse.quote(p, safe="-._~") for p in key.split("/"))
    return subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--aws-sigv4",
                           "aws:amz:us-east-1:s3", "--user", f"{ak}:{sk}", *method_args,
                           r.endpoint + path + query], capture_output=True, timeout=60)


def test_curl(r, tmp):
    key, body, meta = segment("h017", "curl", 1, 50)
    path = os.path.join(tmp, "curl.jsonl.gz")
    with open(path, "wb") as f:
        f.write(body)
    sha = hashlib.sha256(body).hexdigest()
    hdrs = ["-H", f"x-amz-content-sha256: {sha}"]
    for k, v in meta.items():
        hdrs += ["-H", f"x-amz-meta-{k}: {v}"]
    put = curl_sigv4(r, hdrs + ["-T", path], key, query="?x-id=PutObject")  # unknown, signed
    check(put.stdout.endswith(b"\n200"), f"curl PUT: {put.stdout[-300:]} {put.stderr}")
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    get = curl_sigv4(r, ["-H", f"x-amz-content-sha256: {empty}"], key)
    check(get.stdout == body + b"\n200", "curl GET bytes differ")
    wrong = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4",
                            "aws:amz:us-east-1:s3", "--user", "AKIDH017:wrong", "-H",
                            f"x-amz-content-sha256: {empty}", r.endpoint + "/granary/" + key],
                           capture_output=True, text=True, timeout=60)
    check(wrong.stdout == "403", f"curl wrong secret: {wrong.stdout}")
    # An unsafe key (NUL) and a body over the limit (curl 7.88 sends 200 KiB without Expect).
    nul = curl_sigv4(r, ["-H", f"x-amz-content-sha256: {empty}"], "granary/h017/a\0b")
    check(b"InvalidArgument" in nul.stdout or nul.stdout.endswith(b"400"), f"NUL key: {nul.stdout}")
    big = os.path.join(tmp, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(200 * 1024))
    over = curl_sigv4(r, ["-H", f"x-amz-content-sha256: {hashlib.sha256(open(big, 'rb').read()).hexdigest()}",
                          "-T", big], "granary/h017/curl/big.jsonl.gz")
    check(b"EntityTooLarge" in over.stdout, f"oversize via curl: {over.stdout[-300:]}")


def test_awscli(r, tmp):
    key, body, meta = segment("h017", "awscli", 1, 20)
    path = os.path.join(tmp, "aws.jsonl.gz")
    with open(path, "wb") as f:
        f.write(body)
    ak, sk = DEVICES["h017"]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk,
               AWS_DEFAULT_REGION="us-east-1", **CLEAN_AWS_ENV)
    aws = ["/usr/bin/aws", "--endpoint-url", r.endpoint, "s3api"]
    metadata = ",".join(f"{k}={v}" for k, v in meta.items())
    put = subprocess.run(aws + ["put-object", "--bucket", "granary", "--key", key, "--body", path,
                                "--metadata", metadata], capture_output=True, text=True, env=env,
                         timeout=120)
    check(put.returncode == 0, f"aws put-object: {put.stderr}")
    out = os.path.join(tmp, "aws-out")
    get = subprocess.run(aws + ["get-object", "--bucket", "granary", "--key", key, out],
                         capture_output=True, text=True, env=env, timeout=120)
    check(get.returncode == 0, f"aws get-object: {get.stderr}")
    check(open(out, "rb").read() == body, "awscli GET bytes differ")
    n = len(body)
    for spec, a, b in (("bytes=3-40", 3, 40), (f"bytes={n - 9}-", n - 9, n - 1),
                       ("bytes=-6", n - 6, n - 1)):
        got = subprocess.run(aws + ["get-object", "--bucket", "granary", "--key", key, "--range",
                                    spec, out], capture_output=True, text=True, env=env, timeout=120)
        check(got.returncode == 0 and f'"ContentRange": "bytes {a}-{b}/{n}"' in got.stdout and
              open(out, "rb").read() == body[a:b + 1], f"aws get-object --range {spec}: "
                                                       f"{got.stdout} {got.stderr}")
    past = subprocess.run(aws + ["get-object", "--bucket", "granary", "--key", key, "--range",
                                 f"bytes={n}-", out], capture_output=True, text=True, env=env,
                          timeout=120)
    check(past.returncode != 0 and "InvalidRange" in past.stderr,
          f"aws get-object --range past the end: {past.stdout} {past.stderr}")
    ls = subprocess.run(aws + ["list-objects-v2", "--bucket", "granary", "--prefix", "granary/h017/awscli/"],
                        capture_output=True, text=True, env=env, timeout=120)
    check(ls.returncode == 0 and key in ls.stdout, f"aws list: {ls.stdout} {ls.stderr}")
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    bad = subprocess.run(aws + ["put-object", "--bucket", "granary", "--key", key, "--body", path],
                         capture_output=True, text=True, env=env, timeout=120)
    check(bad.returncode != 0 and "SignatureDoesNotMatch" in bad.stderr, f"aws wrong secret: {bad.stderr}")


def test_rejections(r):
    s3 = boto3_client(r.endpoint)
    before = r.coverage("h017", "meter")
    good = segment_lines("h017", "bad", 1, 10)
    cases = {
        "corrupt gzip": (None, b"\x1f\x8b\x08\x00garbage-not-deflate", "gzip"),
        "non-JSON line": (segment_lines("h017", "bad", 1, 4) + "<html>oops</html>\n"
                          + segment_lines("h017", "bad", 5, 10), None, "line 5: not a JSON object"),
        "seq hole": (segment_lines("h017", "bad", 1, 4) + segment_lines("h017", "bad", 6, 11), None,
                     "seqs must be contiguous"),
        "wrong device": (segment_lines("h017", "bad", 1, 5) + segment_lines("h018", "bad", 6, 10), None,
                         'device "h018"'),
        "count mismatch": (good, None, "granary-count is 11"),
    }
    for i, (name, (lines, raw, reason)) in enumerate(cases.items()):
        key, body, meta = segment("h017", "bad", 1, 10, lines if lines is not None else good)
        key = key.replace("-1.jsonl.gz", f"-{i + 1}.jsonl.gz")
        if raw is not None:
            body = raw
        if name == "count mismatch":
            meta["granary-count"] = "11"
        code = s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta))
        check(code == ("InvalidSegment", 400), f"{name}: answered {code}")
        sidecars = [json.load(open(os.path.join(r.data, "rejected", n)))
                    for n in os.listdir(os.path.join(r.data, "rejected")) if n.endswith(".json")]
        mine = [s for s in sidecars if s["key"] == key]
        check(len(mine) == 1 and reason in mine[0]["reason"], f"{name}: rejected/ holds {mine}")
        body_file = [n for n in os.listdir(os.path.join(r.data, "rejected"))
                     if n.endswith(".body") and open(os.path.join(r.data, "rejected", n), "rb").read() == body]
        check(body_file, f"{name}: bytes not kept in rejected/")
    status, events = r.api("/api/v1/devices/h017/events?limit=50")
    rejected = [e for e in events["events"] if e["kind"] == "rejected" and "/bad/" in e["key"]]
    check(len(rejected) == len(cases), f"{len(rejected)} rejected events for {len(cases)} cases")
    check(r.coverage("h017", "meter") == before, "a rejection changed accepted coverage")
    check(r.coverage("h017", "bad")["readings"] == 0, "a rejected segment was indexed")


def test_api(r):
    status, _ = r.api("/api/v1/devices", token=None)
    check(status == 401, f"API without a token answered {status}")
    status, _ = r.api("/api/v1/devices", token="wrong-token-0123456789")
    check(status == 401, f"API with a wrong token answered {status}")
    status, devices = r.api("/api/v1/devices")
    check(status == 200 and [d["device"] for d in devices["devices"]] == ["h017"], f"devices {devices}")
    check(devices["devices"][0]["readings"] == 600 + 50 + 20, f"readings {devices['devices'][0]}")
    cov = r.coverage("h017", "meter")
    check(cov["ranges"] == [[1, 600]] and cov["gaps"] == [], f"coverage {cov}")
    status, one = r.api("/api/v1/devices/h017")
    check(status == 200 and {s["source"] for s in one["sources"]} >= {"meter", "curl", "awscli"}, f"device {one}")
    status, body = r.api("/api/v1/devices/h017/readings?source=meter&from=1732284010000&to=1732284019000", raw=True)
    lines = [json.loads(l) for l in body.decode().splitlines()]
    check(status == 200 and [l["seq"] for l in lines] == list(range(10, 20)), f"readings {body[:200]}")
    status, csv = r.api("/api/v1/devices/h017/readings?source=meter&format=csv&to=1732284002000", raw=True)
    rows = csv.decode().splitlines()
    check(rows[0] == "device,source,seq,ts,clock,data" and len(rows) == 3
          and rows[1] == '"h017","meter",1,1732284001000,ok,"{""v"":1}"', f"csv {rows}")
    status, _ = r.api("/api/v1/devices/nobody")
    check(status == 404, "unknown device")
    status, metrics = r.api("/metrics", token=None)
    check(status == 200 and "granary_receiver_objects_accepted_total 8" in metrics
          and 'granary_receiver_s3_errors_total{code="SignatureDoesNotMatch"}' in metrics,
          f"metrics:\n{metrics}")
    status, health = r.api("/healthz", token=None)
    check(status == 200 and health["status"] == "ok", f"healthz {health}")


def test_malformed_http(r):
    for junk in [b"GARBAGE\r\n\r\n", b"PUT /granary/x HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                 b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\x01\x02\r\n\r\n"]:
        with socket.create_connection(("127.0.0.1", r.port), timeout=10) as s:
            s.sendall(junk)
            try:
                answer = s.recv(200)
            except (ConnectionResetError, socket.timeout):
                answer = b""
            check(answer == b"" or answer.startswith(b"HTTP/1.1 4"), f"junk answered {answer}")
    status, health = r.api("/healthz", token=None)
    check(status == 200, "receiver unhealthy after malformed requests")


def test_verify_backup(r, tmp):
    v = r.cli("verify")
    check(v.returncode == 0 and "0 missing" in v.stdout, f"verify on a clean store: {v.stdout} {v.stderr}")
    dest = os.path.join(tmp, "backup.db")
    b = r.cli("backup", dest)
    check(b.returncode == 0 and "verified" in b.stdout, f"backup: {b.stdout} {b.stderr}")
    con = sqlite3.connect(dest)
    check(con.execute("SELECT count(*) FROM segments").fetchone()[0] == 8, "backup segment count")
    con.close()
    check(r.cli("backup", dest).returncode != 0, "backup overwrote an existing file")
    # Damage the store: one accepted file gone, one stray file.
    key, _, _ = segment("h017", "meter", 101, 200)
    os.rename(os.path.join(r.data, "accepted", "granary", key), os.path.join(tmp, "moved"))
    stray = os.path.join(r.data, "accepted", "granary", "granary", "h017", "stray.jsonl.gz")
    open(stray, "wb").write(b"x")
    v = r.cli("verify")
    check(v.returncode == 1 and f"missing granary/{key}" in v.stdout
          and "unindexed granary/granary/h017/stray.jsonl.gz" in v.stdout, f"verify: {v.stdout}")
    os.rename(os.path.join(tmp, "moved"), os.path.join(r.data, "accepted", "granary", key))
    os.remove(stray)
    check(r.cli("verify").returncode == 0, "verify after repair")


def test_bad_config(tmp):
    path = os.path.join(tmp, "bad.toml")
    with open(path, "w") as f:
        f.write('data_dir = "/tmp/x"\nlisten = "nonsense"\n[http]\nthreads = 0\n')
    r = subprocess.run([os.environ.get("GRANARY_RECEIVER_BIN", "granary-receiver"), "check-config",
                        "-c", path], capture_output=True, text=True, timeout=30)
    check(r.returncode == 78, f"bad config exited {r.returncode}")
    check(f"{path}:2: listen:" in r.stderr and f"{path}:4: http.threads:" in r.stderr, r.stderr)


def main():
    r = Receiver(extra='max_object_bytes = "64KiB"').start()
    tmp = r.dir
    try:
        test_bad_config(tmp)
        test_boto3(r)
        test_errors(r)
        test_curl(r, tmp)
        test_awscli(r, tmp)
        test_rejections(r)
        test_api(r)
        test_malformed_http(r)
        test_verify_backup(r, tmp)
    except SystemExit:
        print(r.read_log()[-4000:], file=sys.stderr)
        raise
    finally:
        if r.proc:
            r.stop()
    print("ok")


if __name__ == "__main__":
    main()
