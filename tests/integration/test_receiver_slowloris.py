"""Slowloris against the real receiver: 1,100 connections from twenty loopback addresses
(127.0.0.2-21) each trickle a header line a second, reconnecting whenever they are cut,
while a legitimate client uploads 100 segments from 127.0.0.1. Every upload succeeds (with
the client's retries) and no slow connection lives much past http.header_timeout (3 s here).
On main they lived for ever and held every slot of the 1,024-connection limit."""
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


def main():
    r = Receiver(extra=f'[http]\nthreads = 2\nheader_timeout = "{HEADER_TIMEOUT}s"\ntimeout = "30s"\n').start()
    run_receivers([r], lambda: test_slowloris(r), "receiver slowloris")


if __name__ == "__main__":
    main()
