#!/usr/bin/python3
"""A fault-injecting TCP proxy for tests (Python 3 stdlib only, asyncio).

    /usr/bin/python3 tests/sim/fault_proxy.py --target 127.0.0.1:PORT [--control-port 0]
        [--port 0] [--max-seconds 3600] [--idle-timeout 120]

Listens on 127.0.0.1 (random port unless --port) for proxied traffic and on a second
127.0.0.1 port for a small HTTP control API, then prints one line and flushes:

    PROXY_PORT=N CONTROL_PORT=M

Control API (HTTP/1.1, one request per connection, answers are JSON):
  POST /mode/<name>[?params]  set the fault for NEW connections (see below); 400 if unknown
  GET  /mode                  the current mode
  GET  /stats                 {"connections", "active", "modes": {name: count}, "bytes_forwarded",
                               "bytes_client_to_target", "bytes_target_to_client", ...}
  POST /stats/reset           zero the counters
  POST /kill                  RST every live proxied connection (a network drop mid-transfer)

Modes (every mode takes ?times=K: apply it to the next K connections, then revert to pass):
  pass                  forward both ways (default)
  refuse                stop listening (clients get ECONNREFUSED); the port is re-bound when the
                        mode changes again. With times=K the port stays open and each of the K
                        connections is accepted and immediately reset (RST), so they can be counted.
  delay?ms=N            forward, delaying each direction's data by N ms (latency, not a rate limit)
  reset_mid_body?after=N  forward the first N bytes of the client's data to the target, then RST
                        both sides (if the client sends fewer, the connection behaves like pass)
  http500               answer 500 InternalError (S3 XML) without contacting the target
  http503               answer 503 ServiceUnavailable (S3 XML, Retry-After: 1)
  slowdown              answer 503 SlowDown (S3 XML, Retry-After: 1)
  blackhole[?read=0]    accept and never answer; reads and discards the client's data
                        (read=0: never reads, so the client's send blocks); closed after 600 s
For http500/http503/slowdown the request is read and discarded first (headers, then a
Content-Length or chunked body). With "Expect: 100-continue" no 100 is sent: the answer goes
out right after the headers. The answer has "Connection: close"; the proxy then half-closes
and drains what the client still sends (bounded), so the client sees the answer, not a reset.

Setting pass or delay WITHOUT times also changes the delay of live forwarded connections.
Every wait is bounded; the proxy exits after --max-seconds, and cleanly on SIGTERM/SIGINT.
"""
import argparse
import asyncio
import json
import signal
import socket
import struct
import sys
import time
from urllib.parse import parse_qs, urlsplit

CHUNK = 64 * 1024
BLACKHOLE_CAP_S = 600.0
HEADER_LIMIT = 64 * 1024
DRAIN_AFTER_ANSWER_S = 2.0
CONNECT_TIMEOUT_S = 10.0
MAX_ACTIVE = 512
MODES = ("pass", "refuse", "delay", "reset_mid_body", "http500", "http503", "slowdown",
         "blackhole")

CANNED = {
    "http500": (500, "Internal Server Error", "InternalError",
                "We encountered an internal error. Please try again.", False),
    "http503": (503, "Service Unavailable", "ServiceUnavailable",
                "Service is unable to handle request.", True),
    "slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate.", True),
}


class Conn:
    """One proxied connection: its sockets and its (mutable) delay."""

    def __init__(self, client_writer, delay_s, mode):
        self.client_writer = client_writer
        self.mode = mode
        self.since = self.last_activity = time.monotonic()
        self.target_writer = None
        self.delay_s = delay_s
        self.task = None
        self.forwarding = False  # pass/delay connections follow live delay changes

    def abort(self):
        for w in (self.client_writer, self.target_writer):
            if w is not None:
                rst(w)


def rst(writer):
    """Close a stream with RST (SO_LINGER 0), not FIN."""
    try:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


class Proxy:
    def __init__(self, args):
        self.args = args
        self.target = args.target
        self.mode = "pass"
        self.params = {}
        self.times = None  # None: until changed; K: next K connections
        self.server = None
        self.port = args.port
        self.conns = set()
        self.stop = asyncio.Event()
        self.reset_stats()

    def reset_stats(self):
        self.stats = {"connections": 0, "modes": {m: 0 for m in MODES},
                      "bytes_client_to_target": 0, "bytes_target_to_client": 0,
                      "target_connect_failures": 0, "rejected_over_limit": 0,
                      "started": time.time()}

    # ------------------------------------------------------------ listening

    async def listen(self):
        if self.server is None:
            self.server = await asyncio.start_server(
                self.on_client, "127.0.0.1", self.port, reuse_address=True, backlog=128,
                limit=HEADER_LIMIT)
            self.port = self.server.sockets[0].getsockname()[1]

    async def unlisten(self):
        if self.server is not None:
            self.server.close()
            self.server = None

    async def set_mode(self, name, params):
        if name not in MODES:
            raise ValueError(f"unknown mode {name!r}; one of {', '.join(MODES)}")
        clean = {}
        for key, conv in (("ms", int), ("after", int), ("times", int), ("read", int)):
            if key in params:
                clean[key] = conv(params[key])
                if clean[key] < 0:
                    raise ValueError(f"{key} must be >= 0")
        times = clean.pop("times", None)
        self.mode, self.params, self.times = name, clean, times
        if name == "refuse" and times is None:
            await self.unlisten()
        else:
            await self.listen()
        if times is None and name in ("pass", "delay"):
            d = clean.get("ms", 1000) / 1000.0 if name == "delay" else 0.0
            for c in self.conns:
                if c.forwarding:
                    c.delay_s = d
        if times == 0:
            await self.revert()

    async def revert(self):
        self.mode, self.params, self.times = "pass", {}, None
        await self.listen()

    def mode_info(self):
        return {"mode": self.mode, "params": self.params, "times": self.times,
                "listening": self.server is not None, "proxy_port": self.port}

    def take_mode(self):
        """The mode for a newly accepted connection (and count down times=K)."""
        mode, params = self.mode, dict(self.params)
        if self.times is not None:
            self.times -= 1
            if self.times <= 0:
                self.mode, self.params, self.times = "pass", {}, None
        return mode, params

    # ------------------------------------------------------------ proxied connections

    async def on_client(self, reader, writer):
        if len(self.conns) >= MAX_ACTIVE:
            self.stats["rejected_over_limit"] += 1
            rst(writer)
            return
        mode, params = self.take_mode()
        self.stats["connections"] += 1
        self.stats["modes"][mode] += 1
        conn = Conn(writer, params.get("ms", 1000) / 1000.0 if mode == "delay" else 0.0, mode)
        conn.task = asyncio.current_task()
        self.conns.add(conn)
        try:
            if mode == "refuse":
                rst(writer)
            elif mode in ("pass", "delay"):
                conn.forwarding = True
                await self.forward(conn, reader, None)
            elif mode == "reset_mid_body":
                await self.forward(conn, reader, params.get("after", 0))
            elif mode in CANNED:
                await self.canned(reader, writer, CANNED[mode])
            elif mode == "blackhole":
                await self.blackhole(reader, writer, params.get("read", 1))
        except Exception:  # resets, timeouts, malformed requests: drop the connection hard
            conn.abort()
        except asyncio.CancelledError:
            conn.abort()
            raise
        finally:
            self.conns.discard(conn)
            if not writer.transport.is_closing():
                writer.transport.abort()
            if conn.target_writer is not None and not conn.target_writer.transport.is_closing():
                conn.target_writer.transport.abort()

    async def forward(self, conn, creader, reset_after):
        host, port = self.target
        try:
            treader, twriter = await asyncio.wait_for(
                asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError):
            self.stats["target_connect_failures"] += 1
            rst(conn.client_writer)
            return
        conn.target_writer = twriter
        if reset_after == 0:
            conn.abort()
            return
        budget = [reset_after]  # bytes of client data still to forward before the RST
        reset_hit = asyncio.Event()
        c2t = asyncio.create_task(self.pump(conn, creader, twriter, "bytes_client_to_target",
                                            budget if reset_after is not None else None,
                                            reset_hit))
        t2c = asyncio.create_task(self.pump(conn, treader, conn.client_writer,
                                            "bytes_target_to_client", None, None))
        try:
            pending = {c2t, t2c}
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    if t.exception() is not None:
                        raise t.exception()
                if reset_hit.is_set():
                    conn.abort()
                    return
        finally:
            for t in (c2t, t2c):
                t.cancel()
            await asyncio.gather(c2t, t2c, return_exceptions=True)
        if not conn.client_writer.transport.is_closing():
            conn.client_writer.close()
        if not twriter.transport.is_closing():
            twriter.close()

    async def pump(self, conn, reader, writer, counter, budget, reset_hit):
        """Copy one direction until EOF, applying the connection's delay.

        The read side queues (due time, data), so a delay adds latency without limiting
        throughput; the bounded queue gives back-pressure. The idle timeout is per
        connection (no data in EITHER direction for --idle-timeout s), so a long upload
        with a silent target is not cut."""
        queue = asyncio.Queue(maxsize=64)
        idle = self.args.idle_timeout

        async def read_side():
            try:
                while True:
                    try:
                        data = await asyncio.wait_for(reader.read(CHUNK), idle)
                    except asyncio.TimeoutError:
                        if time.monotonic() - conn.last_activity >= idle:
                            raise
                        continue
                    conn.last_activity = time.monotonic()
                    due = conn.last_activity + conn.delay_s
                    if budget is not None and data:
                        data = data[:budget[0]]
                        budget[0] -= len(data)
                        await queue.put((due, data))
                        if budget[0] <= 0:  # budget used up: RST once this is written
                            await queue.put((due, None))
                            return
                        continue
                    await queue.put((due, data))
                    if not data:
                        return
            except Exception as e:  # hand it to the writer side
                await queue.put((0, e))

        reader_task = asyncio.create_task(read_side())
        try:
            while True:
                due, data = await queue.get()  # the read side always ends with an item
                if isinstance(data, Exception):
                    raise data
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:  # reset_mid_body budget used up
                    await asyncio.wait_for(writer.drain(), idle)
                    reset_hit.set()
                    return
                if not data:  # EOF: pass the half-close on
                    if writer.can_write_eof() and not writer.transport.is_closing():
                        writer.write_eof()
                    return
                writer.write(data)
                await asyncio.wait_for(writer.drain(), idle)
                conn.last_activity = time.monotonic()
                self.stats[counter] += len(data)
        finally:
            reader_task.cancel()
            await asyncio.gather(reader_task, return_exceptions=True)

    async def canned(self, reader, writer, answer):
        status, reason, code, message, retry = answer
        idle = self.args.idle_timeout
        head = await asyncio.wait_for(read_head(reader), idle)
        lines = head.decode("latin-1").split("\r\n")
        method = lines[0].split(" ", 1)[0].upper() if lines and lines[0] else ""
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if headers.get("expect", "").lower() != "100-continue":
            await asyncio.wait_for(discard_body(reader, headers), idle)
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f'<Message>{message}</Message><RequestId>faultproxy</RequestId></Error>')
        body = body.encode()
        out = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/xml",
               f"Content-Length: {len(body)}", "Connection: close",
               "x-amz-request-id: faultproxy", "Server: fault_proxy"]
        if retry:
            out.append("Retry-After: 1")
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else body))
        await asyncio.wait_for(writer.drain(), idle)
        # Half-close, then drain what the client still sends (e.g. the body it sent anyway
        # after "Expect: 100-continue"), so our close does not turn into a RST that could
        # destroy the answer in the client's receive buffer.
        if writer.can_write_eof():
            writer.write_eof()
        deadline = time.monotonic() + DRAIN_AFTER_ANSWER_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                data = await asyncio.wait_for(reader.read(CHUNK), left)
            except (asyncio.TimeoutError, OSError):
                break
            if not data:
                break
        writer.close()

    async def blackhole(self, reader, writer, read):
        deadline = time.monotonic() + BLACKHOLE_CAP_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if writer.transport.is_closing():  # /kill or shutdown
                break
            if not read:
                await asyncio.sleep(min(left, 1.0))
                continue
            try:
                data = await asyncio.wait_for(reader.read(CHUNK), min(left, 1.0))
            except asyncio.TimeoutError:
                continue
            if not data:
                read = 0  # the client half-closed: keep the socket open, still no answer
        writer.close()

    # ------------------------------------------------------------ control API

    async def on_control(self, reader, writer):
        try:
            head = await asyncio.wait_for(read_head(reader), 10)
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            await asyncio.wait_for(discard_body(reader, headers), 10)
            status, obj = await self.control(method.upper(), target)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError, OSError) as e:
            status, obj = 400, {"error": f"bad request: {e!r}"}
        body = (json.dumps(obj, sort_keys=True) + "\n").encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  500: "Internal Server Error"}.get(status, "Error")
        try:
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                         + body)
            await asyncio.wait_for(writer.drain(), 10)
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()

    async def control(self, method, target):
        url = urlsplit(target)
        path = url.path.rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if path.startswith("/mode/"):
            if method != "POST":
                return 405, {"error": "use POST"}
            try:
                await self.set_mode(path[len("/mode/"):], params)
            except ValueError as e:
                return 400, {"error": str(e)}
            except OSError as e:
                return 500, {"error": f"cannot listen on port {self.port} again: {e}"}
            return 200, self.mode_info()
        if path == "/mode" and method == "GET":
            return 200, self.mode_info()
        if path == "/stats" and method == "GET":
            s = dict(self.stats)
            s["modes"] = dict(s["modes"])
            s["active"] = len(self.conns)
            now = time.monotonic()
            s["live"] = [{"mode": c.mode, "age_s": round(now - c.since, 3),
                          "delay_ms": round(c.delay_s * 1000)} for c in self.conns]
            s["bytes_forwarded"] = s["bytes_client_to_target"] + s["bytes_target_to_client"]
            s["uptime_s"] = round(time.time() - s.pop("started"), 3)
            s.update(self.mode_info())
            return 200, s
        if path == "/stats/reset" and method == "POST":
            self.reset_stats()
            return 200, {"ok": True}
        if path == "/kill" and method == "POST":
            n = len(self.conns)
            for c in list(self.conns):
                c.abort()
            return 200, {"killed": n}
        return 404, {"error": f"no such endpoint {method} {path}"}


async def read_head(reader):
    """Read an HTTP request head through the blank line (bounded by the StreamReader's
    limit, HEADER_LIMIT: LimitOverrunError beyond it)."""
    return (await reader.readuntil(b"\r\n\r\n"))[:-4]


async def discard_body(reader, headers):
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return
            await reader.readexactly(size + 2)
    n = int(headers.get("content-length", "0") or 0)
    while n > 0:
        data = await reader.read(min(n, CHUNK))
        if not data:
            return
        n -= len(data)


def parse_target(s):
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host, int(port)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True, type=parse_target, help="HOST:PORT to forward to")
    ap.add_argument("--port", type=int, default=0, help="proxy port (default: random)")
    ap.add_argument("--control-port", type=int, default=0, help="control port (default: random)")
    ap.add_argument("--max-seconds", type=float, default=3600, help="exit after this long")
    ap.add_argument("--idle-timeout", type=float, default=120,
                    help="abort a forwarded connection idle this long (seconds)")
    args = ap.parse_args()

    proxy = Proxy(args)
    await proxy.listen()
    control = await asyncio.start_server(proxy.on_control, "127.0.0.1", args.control_port,
                                         reuse_address=True, limit=HEADER_LIMIT)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, proxy.stop.set)
    print(f"PROXY_PORT={proxy.port} CONTROL_PORT={control.sockets[0].getsockname()[1]}",
          flush=True)
    try:
        await asyncio.wait_for(proxy.stop.wait(), args.max_seconds)
    except asyncio.TimeoutError:
        print("fault_proxy: --max-seconds reached, exiting", file=sys.stderr, flush=True)
    control.close()
    await proxy.unlisten()
    tasks = [c.task for c in list(proxy.conns) if c.task is not None]
    for c in list(proxy.conns):
        c.abort()
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=2)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
