"""Abuse: 200 slow connections (slowloris, trickling header bytes from 127.0.0.2) do not stop
a legitimate upload from 127.0.0.1; the per-IP limit answers connections beyond it from one
address with 503 SlowDown and Retry-After (not a reset) while others still get in; an idle connection is closed after the timeout; and the
receiver still serves afterwards."""
import socket
import sys
import threading
import time

from harness import check
from receiver_harness import Receiver, boto3_client, segment

SLOW = 200
PER_IP = 210


def slow_socket(port):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(b"PUT /granary/granary/h017/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return s


def answer(s, within):
    """What the server sends before it closes the connection (b"" when it resets it)."""
    s.settimeout(within)
    data = b""
    try:
        while chunk := s.recv(4096):
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def closed_by_server(s, within):
    s.settimeout(within)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def main():
    r = Receiver(extra=f'[http]\nthreads = 2\nper_ip_limit = {PER_IP}\ntimeout = "4s"\n').start()
    socks = []
    stop = threading.Event()
    try:
        socks = [slow_socket(r.port) for _ in range(SLOW)]

        def trickle():  # one header byte per connection every second: never idle long
            n = 0
            while not stop.is_set():
                for s in list(socks):
                    try:
                        s.sendall(b"X-Slow-%d: %d\r\n" % (n, n))
                    except OSError:
                        pass
                n += 1
                stop.wait(1.0)

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        time.sleep(1.5)
        s3 = boto3_client(r.endpoint)
        key, body, meta = segment("h017", "meter", 1, 3600)
        started = time.time()
        s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)
        took = time.time() - started
        check(s3.get_object(Bucket="granary", Key=key)["Body"].read() == body, "legit upload bytes")
        check(took < 5, f"legitimate upload took {took:.1f}s under {SLOW} slow connections")

        # Per-IP limit: 127.0.0.2 already holds 200 of its 210; 20 more: the extra are refused
        # with an answer a client can act on (503 SlowDown, Retry-After), then closed.
        extra = [slow_socket(r.port) for _ in range(20)]
        time.sleep(0.5)  # well inside the 4 s idle timeout
        for s in extra:
            try:
                s.sendall(b"\r\n")
            except OSError:
                pass  # reset: counted as not answered below
        answers = [answer(s, 2) for s in extra]
        refused = sum(1 for a in answers if a.startswith(b"HTTP/1.1 503") and b"SlowDown" in a
                      and b"Retry-After: 1" in a)
        check(refused >= 20 - (PER_IP - SLOW), f"only {refused} of 20 over-limit connections refused")
        check(refused <= 20 - (PER_IP - SLOW) + 1, f"{refused} refused: the limit bites too early")
        for s in extra:
            s.close()
        status, _ = r.api("/healthz", token=None)
        check(status == 200, "another address was refused while 127.0.0.2 was at its limit")

        # Idle connections (no more trickle) are closed after the timeout.
        stop.set()
        t.join()
        time.sleep(0.5)
        closed = sum(1 for s in socks[:20] if closed_by_server(s, 8))
        check(closed == 20, f"only {closed} of 20 idle connections closed after the 4 s timeout")
        status, _ = r.api("/healthz", token=None)
        check(status == 200, "receiver unhealthy after the abuse")
        print(f"receiver abuse: ok (upload in {took:.2f}s under {SLOW} slow connections, "
              f"{refused} over-limit connections refused)")
    except SystemExit:
        print(r.read_log()[-3000:], file=sys.stderr)
        raise
    finally:
        stop.set()
        for s in socks:
            s.close()
        r.stop()


if __name__ == "__main__":
    main()
