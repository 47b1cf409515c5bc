#!/usr/bin/python3
"""A Rainforest EAGLE gateway simulator for tests and the demo (Python 3 stdlib only).

    /usr/bin/python3 tests/sim/eagle_sim.py [--generation gen2|gen1] [--cloud-id 00a1b2]
        [--install-code 0123456789abcdef] [--firmware fw2019|fw2021|omit_delivered]
        [--max-seconds 3600] [--tls-cert CERT.pem --tls-key KEY.pem] [--live]

Binds 127.0.0.1 on a random port and prints the port as its first stdout line.

POST /cgi-bin/post_manager (HTTP Basic: cloud ID / install code) answers as the device does,
with bodies built from tests/fixtures/eagle:
  gen2: device_list lists a stale "Not joined" meter FIRST, then two connected meters
        (METER_A, the newest LastContact, and METER_B); device_query answers the named
        variables, or all of them for <All>Y</All>. --firmware omit_delivered leaves
        CurrentSummationDelivered out of targeted queries (as some firmware does);
        fw2021 uses the renamed price variables (PriceCurrency).
  gen1: get_network_info (Z109-EAGLE), get_instantaneous_demand, get_current_summation,
        get_price; the demand TimeStamp advances by one second per request.
Values are fixed per meter (see METERS), so a test can check them exactly. With --live (the
demo) they move as a meter's do: demand wanders around the meter's fixed value, each
summation grows by what the demand delivered (or, when negative, received) since the last
request, and LastContact (gen2) and TimeStamp (gen1) are now. The answers keep the fixtures'
bytes apart from those values.

Control (no auth), one request per connection, JSON answers:
  POST /control/mode?name=M[&times=K][&ms=N]  fault for the next K gateway requests (default
                                              all, until the next mode): ok, auth_fail (401),
                                              busy (503 "Timeout waiting for response"),
                                              slow (sleep ms, then answer), html (200 with an
                                              HTML error page), truncated (200, XML cut in half),
                                              error (200 <Error><Description>), redirect (301
                                              to https://192.168.7.1/), not_joined (every meter
                                              reported "Not joined"), zero_summation (gen2
                                              CurrentSummationDelivered 0, as after a power cut)
  POST /control/generation?name=gen1|gen2
  GET  /control/stats    {"requests", "by_command" (<All>Y</All> queries also as "device_query <All>"), "max_concurrent", "min_gap_ms", "modes_served"};
                         a request counts as concurrent from its arrival until its answer starts
                         (a slow one: until its sleep starts); min_gap_ms is the least time
                         from the start of an answer to the next request
  POST /control/stats/reset
Exits after --max-seconds, or on SIGTERM.
"""
import argparse
import base64
import json
import math
import os
import random
import re
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "eagle")

STALE_METER = "0x001350050044accb"
METER_A = "0x0013500100aa3ce7"
METER_B = "0x0007810000123456"
# Decimal text as the gateway sends it; the decoded numbers tests expect are in the comments.
METERS = {
    METER_A: {"demand": "2.790000", "delivered": "91937.250000", "received": "0.000000",
              "last_contact": 0x66d8e452},  # 2.79 kW, 91937.25 kWh, 0 kWh
    METER_B: {"demand": "-1.250000", "delivered": "1234.500000", "received": "17.125000",
              "last_contact": 0x66d8e400},  # -1.25 kW (export), 1234.5 kWh, 17.125 kWh
}
# Zigbee time counts seconds from 2000-01-01T00:00:00Z.
ZIGBEE_EPOCH = 946684800
FAULTS = ("ok", "auth_fail", "busy", "slow", "html", "truncated", "error", "redirect",
          "not_joined", "zero_summation")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.generation = args.generation
        self.firmware = args.firmware
        self.auth = "Basic " + base64.b64encode(
            f"{args.cloud_id}:{args.install_code}".encode()).decode()
        self.mode, self.times, self.ms = "ok", None, 0
        self.gen1_ts = 0x1c91ec39
        self.live = LiveMeters() if args.live else None
        self.reset_stats()

    def reset_stats(self):
        """Zeroes the counters; requests in service stay counted as in service."""
        self.requests = 0
        self.by_command = {}
        self.concurrent = getattr(self, "concurrent", 0)
        self.max_concurrent = self.concurrent
        self.last_answer = None  # monotonic time the last answer started
        self.min_gap_ms = None   # least time from an answer to the next request
        self.modes_served = {}

    def take_mode(self):
        """The fault for this request, counting down `times`."""
        with self.lock:
            mode, ms = self.mode, self.ms
            if self.times is not None:
                self.times -= 1
                if self.times <= 0:
                    self.mode, self.times = "ok", None
            self.modes_served[mode] = self.modes_served.get(mode, 0) + 1
            return mode, ms


class LiveMeters:
    """--live: every meter's values as they would be now. Demand follows a slow wave with
    some noise around the meter's fixed value (its sign kept); the summations integrate it,
    so they never go down."""

    PERIOD_S = 300.0

    def __init__(self):
        self.lock = threading.Lock()
        self.random = random.Random()
        self.at = time.time()
        self.values = {address: {"demand": float(m["demand"]), "delivered": float(m["delivered"]),
                                 "received": float(m["received"])}
                       for address, m in METERS.items()}

    def now(self):
        """{address: {"demand", "delivered", "received" (decimal text), "last_contact"}}."""
        with self.lock:
            now = time.time()
            hours = max(0.0, now - self.at) / 3600.0
            self.at = now
            out = {}
            for i, (address, v) in enumerate(self.values.items()):
                base = float(METERS[address]["demand"])
                wave = math.sin(2 * math.pi * now / self.PERIOD_S + i)
                demand = base * (1 + 0.4 * wave + self.random.uniform(-0.05, 0.05))
                v["delivered"] += max(v["demand"], 0.0) * hours
                v["received"] += max(-v["demand"], 0.0) * hours
                v["demand"] = demand
                # The first meter has the newest contact, as in fixture mode.
                out[address] = {"demand": f"{demand:.6f}", "delivered": f"{v['delivered']:.6f}",
                                "received": f"{v['received']:.6f}",
                                "last_contact": int(now) - 60 * i}
            return out


def meters(state):
    """Each meter's values for this answer: the fixed ones, or --live's."""
    return state.live.now() if state.live else METERS


def tag(body, name):
    m = re.search(rf"<{name}>\s*(.*?)\s*</{name}>", body, re.S | re.I)
    return m.group(1) if m else ""


def device_xml(address, status, last_contact, indent="  "):
    return (f"{indent}<Device>\n"
            f"{indent}  <Name>Power Meter</Name>\n"
            f"{indent}  <HardwareAddress>{address}</HardwareAddress>\n"
            f"{indent}  <Manufacturer>Generic</Manufacturer>\n"
            f"{indent}  <ModelId>electric_meter</ModelId>\n"
            f"{indent}  <Protocol>Zigbee</Protocol>\n"
            f"{indent}  <LastContact>0x{last_contact:08x}</LastContact>\n"
            f"{indent}  <ConnectionStatus>{status}</ConnectionStatus>\n"
            f"{indent}  <NetworkAddress>{'0x0000' if status == 'Connected' else '0xffff'}"
            f"</NetworkAddress>\n"
            f"{indent}</Device>\n")


def device_list(not_joined, values):
    status = "Not joined" if not_joined else "Connected"
    # A thermostat of the control network and the stale meter come before the real ones.
    body = "<DeviceList>\n"
    body += device_xml(STALE_METER, "Not joined", 0)
    body += ("  <Device>\n    <HardwareAddress>0x000d6f000aaaaaaa</HardwareAddress>\n"
             "    <ModelId>thermostat</ModelId>\n    <LastContact>0x66d8e460</LastContact>\n"
             "    <ConnectionStatus>Connected</ConnectionStatus>\n  </Device>\n")
    for address, m in values.items():
        body += device_xml(address, status, m["last_contact"])
    return body + "</DeviceList>\n"


def device_query(request, state, mode):
    """fixture 2 with this meter's address, status and values; only the asked variables."""
    address = tag(request, "HardwareAddress")
    meter = meters(state).get(address.lower())
    if meter is None:
        return "<Error><Description>Unknown device</Description></Error>"
    xml = fixture("eagle200_device_query_all_fw2019.xml")
    xml = xml.replace("0x0007810000123456", address)
    xml = xml.replace("<LastContact>0x5c5aff97</LastContact>",
                      f"<LastContact>0x{meter['last_contact']:08x}</LastContact>")
    if mode == "not_joined":
        xml = xml.replace("<ConnectionStatus>Connected", "<ConnectionStatus>Not joined")
    values = {"zigbee:InstantaneousDemand": meter["demand"],
              "zigbee:CurrentSummationDelivered":
                  "0.000000" if mode == "zero_summation" else meter["delivered"],
              "zigbee:CurrentSummationReceived": meter["received"]}
    head, rest = xml.split("<Variables>", 1)
    variables, tail = rest.split("</Variables>", 1)
    blocks = re.findall(r"\s*<Variable>.*?</Variable>", variables, re.S)
    wanted = None if re.search(r"<All>\s*Y\s*</All>", request, re.I) else set(
        re.findall(r"<Name>\s*(zigbee:[^<]*?)\s*</Name>", request))
    out = []
    for block in blocks:
        name = tag(block, "Name")
        if wanted is not None and name not in wanted:
            continue
        if wanted is not None and state.firmware == "omit_delivered" and \
                name == "zigbee:CurrentSummationDelivered":
            continue
        if name in values:
            block = re.sub(r"<Value>.*?</Value>", f"<Value>{values[name]}</Value>", block)
        if state.firmware == "fw2021" and name == "zigbee:Currency":
            block = block.replace("zigbee:Currency", "zigbee:PriceCurrency")
        out.append(block)
    return head + "<Variables>" + "".join(out) + "\n      </Variables>" + tail


def gen1_reply(command, state):
    if command == "get_network_info":
        return fixture("eagle100_get_network_info.xml")
    if command == "get_instantaneous_demand":
        with state.lock:
            state.gen1_ts += 1
            ts = state.gen1_ts
        xml = fixture("eagle100_get_instantaneous_demand.xml")
        if state.live:
            # Multiplier 1, Divisor 1000: the raw demand is in W.
            live = state.live.now()[METER_A]
            ts = int(time.time()) - ZIGBEE_EPOCH
            watts = round(float(live["demand"]) * 1000) & 0xffffff
            xml = xml.replace("<Demand>0x0003b0</Demand>", f"<Demand>0x{watts:06x}</Demand>")
        return xml.replace("0x1c91ec39", f"0x{ts:08x}")
    if command == "get_current_summation":
        xml = fixture("eagle100_uploader_current_summation_reconstructed.xml")
        if state.live:
            live = state.live.now()[METER_A]
            ts = int(time.time()) - ZIGBEE_EPOCH
            wh = round(float(live["delivered"]) * 1000)
            xml = xml.replace("0x246d00c8", f"0x{ts:08x}").replace(
                "0x0000000006953720", f"0x{wh:016x}")
        return xml.replace("CurrentSummationDelivered>", "CurrentSummation>")
    if command == "get_price":
        return fixture("eagle100_get_price.xml")
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # Content-Length and close, as the device does

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def answer(self, status, body, content_type="text/html", headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.leave_service()
        self.send_response(status)
        self.send_header("Content-Type", content_type)  # the EAGLE says text/html for all
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out first: what a slow gateway looks like

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode("utf-8", "replace") if n else ""

    def do_GET(self):
        state = self.server.state
        if urlsplit(self.path).path == "/control/stats":
            with state.lock:
                stats = {"requests": state.requests, "by_command": state.by_command,
                         "max_concurrent": state.max_concurrent,
                         "min_gap_ms": state.min_gap_ms,
                         "modes_served": state.modes_served, "mode": state.mode,
                         "generation": state.generation}
            return self.answer(200, json.dumps(stats), "application/json")
        self.answer(404, "not found")

    def do_POST(self):
        url = urlsplit(self.path)
        if url.path.startswith("/control/"):
            return self.control(url)
        body = self.read_body()
        if url.path != "/cgi-bin/post_manager":
            return self.answer(404, "not found")
        state = self.server.state
        with state.lock:
            state.requests += 1
            if state.concurrent == 0 and state.last_answer is not None:
                gap = (time.monotonic() - state.last_answer) * 1000
                state.min_gap_ms = gap if state.min_gap_ms is None else min(state.min_gap_ms, gap)
            state.concurrent += 1
            state.max_concurrent = max(state.max_concurrent, state.concurrent)
            command = tag(body, "Name") or "(none)"
            state.by_command[command] = state.by_command.get(command, 0) + 1
            if re.search(r"<All>\s*Y\s*</All>", body, re.I):
                state.by_command["device_query <All>"] = \
                    state.by_command.get("device_query <All>", 0) + 1
        self.in_service = True
        try:
            self.gateway(body, command)
        finally:
            self.leave_service()

    def leave_service(self):
        """A request is in service from its arrival until its answer starts: a client that
        has the whole answer may send its next request before this thread runs again."""
        if getattr(self, "in_service", False):
            self.in_service = False
            with self.server.state.lock:
                self.server.state.concurrent -= 1
                self.server.state.last_answer = time.monotonic()

    def gateway(self, body, command):
        state = self.server.state
        mode, ms = state.take_mode()
        if mode == "auth_fail" or self.headers.get("Authorization") != state.auth:
            return self.answer(401, "<html><body>401 Unauthorized</body></html>",
                               headers=[("WWW-Authenticate", 'Basic realm="EAGLE"')])
        if mode == "busy":
            return self.answer(503, "Timeout waiting for response")
        if mode == "redirect":
            return self.answer(301, "", headers=[("Location", "https://192.168.7.1/cgi-bin/post_manager")])
        if mode == "html":
            return self.answer(200, "<!DOCTYPE html>\n<html><head><title>Error</title></head>"
                                    "<body><h1>Internal error</h1><br></body></html>\n")
        if mode == "error":
            return self.answer(200, "<Error><Description>Internal failure</Description></Error>")
        if mode == "slow":
            # The client gives up on a slow request and may send the next one while this
            # thread still sleeps; that is not the client overlapping its requests.
            self.leave_service()
            time.sleep(ms / 1000.0)
        if state.generation == "gen2":
            if command == "device_list":
                reply = device_list(mode == "not_joined", meters(state))
            elif command == "device_query":
                reply = device_query(body, state, mode)
            else:
                reply = "<Error><Description>Unknown command</Description></Error>"
        else:
            reply = gen1_reply(command, state)
            if reply is None:
                return self.answer(400, "Unknown command")
        if mode == "truncated":
            reply = reply[: len(reply) // 2]
        self.answer(200, reply)

    def control(self, url):
        state = self.server.state
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/control/mode":
            name = q.get("name", "")
            if name not in FAULTS:
                return self.answer(400, json.dumps({"error": f"unknown mode {name}"}),
                                   "application/json")
            with state.lock:
                state.mode = name
                state.times = int(q["times"]) if "times" in q else None
                state.ms = int(q.get("ms", "0"))
        elif url.path == "/control/generation":
            if q.get("name") not in ("gen1", "gen2"):
                return self.answer(400, json.dumps({"error": "gen1 or gen2"}), "application/json")
            with state.lock:
                state.generation = q["name"]
        elif url.path == "/control/stats/reset":
            with state.lock:
                state.reset_stats()
        else:
            return self.answer(404, "not found")
        self.answer(200, json.dumps({"ok": True}), "application/json")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--generation", choices=("gen1", "gen2"), default="gen2")
    p.add_argument("--firmware", choices=("fw2019", "fw2021", "omit_delivered"), default="fw2019")
    p.add_argument("--cloud-id", default="00a1b2")
    p.add_argument("--install-code", default="0123456789abcdef")
    p.add_argument("--max-seconds", type=float, default=3600)
    p.add_argument("--tls-cert", help="PEM certificate: serve HTTPS, as an EAGLE 3 does")
    p.add_argument("--tls-key", help="PEM key of --tls-cert")
    p.add_argument("--live", action="store_true",
                   help="values that move like a real meter's (the demo); tests want the fixed ones")
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    server.state = State(args)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Timer(args.max_seconds, lambda: os._exit(0)).start()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
