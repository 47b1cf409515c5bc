#!/usr/bin/python3
"""A scripted HTTP sensor for tests, the demo and the benchmark (stdlib only).

Binds 127.0.0.1 on a random port and prints the port as its first stdout line. Paths:
  /json             a JSON object (power varies with time)
  /nested           a fixed nested object, for JSON pointer tests
  /status/N         status N with a short text body
  /html             an HTML error page with status 200
  /notjson          text that is not JSON, status 200
  /array            a JSON array
  /badutf8          a JSON object whose string holds a byte that is not UTF-8 (at byte 13)
  /nul              a JSON object whose string holds \u0000, and a string "a\\u0000b" that does not
  /bignum           a JSON object with a number no double holds (1e999999)
  /huge             a 5 MiB body with Content-Length (?chunked=1: without it)
  /endless          a chunked body that never ends (stops after 60 s);
                    ?interval_ms=50&chunk=1024 set its pace
  /slow?ms=N        sleeps N ms, then answers like /json
  /auth             needs HTTP Basic u/p, else 401
  /redirect         302 to /json
  /count            {"count": N}: requests seen so far, this one not included
  /peer             {"port": P}: the client's port, to tell a reused connection
  /echo-headers     the request's headers as a JSON object
Runs until killed.
"""
import base64
import json
import math
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ENDLESS_LIMIT_S = 60
HUGE_BYTES = 5 * 1024 * 1024

NESTED = {
    "data": {"power": 1500, "phases": [{"v": 230.1}, {"v": 231.2}, {"v": 229.8}]},
    "a/b": 1,
    "m~n": 2,
    "": 3,
    "name": "meter-1",
    "flags": {"ok": True, "err": None},
}

_count = 0
_count_lock = threading.Lock()


def sample():
    t = time.time()
    return {"power": round(1200 + 300 * math.sin(t / 30), 1), "voltage": 230.1,
            "meter": {"demand": 1.5, "delivered": 12345.6}, "ok": True}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the agent reuses its connection
    # One write per answer (flushed after each request), as embedded servers send a small
    # response; unbuffered, http.server writes headers and body apart and every client
    # wakes twice per poll.
    wbufsize = 64 * 1024

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # a benchmark's 100 pollers would flood stderr

    def send_body(self, status, body, content_type="application/json", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def start_chunked(self, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def do_GET(self):
        global _count
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        if path == "/count":
            with _count_lock:
                n = _count
            return self.send_body(200, json.dumps({"count": n}))
        with _count_lock:
            _count += 1
        try:
            self.route(path, query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up, e.g. at its max_body

    def route(self, path, query):
        if path == "/json":
            self.send_body(200, json.dumps(sample()))
        elif path == "/nested":
            self.send_body(200, json.dumps(NESTED))
        elif path.startswith("/status/"):
            code = int(path[len("/status/"):])
            self.send_body(code, f"status {code} from the simulator\n", "text/plain")
        elif path == "/html":
            self.send_body(200, "<html><head><title>Error</title></head>\n<body><h1>Internal "
                           "error</h1>\n<p>Try again later.</p></body></html>\n", "text/html")
        elif path == "/notjson":
            self.send_body(200, "this is not json {", "text/plain")
        elif path == "/array":
            self.send_body(200, "[1,2,3]")
        elif path == "/badutf8":
            self.send_body(200, b'{"name": "met\xffer", "v": 1}')
        elif path == "/nul":
            self.send_body(200, '{"s": "a\\u0000b", "t": "a\\\\u0000b", "v": 1.50}')
        elif path == "/bignum":
            self.send_body(200, '{"v": 1e999999}')
        elif path == "/huge":
            block = b'{"pad":"' + b"x" * (HUGE_BYTES - 10) + b'"}'
            if query.get("chunked") == "1":
                self.start_chunked("application/json")
                for i in range(0, len(block), 65536):
                    self.send_chunk(block[i:i + 65536])
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_body(200, block)
        elif path == "/endless":
            interval = int(query.get("interval_ms", "50")) / 1000
            chunk = b"0," * (int(query.get("chunk", "1024")) // 2)
            self.start_chunked("application/json")
            self.send_chunk(b'{"data":[')
            end = time.monotonic() + ENDLESS_LIMIT_S
            while time.monotonic() < end:
                self.send_chunk(chunk)
                time.sleep(interval)
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/slow":
            time.sleep(int(query.get("ms", "1000")) / 1000)
            self.send_body(200, json.dumps(sample()))
        elif path == "/auth":
            expected = "Basic " + base64.b64encode(b"u:p").decode()
            if self.headers.get("Authorization") == expected:
                self.send_body(200, json.dumps({"auth": "ok"}))
            else:
                self.send_body(401, "unauthorized\n", "text/plain",
                               [("WWW-Authenticate", 'Basic realm="sim"')])
        elif path == "/peer":
            self.send_body(200, json.dumps({"port": self.client_address[1]}))
        elif path == "/echo-headers":
            self.send_body(200, json.dumps(dict(self.headers.items())))
        elif path == "/redirect":
            self.send_body(302, "moved\n", "text/plain", [("Location", "/json")])
        else:
            self.send_body(404, "no such path\n", "text/plain")


class Server(ThreadingHTTPServer):
    # Sources poll on aligned ticks, so a hundred connects arrive at once; the default
    # backlog of 5 drops SYNs and turns them into one-second connect timeouts.
    request_queue_size = 256


def main():
    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
