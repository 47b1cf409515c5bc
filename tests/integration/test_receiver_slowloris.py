"""Slowloris against the real receiver: 1,100 connections from twenty loopback addresses
(127.0.0.2-21) each trickle a header line a second, reconnecting whenever they are cut,
while a legitimate client uploads 100 segments from 127.0.0.1. Every upload succeeds (with
the client's retries) and no slow connection lives much past http.header_timeout (3 s here).
On main they lived for ever and held every slot of the 1,024-connection limit.

Then, on a receiver with short limits: signed PUTs whose bodies trickle a byte a second are
cut by http.min_body_rate, and a kept-alive connection that trickles the headers of its
second request is cut once http.timeout + http.header_timeout have passed (the idle timeout
alone never fires: every byte resets it). Both are counted in /metrics."""
import hashlib
import socket
import threading
import time

from botocore.config import Config

from harness import check
from receiver_harness import DEVICES, Receiver, run_receivers, segment

ADDRESSES = [f"127.0.0.{i}" for i in range(2, 22)]
PER_ADDRESS = 55  # under the per-IP limit (64): only the header deadline can cut them
HEADER_TIMEOUT = 3
UPLOADS = 100


class Slowloris:
    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.max_life = 0.0
        self.cut = 0
        self.socks = {}  # socket -> connect time

    def connect(self, address):
        s = socket.socket()
        s.setblocking(True)
        s.settimeout(2)
        s.bind((address, 0))
        try:
            s.connect(("127.0.0.1", self.port))
            s.sendall(b"PUT /granary/granary/h017/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        except OSError:
            s.close()
            return
        s.setblocking(False)
        self.socks[s] = (address, time.time())

    def run(self):
        pending = list(ADDRESSES)
        n = 0
        while not self.stop.is_set():
            if pending:  # one address a pass, so every socket is watched from its start
                address = pending.pop()
                for _ in range(PER_ADDRESS):
                    self.connect(address)
            for s, (address, born) in list(self.socks.items()):
                try:
                    s.sendall(b"X-Slow-%d: 1\r\n" % n)
                    alive = s.recv(1, socket.MSG_PEEK) != b""
                except BlockingIOError:
                    alive = True
                except OSError:
                    alive = False
                if not alive:
                    self.max_life = max(self.max_life, time.time() - born)
                    self.cut += 1
                    s.close()
                    del self.socks[s]
                    self.connect(address)
            n += 1
            self.stop.wait(1.0)
        for s, (_, born) in self.socks.items():  # never cut: as long as the test ran
            self.max_life = max(self.max_life, time.time() - born)
            s.close()


def upload_all(r):
    import boto3
    ak, sk = DEVICES["h017"]
    s3 = boto3.client("s3", endpoint_url=r.endpoint, region_name="us-east-1",
                      aws_access_key_id=ak, aws_secret_access_key=sk,
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                    retries={"max_attempts": 20, "mode": "standard"},
                                    connect_timeout=5, read_timeout=30))
    started = time.time()
    for i in range(UPLOADS):
        key, body, meta = segment("h017", "legit", i * 10 + 1, i * 10 + 10)
        s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
    return time.time() - started


def test_slowloris(r):
    attack = Slowloris(r.port)
    t = threading.Thread(target=attack.run, daemon=True)
    t.start()
    try:
        time.sleep(len(ADDRESSES) + 1)  # every address is attacking
        took = upload_all(r)
    finally:
        attack.stop.set()
        t.join()
    cov = r.coverage("h017", "legit")
    check(cov["ranges"] == [[1, UPLOADS * 10]], f"legitimate uploads missing: {cov['ranges']}")
    check(attack.cut >= len(ADDRESSES) * PER_ADDRESS,
          f"only {attack.cut} slow connections were cut")
    check(attack.max_life < HEADER_TIMEOUT + 4,
          f"a slow connection lived {attack.max_life:.1f}s past a {HEADER_TIMEOUT}s header deadline")
    print(f"slowloris: {UPLOADS} uploads in {took:.1f}s under {len(ADDRESSES) * PER_ADDRESS} slow "
          f"connections from {len(ADDRESSES)} addresses; {attack.cut} cut, longest {attack.max_life:.1f}s")


def signed_put_head(port, key, body):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    ak, sk = DEVICES["h017"]
    req = AWSRequest(method="PUT", url=f"http://127.0.0.1:{port}/granary/{key}", data=body,
                     headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    SigV4Auth(Credentials(ak, sk), "s3", "us-east-1").add_auth(req)
    head = f"PUT /granary/{key} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
    return (head + "".join(f"{k}: {v}\r\n" for k, v in req.headers.items()) + "\r\n").encode()


def lifetime(s, trickle, limit):
    """Seconds until the receiver closes `s` while trickle(n) bytes go out once a second."""
    born = time.time()
    for n in range(int(limit)):
        try:
            s.sendall(trickle(n))
            s.settimeout(1.0)
            if s.recv(4096) == b"":
                return time.time() - born
        except socket.timeout:
            continue
        except OSError:
            return time.time() - born
    return None


def test_slow_bodies_and_kept_alive(r, header_timeout, idle_timeout):
    key, body, _ = segment("h017", "slowbody", 1, 200)
    lives = []

    def slow_body(i):
        s = socket.create_connection(("127.0.0.1", r.port))
        s.sendall(signed_put_head(r.port, key.replace("slowbody", f"slowbody{i}"), body))
        lives.append(lifetime(s, lambda n: body[n:n + 1], 30))
        s.close()

    threads = [threading.Thread(target=slow_body, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(all(x is not None for x in lives), f"a body sent at 1 byte/s was never cut: {lives}")
    check(max(lives) < header_timeout + 3,
          f"a slow body lived {max(lives):.1f}s past a {header_timeout}s rate window")
    check(r.metric("granary_receiver_slow_bodies_cut_total") >= 5, "slow bodies not counted")

    s = socket.create_connection(("127.0.0.1", r.port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    check(s.recv(4096).startswith(b"HTTP/1.1 200"), "first request on the connection failed")
    second = [b"GET /healthz HTTP/1.1\r\n"] + [b"X-Slow-%d: 1\r\n" % n for n in range(60)]
    life = lifetime(s, lambda n: second[n], 30)
    s.close()
    check(life is not None, "a kept-alive connection trickling its next headers was never cut")
    check(life < idle_timeout + header_timeout + 3,
          f"the second request's headers trickled for {life:.1f}s")
    check(r.metric("granary_receiver_slow_headers_cut_total") >= 1,
          f"slow headers not counted (cut after {life:.1f}s)")
    # A body at a normal pace still goes through.
    import boto3  # noqa: F401 - boto3_client needs it
    from receiver_harness import boto3_client
    k, b, m = segment("h017", "fast", 1, 10)
    boto3_client(r.endpoint).put_object(Bucket="granary", Key=k, Body=b, Metadata=m)
    print(f"slow bodies cut after {max(lives):.1f}s at most; kept-alive slow headers cut after "
          f"{life:.1f}s (limit {idle_timeout}s + {header_timeout}s)")


def main():
    r = Receiver(extra=f'[http]\nthreads = 2\nheader_timeout = "{HEADER_TIMEOUT}s"\ntimeout = "30s"\n').start()
    run_receivers([r], lambda: test_slowloris(r), "receiver slowloris")
    short = Receiver(extra='[http]\nheader_timeout = "2s"\ntimeout = "4s"\nmin_body_rate = "1KiB"\n').start()
    run_receivers([short], lambda: test_slow_bodies_and_kept_alive(short, 2, 4),
                  "receiver slow bodies")


if __name__ == "__main__":
    main()
