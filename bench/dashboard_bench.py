"""The dashboard's speed in headless Chromium: time to first meaningful render of the fleet
page with 1,000 devices (the `fleet-rendered` Performance API mark, from navigation start),
of a device chart over 30 days of 6-second readings (`chart-rendered`), and the series
endpoint's latency for that range. Targets: fleet page <= 500 ms, 30-day chart <= 1 s.

usage: bench/dashboard_bench.py BUILD_DIR   (prints tab-separated rows)
The receiver is populated over its S3 API, each PUT signed with SigV4 (botocore), like an
agent's: one segment per fleet device, and 720 hourly segments of 600 readings for the meter."""
import gzip
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

DEVICES = int(os.environ.get("BENCH_DASHBOARD_DEVICES", "1000"))
DAYS = 30
STEP_MS = 6000
TOKEN = "bench-reader-token-0123456789"
HOUR = 3600 * 1000
RUNS = 5


def config(data_dir, names):
    body = f'data_dir = "{data_dir}"\nlisten = "127.0.0.1:0"\n[http]\nper_ip_limit = 0\n'
    for n in names:
        body += f'[[device]]\nname = "{n}"\naccess_key = "AK{n.upper()}"\nsecret_key = "secret-{n}-0123"\n'
    return body + f'[[reader]]\nname = "bench"\ntoken = "{TOKEN}"\n'


def put(port, device, source, first, lines):
    body = gzip.compress("".join(lines).encode(), mtime=0)
    last = first + len(lines) - 1
    key = f"granary/{device}/{source}/2026/01/01/{device}-{source}-20260101T00-{first}.jsonl.gz"
    headers = {"x-amz-meta-granary-device": device, "x-amz-meta-granary-source": source,
               "x-amz-meta-granary-first-seq": str(first), "x-amz-meta-granary-last-seq": str(last),
               "x-amz-meta-granary-count": str(len(lines)), "x-amz-meta-granary-format": "jsonl.gz/1"}
    url = f"http://127.0.0.1:{port}/granary/{key}"
    req = AWSRequest(method="PUT", url=url, data=body, headers=headers)
    S3SigV4Auth(Credentials(f"AK{device.upper()}", f"secret-{device}-0123"), "s3", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("PUT", f"/granary/{key}", body=body, headers=dict(req.headers.items()))
    answer = conn.getresponse()
    text = answer.read()
    conn.close()
    if answer.status != 200:
        sys.exit(f"PUT {key}: {answer.status} {text[:300]}")


def line(device, source, seq, ts, data):
    return json.dumps({"device": device, "source": source, "seq": seq, "ts": ts, "data": data},
                      separators=(",", ":")) + "\n"


def populate(port, fleet, now):
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: put(port, n, "synth", 1, [line(n, "synth", 1, now - 60000, {"v": 1})]), fleet))
        start = now - DAYS * 24 * HOUR
        per_hour = HOUR // STEP_MS

        def hour(h):
            t0 = start + h * HOUR
            first = h * per_hour + 1
            put(port, "meter01", "meter", first, [
                line("meter01", "meter", first + i, t0 + i * STEP_MS,
                     {"demand_kw": round(1.5 + ((first + i) % 97) / 50 - 1, 3),
                      "delivered_kwh": round((first + i) * 0.002, 3), "received_kwh": 0, "price": 0.12})
                for i in range(per_hour)])
        list(pool.map(hour, range(DAYS * 24)))
    return DAYS * 24 * (HOUR // STEP_MS)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={tempfile.mkdtemp(prefix='granary-bench-chromium-')}",
                "--window-size=1280,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def mark_time(driver, url, mark, timeout=60):
    """ms from navigation start to `mark` on a fresh load of `url`."""
    driver.get("about:blank")
    driver.get(url)
    return wait_mark(driver, mark, timeout)


def wait_mark(driver, mark, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        t = driver.execute_script(f"const m = performance.getEntriesByName('{mark}'); return m.length ? m[0].startTime : null")
        if t is not None:
            return t
        time.sleep(0.02)
    sys.exit(f"no {mark} mark within {timeout} s")


def main():
    build = sys.argv[1]
    work = tempfile.mkdtemp(prefix="granary-dashboard-bench-")
    fleet = [f"d{i:04d}" for i in range(DEVICES - 1)]
    with open(os.path.join(work, "receiver.toml"), "w") as f:
        f.write(config(os.path.join(work, "data"), fleet + ["meter01"]))
    receiver = subprocess.Popen([os.path.join(build, "receiver", "granary-receiver"), "run", "-c",
                                 os.path.join(work, "receiver.toml")],
                                stdout=subprocess.PIPE, stderr=open(os.path.join(work, "receiver.log"), "w"), text=True)
    driver = None
    try:
        port = int(receiver.stdout.readline().strip().rsplit(":", 1)[1])
        base = f"http://127.0.0.1:{port}"
        now = int(time.time() * 1000)
        t0 = time.time()
        readings = populate(port, fleet, now)
        print(f"populated: {DEVICES} devices, {readings} meter readings\t{time.time() - t0:.1f} s")

        to = now
        frm = to - DAYS * 24 * HOUR
        series_ms = []
        for _ in range(RUNS):
            req = urllib.request.Request(f"{base}/api/v1/devices/meter01/series?source=meter&field=demand_kw"
                                         f"&from={frm}&to={to}&points=600",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
            t = time.perf_counter()
            with urllib.request.urlopen(req, timeout=60) as r:
                count = json.load(r)["count"]
            series_ms.append((time.perf_counter() - t) * 1000)
        print(f"series API, 30 days ({count} readings -> 600 buckets)\tmedian {statistics.median(series_ms):.0f} ms"
              f"\tmin {min(series_ms):.0f} ms")

        driver = browser()
        driver.get(base + "/")
        driver.execute_script(f"sessionStorage.setItem('granary.reader-token', '{TOKEN}')")
        fleet_ms, summary_ms = [], []
        for _ in range(RUNS):
            fleet_ms.append(mark_time(driver, f"{base}/#/", "fleet-rendered"))
            summary_ms.append(wait_mark(driver, "fleet-summary"))
        print(f"fleet page, {DEVICES} devices, first render (target 500 ms)\tmedian {statistics.median(fleet_ms):.0f} ms"
              f"\tmax {max(fleet_ms):.0f} ms")
        print(f"fleet page, gap and today columns filled in\tmedian {statistics.median(summary_ms):.0f} ms"
              f"\tmax {max(summary_ms):.0f} ms")
        chart_ms = [mark_time(driver, f"{base}/#/device/meter01?source=meter&field=demand_kw&range=30d",
                              "chart-rendered") for _ in range(RUNS)]
        print(f"device chart, 30 days of 6 s readings (target 1000 ms)\tmedian {statistics.median(chart_ms):.0f} ms"
              f"\tmax {max(chart_ms):.0f} ms")
    finally:
        if driver is not None:
            driver.quit()
        receiver.terminate()
        receiver.wait(timeout=30)
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
