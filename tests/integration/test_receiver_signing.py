"""Signature and framing hygiene, against the real receiver: an x-amz-* header outside the
signature is 403 AccessDenied (it was stored as metadata); UNSIGNED-PAYLOAD is refused by
default (a captured request could be replayed with another body) and taken only with
allow_unsigned_payload = true; Content-Length twice, or with Transfer-Encoding, is 400; a key
that is not UTF-8 is 400 InvalidObjectName and a listing prefix that is not UTF-8 is 400, so
listings stay well-formed XML."""
import hashlib
import http.client
import os
import socket
import subprocess
import xml.dom.minidom

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import check
from receiver_harness import DEVICES, Receiver, run_receivers, segment


def signed(r, method, path, body=b"", headers=None):
    """Headers of a SigV4-signed request, as boto3 would send them."""
    ak, sk = DEVICES["h017"]
    req = AWSRequest(method=method, url=r.endpoint + path, data=body, headers=dict(headers or {}))
    req.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(Credentials(ak, sk), "s3", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def send(r, method, path, headers, body=b""):
    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=30)
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


def test_unsigned_amz_header(r):
    key, body, meta = segment("h017", "sig", 1, 5)
    path = "/granary/" + key
    hdrs = signed(r, "PUT", path, body, {f"x-amz-meta-{k}": v for k, v in meta.items()})
    hdrs["x-amz-meta-granary-note"] = "added on the way"
    status, answer = send(r, "PUT", path, hdrs, body)
    check(status == 403 and b"AccessDenied" in answer, f"unsigned x-amz-meta: {status} {answer[:300]}")
    del hdrs["x-amz-meta-granary-note"]
    status, answer = send(r, "PUT", path, hdrs, body)
    check(status == 200, f"the same request signed whole: {status} {answer[:300]}")


def curl_unsigned(r, key, body_path):
    ak, sk = DEVICES["h017"]
    return subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--aws-sigv4",
                           "aws:amz:us-east-1:s3", "--user", f"{ak}:{sk}", "-H",
                           "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T", body_path,
                           r.endpoint + "/granary/" + key], capture_output=True, timeout=60).stdout


def test_unsigned_payload(r, lax):
    key, body, _ = segment("h017", "unsigned", 1, 5)
    body_path = os.path.join(r.dir, "unsigned.jsonl.gz")
    with open(body_path, "wb") as f:
        f.write(body)
    out = curl_unsigned(r, key, body_path)
    check(out.endswith(b"\n403") and b"AccessDenied" in out, f"UNSIGNED-PAYLOAD by default: {out[-300:]}")
    out = curl_unsigned(lax, key, body_path)
    check(out.endswith(b"\n200"), f"UNSIGNED-PAYLOAD with allow_unsigned_payload: {out[-300:]}")


def raw(r, request):
    with socket.create_connection(("127.0.0.1", r.port), timeout=10) as s:
        s.sendall(request)
        try:
            return s.recv(200)
        except (ConnectionResetError, socket.timeout):
            return b""


def test_ambiguous_length(r):
    key, body, _ = segment("h017", "len", 1, 5)
    path = "/granary/" + key
    hdrs = signed(r, "PUT", path, body)
    head = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()).encode()
    for extra in (f"Content-Length: {len(body)}\r\nContent-Length: {len(body) + 1}\r\n",
                  f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\n"):
        answer = raw(r, f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{r.port}\r\n".encode() + head
                     + extra.encode() + b"\r\n" + body)
        check(answer.startswith(b"HTTP/1.1 400"), f"{extra!r} answered {answer[:100]}")


def test_utf8(r):
    key, body, meta = segment("h017", "utf", 1, 5)
    bad = key.replace("/utf/", "/utf/%FF/")
    hdrs = signed(r, "PUT", "/granary/" + bad, body, {f"x-amz-meta-{k}": v for k, v in meta.items()})
    status, answer = send(r, "PUT", "/granary/" + bad, hdrs, body)
    check(status == 400 and b"InvalidObjectName" in answer, f"non-UTF-8 key: {status} {answer[:300]}")
    for query in ("?list-type=2&prefix=granary%2Fh017%2F", "?list-type=2&prefix=granary%2Fh017%2F%FF"):
        hdrs = signed(r, "GET", "/granary" + query)
        status, answer = send(r, "GET", "/granary" + query, hdrs)
        xml.dom.minidom.parseString(answer)  # raises when not well-formed
        check(status in (200, 400), f"listing {query}: {status} {answer[:300]}")
    check(status == 400, "a non-UTF-8 listing prefix was taken")


def main():
    r = Receiver().start()
    lax = Receiver(extra="allow_unsigned_payload = true").start()

    def body():
        test_unsigned_amz_header(r)
        test_unsigned_payload(r, lax)
        test_ambiguous_length(r)
        test_utf8(r)
    run_receivers([r, lax], body, "receiver signing")


if __name__ == "__main__":
    main()
