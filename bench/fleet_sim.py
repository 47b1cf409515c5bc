"""A simulated fleet uploading to a receiver (or a balancer in front of several): N devices,
each sealing one segment an hour per source and PUTting it with real SigV4 (botocore), on an
accelerated clock (one hour per second by default). Two profiles, in the agent's exact
format (docs/formats.md): an EAGLE meter (an `eagle` source polled every 6 s: 600 readings
an hour) and a harvester (a `file` source reading 20 hwmon sensors at 1 Hz: 3,600 readings
of 20 values an hour).

Segments are generated once before the clock starts (cached in --segments-dir for a second
run), so the timed part is signing and PUTting, as an agent's upload worker does. Bounded:
--hours of segments per device, and no new PUT after --max-seconds.

It prints accepted segments/s, readings/s, p50/p99 PUT latency, errors by code and, when
told the processes, each receiver's CPU per segment (/proc/PID/stat) and PostgreSQL's rows,
WAL and database bytes per segment (pg_stat_database, pg_stat_user_tables).

usage: fleet_sim.py --endpoint URL --receiver-bin BIN --receiver-config CFG [options]
(/usr/bin/python3: Debian's python3-botocore)"""
import argparse
import base64
import gzip
import hashlib
import http.client
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HOUR_MS = 3600 * 1000
BUCKET = "granary"
PREFIX = "granary"
PROFILES = {
    # source name, poll interval (s) as the agent's config would set it
    "meter": ("meter", 6),
    "harvester": ("board", 1),
}
# A harvester's `file` source over two hwmon directories (packaging/examples/harvester.toml
# at 1 s): 4 CPU temperatures, 8 voltages and 8 currents, in the names the agent gives them.
HARVESTER_SENSORS = ([f"cpu_temp{i}_input" for i in range(1, 5)] + [f"in{i}_input" for i in range(8)]
                     + [f"curr{i}_input" for i in range(1, 9)])


def device_names(devices, harvester_share):
    harvesters = round(devices * harvester_share)
    return ([(f"harvester-{i:05d}", "harvester") for i in range(1, harvesters + 1)]
            + [(f"meter-{i:05d}", "meter") for i in range(1, devices - harvesters + 1)])


def segment_key(device, source, hour_ms, first):
    t = datetime.fromtimestamp(hour_ms / 1000, timezone.utc)
    return (f"{PREFIX}/{device}/{source}/{t:%Y/%m/%d}/"
            f"{device}-{source}-{t:%Y%m%dT%H}-{first}.jsonl.gz")


def meter_hour(device, rng, state, hour_ms, first):
    """600 EAGLE readings (docs/configuration.md, `type = "eagle"`): demand that wanders
    around a household's load, the summation growing with it, the meter's own time a few
    seconds behind the agent's poll."""
    lines = []
    for i in range(600):
        ts = hour_ms + i * 6000 + rng.randint(1, 40)
        state["demand"] = min(9.5, max(0.12, state["demand"] + rng.gauss(0, 0.08)))
        state["kwh"] += state["demand"] * 6 / 3600
        lines.append(f'{{"device":"{device}","source":"meter","seq":{first + i},"ts":{ts},'
                     f'"data":{{"meter":"{state["meter"]}","demand_kw":{state["demand"]:.3f},'
                     f'"delivered_kwh":{state["kwh"]:.3f},"received_kwh":0,"price":0.0884,'
                     f'"currency":"USD","meter_ts":{ts - rng.randint(1000, 5000)}}}}}\n')
    return lines


def harvester_hour(device, rng, state, hour_ms, first):
    """3,600 readings of 20 hwmon values (milli-units scaled by 0.001): temperatures in
    0.5 degree steps, voltages and currents in mV and mA, drifting slowly."""
    lines = []
    milli = state["milli"]
    for i in range(3600):
        ts = hour_ms + i * 1000 + rng.randint(1, 15)
        for j in range(20):
            step = 500 if j < 4 else 1
            if rng.random() < 0.3:
                milli[j] = max(0, milli[j] + step * rng.choice((-1, 1)) * (1 if j < 4 else rng.randint(1, 20)))
        data = ",".join(f'"{n}":{m / 1000:g}' if j < 4 else f'"{n}":{m / 1000}'
                        for j, (n, m) in enumerate(zip(HARVESTER_SENSORS, milli)))
        lines.append(f'{{"device":"{device}","source":"board","seq":{first + i},"ts":{ts},"data":{{{data}}}}}\n')
    return lines


def generate_device(job):
    out_dir, device, profile, hours, start_hour_ms, index = job
    rng = random.Random(index)
    source, _ = PROFILES[profile]
    state = {"meter": f"0x00135001{index:08x}", "demand": rng.uniform(0.3, 3.0),
             "kwh": rng.uniform(1000, 90000),
             "milli": [rng.randrange(40000, 60000, 500) for _ in range(4)] + [rng.randint(3200, 12100) for _ in range(8)]
             + [rng.randint(50, 3000) for _ in range(8)]}
    make = meter_hour if profile == "meter" else harvester_hour
    segments = []
    first = 1
    os.makedirs(os.path.join(out_dir, device), exist_ok=True)
    for h in range(hours):
        hour_ms = start_hour_ms + h * HOUR_MS
        lines = make(device, rng, state, hour_ms, first)
        body = gzip.compress("".join(lines).encode(), compresslevel=6, mtime=0)
        path = os.path.join(device, f"{h:04d}.jsonl.gz")
        with open(os.path.join(out_dir, path), "wb") as f:
            f.write(body)
        segments.append({"device": device, "profile": profile, "source": source, "hour": h, "path": path,
                         "key": segment_key(device, source, hour_ms, first), "first": first,
                         "last": first + len(lines) - 1, "count": len(lines), "bytes": len(body),
                         "md5": hashlib.md5(body).hexdigest(), "sha256": hashlib.sha256(body).hexdigest()})
        first += len(lines)
    return segments


def generate(out_dir, devices, harvester_share, hours):
    """Writes every segment under out_dir and a manifest; reuses one made with the same
    parameters. The hours end before the current one, so no reading is in the future."""
    params = {"devices": devices, "harvester_share": harvester_share, "hours": hours, "version": 1}
    manifest_path = os.path.join(out_dir, "manifest.json")
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest["params"] == params:
            return manifest
    os.makedirs(out_dir, exist_ok=True)
    start_hour_ms = (int(time.time() * 1000) // HOUR_MS - hours - 1) * HOUR_MS
    jobs = [(out_dir, d, p, hours, start_hour_ms, i) for i, (d, p) in enumerate(device_names(devices, harvester_share))]
    t0 = time.time()
    with multiprocessing.Pool(os.cpu_count()) as pool:
        segments = [s for device in pool.map(generate_device, jobs) for s in device]
    manifest = {"params": params, "segments": segments}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    print(f"generated {len(segments)} segments, {sum(s['bytes'] for s in segments) / 1e6:.1f} MB gzip, "
          f"in {time.time() - t0:.1f} s", file=sys.stderr)
    return manifest


def enroll(receiver_bin, config, devices, workers=4):
    """`granary-receiver device add` for each device: {device: (access key, secret)}."""
    def add(device):
        r = subprocess.run([receiver_bin, "device", "add", device, "-c", config], capture_output=True,
                           text=True, timeout=60)
        ak = re.search(r"^access key: (\S+)$", r.stdout, re.M)
        sk = re.search(r"^secret key: (\S+)$", r.stdout, re.M)
        if r.returncode != 0 or not ak or not sk:
            sys.exit(f"device add {device}: rc {r.returncode}: {r.stderr.strip()}")
        return device, (ak.group(1), sk.group(1))
    with ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(add, devices))


class Target:
    """One endpoint, a kept-alive connection per thread, PUTs signed like the agent's."""

    def __init__(self, endpoint, region):
        u = urllib.parse.urlsplit(endpoint)
        self.host, self.port, self.region = u.hostname, u.port or 80, region
        self.local = threading.local()

    def request(self, method, path, body=b"", headers=None, creds=None):
        url = f"http://{self.host}:{self.port}{path}"
        req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
        S3SigV4Auth(Credentials(*creds), "s3", self.region).add_auth(req)
        for attempt in range(2):  # a kept-alive connection the server closed is sent again once
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                conn.request(method, path, body=body, headers=dict(req.headers.items()))
                answer = conn.getresponse()
                return answer.status, dict(answer.getheaders()), answer.read()
            except (http.client.HTTPException, ConnectionError) as e:
                conn.close()
                self.local.conn = None
                if attempt == 1:
                    return 0, {}, type(e).__name__.encode()


def error_code(status, body):
    m = re.search(rb"<Code>([^<]+)</Code>", body)
    return f"{status} {m.group(1).decode() if m else body[:40].decode(errors='replace')}"


class Fleet:
    def __init__(self, target, segments_dir, keys, speed, connections, max_seconds, herd, retries=5):
        self.target, self.dir, self.keys = target, segments_dir, keys
        self.speed, self.connections, self.max_seconds, self.herd, self.retries = \
            speed, connections, max_seconds, herd, retries
        self.lock = threading.Lock()
        self.latencies, self.errors = [], {}
        self.accepted = self.readings = self.bytes = self.not_sent = 0
        self.max_lag = 0.0
        self.device_locks = {d: threading.Lock() for d in keys}

    def schedule(self, segments):
        """(due seconds from the start, segment): each device's segment of hour h is sealed at
        the start of hour h + 1 of its clock. With `herd`, every device's clock agrees, as
        NTP-synced agents do, so they all seal within one poll interval of the hour; without,
        the devices' hour boundaries are spread evenly over the hour."""
        names = sorted(self.keys)
        offset = {d: i / len(names) for i, d in enumerate(names)}
        seconds_per_hour = 3600 / self.speed
        plan = []
        for s in segments:
            poll = PROFILES[s["profile"]][1]
            within = (random.random() * poll / 3600) if self.herd else offset[s["device"]]
            plan.append(((s["hour"] + 1 + within) * seconds_per_hour, s))
        plan.sort(key=lambda p: p[0])
        return plan

    def put(self, s):
        with open(os.path.join(self.dir, s["path"]), "rb") as f:
            body = f.read()
        headers = {"Content-MD5": base64.b64encode(bytes.fromhex(s["md5"])).decode(),
                   "Content-Type": "application/octet-stream",
                   "x-amz-meta-granary-device": s["device"], "x-amz-meta-granary-source": s["source"],
                   "x-amz-meta-granary-first-seq": str(s["first"]), "x-amz-meta-granary-last-seq": str(s["last"]),
                   "x-amz-meta-granary-count": str(s["count"]), "x-amz-meta-granary-sha256": s["sha256"],
                   "x-amz-meta-granary-format": "jsonl.gz/1", "x-amz-meta-granary-clock": "ok"}
        path = "/" + BUCKET + "/" + urllib.parse.quote(s["key"])
        for attempt in range(self.retries + 1):
            t = time.perf_counter()
            status, answer_headers, answer = self.target.request("PUT", path, body, headers, self.keys[s["device"]])
            elapsed = time.perf_counter() - t
            etag = answer_headers.get("ETag", answer_headers.get("etag", "")).strip('"')
            if status == 200 and etag == s["md5"]:
                with self.lock:
                    self.latencies.append(elapsed)
                    self.accepted += 1
                    self.readings += s["count"]
                    self.bytes += len(body)
                return
            code = error_code(status, answer) if status != 200 else f"200 with ETag {etag or 'missing'}"
            with self.lock:
                self.errors[code] = self.errors.get(code, 0) + 1
            if status not in (0, 500, 503) or attempt == self.retries:
                return
            time.sleep(min(5.0, float(answer_headers.get("Retry-After", "1"))) * random.random())

    def run(self, segments):
        plan = self.schedule(segments)
        dues = [p[0] for p in plan]
        next_index = [0]
        start = time.monotonic()

        def worker():
            while True:
                with self.lock:
                    i = next_index[0]
                    if i >= len(plan):
                        return
                    now = time.monotonic() - start
                    if now > self.max_seconds:
                        self.not_sent = len(plan) - i
                        next_index[0] = len(plan)
                        return
                    next_index[0] = i + 1
                due, s = plan[i]
                if due > now:
                    time.sleep(due - now)
                else:
                    with self.lock:
                        self.max_lag = max(self.max_lag, now - due)
                with self.device_locks[s["device"]]:  # an agent uploads one segment at a time
                    self.put(s)

        threads = [threading.Thread(target=worker) for _ in range(self.connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.wall = time.monotonic() - start
        self.offered_seconds = dues[-1] if dues else 0.0
        return self


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except OSError:
                pass
    return out


def postgres_cpu(postmaster):
    """The postmaster's and its live children's CPU seconds (backends, WAL writer,
    checkpointer). A backend that exits mid-run takes its time with it: the receivers keep
    their connections, so none should."""
    total = cpu_seconds(postmaster)
    for pid in children_of(postmaster):
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


class Postgres:
    def __init__(self, psql, url):
        self.psql, self.url = psql, url

    def query(self, sql):
        r = subprocess.run([self.psql, self.url, "-At", "-F", "\t", "-c", sql], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            sys.exit(f"psql: {r.stderr.strip()}")
        return [line.split("\t") for line in r.stdout.strip().splitlines()]

    def snapshot(self):
        db = self.query("SELECT tup_inserted, tup_updated, tup_deleted, xact_commit, "
                        "pg_database_size(current_database()), pg_current_wal_lsn() - '0/0' "
                        "FROM pg_stat_database WHERE datname = current_database()")[0]
        tables = {r[0]: (int(r[1]), int(r[2])) for r in
                  self.query("SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables")}
        return {"inserted": int(db[0]), "updated": int(db[1]), "deleted": int(db[2]), "commits": int(db[3]),
                "size": int(db[4]), "wal": int(float(db[5])), "tables": tables}


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v))) - 1))]


def wait_keys_live(target, keys, tries=60):
    """The registry reaches each receiver within its poll (1 s): until a signed request of
    the last device enrolled is known on every replica behind the balancer, a PUT would be
    refused. 404 (no such key) means the key is known."""
    device = sorted(keys)[-1]
    path = f"/{BUCKET}/{PREFIX}/{device}/probe"
    good = 0
    for _ in range(tries):
        status, _, _ = target.request("GET", path, creds=keys[device])
        good = good + 1 if status == 404 else 0
        if good >= 6:
            return
        time.sleep(0.25)
    sys.exit(f"device keys not live on the receivers after {tries / 4:.0f} s (last answer {status})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True, help="the receiver or balancer, http://127.0.0.1:PORT")
    ap.add_argument("--receiver-bin", required=True)
    ap.add_argument("--receiver-config", required=True, help="for `device add`")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--harvester-share", type=float, default=0.2, help="share of devices that are harvesters")
    ap.add_argument("--hours", type=int, default=12, help="segments per device (hours of data)")
    ap.add_argument("--speed", type=float, default=3600, help="simulated seconds per real second")
    ap.add_argument("--connections", type=int, default=32, help="PUTs in flight at most")
    ap.add_argument("--max-seconds", type=float, default=60, help="no new PUT after this")
    ap.add_argument("--herd", action="store_true", help="every device seals at the top of the hour")
    ap.add_argument("--segments-dir", required=True, help="generated segments (reused when they match)")
    ap.add_argument("--receiver-pid", type=int, action="append", default=[])
    ap.add_argument("--balancer-pid", type=int)
    ap.add_argument("--postmaster-pid", type=int)
    ap.add_argument("--pg-url", help="the receivers' index, for row and byte deltas")
    ap.add_argument("--psql", default="psql")
    ap.add_argument("--label", default="run")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()

    manifest = generate(args.segments_dir, args.devices, args.harvester_share, args.hours)
    segments = manifest["segments"]
    devices = sorted({s["device"] for s in segments})
    t0 = time.time()
    keys = enroll(args.receiver_bin, args.receiver_config, devices)
    enroll_s = time.time() - t0
    target = Target(args.endpoint, args.region)
    wait_keys_live(target, keys)

    pg = Postgres(args.psql, args.pg_url) if args.pg_url else None
    pg0 = pg.snapshot() if pg else None
    cpu0 = {p: cpu_seconds(p) for p in args.receiver_pid}
    lb0 = cpu_seconds(args.balancer_pid) if args.balancer_pid else None
    pm0 = postgres_cpu(args.postmaster_pid) if args.postmaster_pid else None
    self0 = os.times()
    busy0 = machine_busy()
    load0 = os.getloadavg()[0]

    fleet = Fleet(target, args.segments_dir, keys, args.speed, args.connections, args.max_seconds, args.herd)
    fleet.run(segments)

    busy1 = machine_busy()
    self1 = os.times()
    cpu1 = {p: cpu_seconds(p) for p in args.receiver_pid}
    lb1 = cpu_seconds(args.balancer_pid) if args.balancer_pid else None
    pm1 = postgres_cpu(args.postmaster_pid) if args.postmaster_pid else None
    load1 = os.getloadavg()[0]
    time.sleep(1.5)  # backends report their table statistics at most once a second
    pg1 = pg.snapshot() if pg else None

    n = max(1, fleet.accepted)
    cores = os.cpu_count()
    r = {"label": args.label, "devices": len(devices), "receivers": len(args.receiver_pid),
         "segments_planned": len(segments), "accepted": fleet.accepted, "not_sent": fleet.not_sent,
         "readings": fleet.readings, "put_bytes": fleet.bytes, "wall_s": fleet.wall,
         "offered_s": fleet.offered_seconds, "max_lag_s": fleet.max_lag, "enroll_s": enroll_s,
         "segments_per_s": fleet.accepted / fleet.wall, "readings_per_s": fleet.readings / fleet.wall,
         "p50_ms": percentile(fleet.latencies, 50) * 1000, "p99_ms": percentile(fleet.latencies, 99) * 1000,
         "errors": fleet.errors, "bytes_per_segment": fleet.bytes / n,
         "readings_per_segment": fleet.readings / n,
         "machine_busy_cores": (busy1[0] - busy0[0]) / (busy1[1] - busy0[1]) * cores, "cores": cores,
         "load_before": load0, "load_after": load1,
         "sim_cpu_s": (self1.user + self1.system) - (self0.user + self0.system)}
    if cpu0:
        per = {str(p): cpu1[p] - cpu0[p] for p in cpu0}
        r["receiver_cpu_s"] = per
        r["receiver_cpu_ms_per_segment"] = sum(per.values()) / n * 1000
    if lb0 is not None:
        r["balancer_cpu_ms_per_segment"] = (lb1 - lb0) / n * 1000
    if pm0 is not None:
        r["postgres_cpu_ms_per_segment"] = (pm1 - pm0) / n * 1000
    if pg:
        d = {k: pg1[k] - pg0[k] for k in ("inserted", "updated", "deleted", "commits", "size", "wal")}
        r["pg"] = d
        r["pg_rows_per_segment"] = (d["inserted"] + d["updated"] + d["deleted"]) / n
        r["pg_wal_bytes_per_segment"] = d["wal"] / n
        r["pg_size_bytes_per_segment"] = d["size"] / n
        r["pg_size_after"] = pg1["size"]
        r["pg_tables"] = {t: (v[0] - pg0["tables"].get(t, (0, 0))[0], v[1] - pg0["tables"].get(t, (0, 0))[1])
                          for t, v in pg1["tables"].items()
                          if v != pg0["tables"].get(t, (0, 0))}
    report(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    if fleet.accepted + fleet.not_sent < len(segments):
        sys.exit(f"{len(segments) - fleet.accepted - fleet.not_sent} segments were not accepted")


def report(r):
    rows = [
        ("devices (enrolled with `device add`)", f"{r['devices']} in {r['enroll_s']:.1f} s"),
        ("segments accepted / planned", f"{r['accepted']} / {r['segments_planned']}"
         + (f" ({r['not_sent']} not sent: time bound)" if r["not_sent"] else "")),
        ("wall time (schedule offered in)", f"{r['wall_s']:.1f} s ({r['offered_s']:.1f} s), "
         f"fell behind by up to {r['max_lag_s']:.1f} s"),
        ("accepted segments/s", f"{r['segments_per_s']:.1f}"),
        ("readings/s", f"{r['readings_per_s']:,.0f}"),
        ("PUT latency p50 / p99", f"{r['p50_ms']:.0f} ms / {r['p99_ms']:.0f} ms"),
        ("errors by code (retried)", ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none"),
        ("bytes, readings per segment", f"{r['bytes_per_segment']:,.0f} B gzip, {r['readings_per_segment']:.0f}"),
    ]
    if "receiver_cpu_ms_per_segment" in r:
        split = " + ".join(f"{v:.1f}" for v in r["receiver_cpu_s"].values())
        rows.append(("receiver CPU per segment", f"{r['receiver_cpu_ms_per_segment']:.2f} ms ({split} s)"))
    if "postgres_cpu_ms_per_segment" in r:
        rows.append(("PostgreSQL CPU per segment", f"{r['postgres_cpu_ms_per_segment']:.2f} ms"))
    if "balancer_cpu_ms_per_segment" in r:
        rows.append(("haproxy CPU per segment", f"{r['balancer_cpu_ms_per_segment']:.2f} ms"))
    rows.append(("simulator CPU per segment", f"{r['sim_cpu_s'] / max(1, r['accepted']) * 1000:.2f} ms"))
    if "pg" in r:
        rows.append(("PostgreSQL rows per segment", f"{r['pg_rows_per_segment']:.1f} "
                     f"({r['pg']['inserted']} ins, {r['pg']['updated']} upd, {r['pg']['deleted']} del; "
                     f"{r['pg']['commits']} commits)"))
        rows.append(("PostgreSQL WAL per segment", f"{r['pg_wal_bytes_per_segment']:,.0f} B"))
        rows.append(("PostgreSQL size per segment", f"{r['pg_size_bytes_per_segment']:,.0f} B "
                     f"({r['pg_size_after'] / 1e6:.1f} MB after)"))
        rows.append(("PostgreSQL rows by table (ins/upd)",
                     ", ".join(f"{t} {i}/{u}" for t, (i, u) in sorted(r["pg_tables"].items()))))
    rows.append(("machine during the run", f"{r['machine_busy_cores']:.2f} of {r['cores']} cores busy, "
                 f"load {r['load_before']:.1f} -> {r['load_after']:.1f}"))
    print(f"-- {r['label']}")
    for k, v in rows:
        print(f"{k}\t{v}")


if __name__ == "__main__":
    main()
