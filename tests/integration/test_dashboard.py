"""The fleet dashboard in a real browser: Debian's headless Chromium driven by selenium, against
a receiver populated by a real agent run (h017: the EAGLE simulator and a synthetic source,
uploading and publishing its MQTT status), a device with a history of one-hour segments with
one hour missing and one hour tombstoned (h018, which is also offline), and a device whose
self-reported status and events carry markup (h019).

Checked: the fleet page shows every device with the state the API reports and marks the
offline one; the coverage strip marks the missing hour and the tombstoned hour (with its
reason) at the right hours; the chart's points (read from its Chart.js instance) equal the
series API's; markup renders as text and no dialog opens; no console errors; every answer
carries the CSP, nosniff and no-referrer headers and an inline script does not run; at 360 px
the page body does not overflow. A screenshot of each page goes to $GRANARY_TEST_OUTPUT."""
import datetime
import gzip
import json
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from browser_harness import (browser, check_no_markup, console_errors, save_screenshot, sign_in,
                             wait_js)
from harness import SOURCE_DIR, Agent, check, wait_until
from mqtt_broker import USERS, Broker
from receiver_harness import READER_TOKEN, Receiver, boto3_client, receiver_config

XSS = "<img src=x onerror=alert(1)>"
HOUR = 3600 * 1000
DEVICES = {"h017": ("AKIDH017", "secret-h017-0123"), "h018": ("AKIDH018", "secret-h018-0123"),
           "h019": ("AKIDH019", "secret-h019-0123")}
# h018's history, two days ago (UTC): one segment per hour 0-9 of 60 readings a minute apart,
# hour 4 never uploaded (a gap) and hour 7 tombstoned by the agent (quota).
MISSING_HOUR, TOMBSTONED_HOUR, HISTORY_HOURS = 4, 7, 10
OUTPUT = os.environ.get("GRANARY_TEST_OUTPUT") or tempfile.mkdtemp(prefix="granary-dashboard-")
PY = "/usr/bin/python3"


def history_base():
    today = int(time.time() * 1000) // (24 * HOUR) * (24 * HOUR)
    return today - 2 * 24 * HOUR


def put_history(s3, base):
    day = datetime.datetime.fromtimestamp(base / 1000, datetime.timezone.utc)
    for h in range(HISTORY_HOURS):
        first = 60 * h + 1
        if h == MISSING_HOUR:
            continue
        if h == TOMBSTONED_HOUR:
            body = json.dumps({"device": "h018", "source": "synth", "first_seq": first,
                               "last_seq": first + 59, "count": 60, "reason": "quota",
                               "at": base + h * HOUR}).encode()
            key = f"granary/h018/synth/tombstones/h018-synth-{first}-{first + 59}-a.tombstone.json"
            s3.put_object(Bucket="granary", Key=key, Body=body,
                          Metadata={"granary-format": "tombstone/1"})
            continue
        lines = "".join(json.dumps({"device": "h018", "source": "synth", "seq": first + m,
                                    "ts": base + h * HOUR + m * 60000,
                                    "data": {"v": h * 100 + m, "label": "x"}},
                                   separators=(",", ":")) + "\n" for m in range(60))
        key = (f"granary/h018/synth/{day:%Y/%m/%d}/h018-synth-{day:%Y%m%d}T{h:02d}-{first}"
               ".jsonl.gz")
        meta = {"granary-device": "h018", "granary-source": "synth",
                "granary-first-seq": str(first), "granary-last-seq": str(first + 59),
                "granary-count": "60", "granary-format": "jsonl.gz/1"}
        s3.put_object(Bucket="granary", Key=key, Body=gzip.compress(lines.encode(), mtime=0),
                      Metadata=meta)


def agent_config(endpoint, mqtt_port, password_file, eagle_port):
    return f"""
[segment]
max_readings = 10

[status]
interval = "2s"

[upload]
endpoint = "{endpoint}"
bucket = "granary"
retry_max = "2s"

[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
username = "h017"
password_file = "{password_file}"

[[source]]
name = "meter"
type = "eagle"
interval = "1s"
url = "http://127.0.0.1:{eagle_port}"
cloud_id = "00a1b2"
install_code = "0123456789abcdef"
request_gap = "50ms"

[[source]]
name = "synthetic"
type = "synthetic"
interval = "200ms"
rate = 1
"""


def screenshot(driver, name):
    save_screenshot(driver, os.path.join(OUTPUT, name))


def check_headers(receiver):
    for path in ("/", "/ui/app.js", "/ui/style.css", "/ui/chart.js", "/api/v1/devices"):
        req = urllib.request.Request(receiver.endpoint + path,
                                     headers={"Authorization": f"Bearer {READER_TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            csp = r.headers.get("Content-Security-Policy", "")
            check("script-src 'self'" in csp and "unsafe-inline" not in csp
                  and "default-src 'self'" in csp, f"{path}: CSP {csp!r}")
            check(r.headers.get("X-Content-Type-Options") == "nosniff", f"{path}: nosniff")
            check(r.headers.get("Referrer-Policy") == "no-referrer", f"{path}: referrer")
    # The pages carry no inline script and no token; the data does need one.
    status, body = receiver.api("/", token=None, raw=True)
    check(status == 200 and b"<script>" not in body and b"onclick" not in body.lower(), "index.html")
    check(receiver.api("/api/v1/devices", token=None)[0] == 401, "the API answered without a token")
    check(receiver.api("/ui/../index.db", token=None)[0] == 404, "a path out of www was served")


def check_files_from_disk(work):
    """[dashboard]: files from www_dir; Chart.js missing is a 404 naming the package, and a
    warning; enabled = false serves nothing."""
    www = os.path.join(work, "www")
    os.makedirs(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<!doctype html><title>site copy</title>")
    r = Receiver(workdir=os.path.join(work, "disk"), config_body=receiver_config(
        os.path.join(work, "disk", "data"), devices=DEVICES,
        extra=f'[dashboard]\nwww_dir = "{www}"\nchartjs_dir = "{work}/no-chart"\n'))
    r.start()
    try:
        check(r.api("/", token=None, raw=True) == (200, b"<!doctype html><title>site copy</title>"),
              "/ was not served from www_dir")
        status, body = r.api("/ui/chart.js", token=None, raw=True)
        check(status == 404 and b"libjs-chart.js" in body, f"missing Chart.js: {status} {body}")
        check(r.api("/ui/app.js", token=None)[0] == 404, "a file missing from www_dir was served")
        check(r.api("/ui/.hidden", token=None)[0] == 404, "a dot file was served")
    finally:
        r.stop()
    check(f"{work}/no-chart/chart.min.js is missing" in r.read_log(), "no warning names the missing Chart.js")
    off = Receiver(workdir=os.path.join(work, "off"), config_body=receiver_config(
        os.path.join(work, "off", "data"), devices=DEVICES, extra="[dashboard]\nenabled = false\n"))
    off.start()
    try:
        check(off.api("/", token=None)[0] == 404 and off.api("/ui/app.js", token=None)[0] == 404,
              "enabled = false still serves the dashboard")
    finally:
        off.stop()


def check_fleet(driver, receiver):
    from selenium.webdriver.common.by import By
    wait_js(driver, "the fleet table", "return document.querySelectorAll('#fleet tbody tr').length >= 3")
    wait_js(driver, "the fleet-rendered mark",
            "return performance.getEntriesByName('fleet-rendered').length > 0")
    wait_js(driver, "the fleet summary", "return document.getElementById('fleet').dataset.summary === 'true'")
    api = receiver.api("/api/v1/devices?summary=1")[1]["devices"]
    check(sorted(d["device"] for d in api) == ["h017", "h018", "h019"], f"devices {api}")
    for d in api:
        row = driver.find_element(By.CSS_SELECTOR, f"#fleet tr[data-device='{d['device']}']")
        cell = lambda col: row.find_element(By.CSS_SELECTOR, f"[data-col='{col}']").text
        want_link = ("online" if d["online"] else "offline") if "status" in d else "—"
        check(cell("online") == want_link, f"{d['device']}: link {cell('online')!r}, API {d}")
        check(cell("state").split("\n")[0] == d["status"]["state"],
              f"{d['device']}: state {cell('state')!r}, API {d['status']['state']}")
        check(cell("unexplained_missing") == str(d["unexplained_missing"]),
              f"{d['device']}: gaps {cell('unexplained_missing')!r}, API {d['unexplained_missing']}")
        offline = "offline" in row.get_attribute("class").split()
        check(offline == (not d["online"]), f"{d['device']}: offline class {offline}, API {d}")
    h018 = driver.find_element(By.CSS_SELECTOR, "#fleet tr[data-device='h018']")
    h017 = driver.find_element(By.CSS_SELECTOR, "#fleet tr[data-device='h017']")
    check("offline" in h018.text, f"the offline device's row says nothing: {h018.text!r}")
    check(h018.value_of_css_property("background-color") != h017.value_of_css_property("background-color"),
          "the offline row looks like an online one")
    gaps = next(d for d in api if d["device"] == "h018")["unexplained_missing"]
    check(gaps == 60, f"h018 unexplained missing {gaps}, the history left out 60")
    screenshot(driver, "fleet.png")


def check_xss(driver):
    from selenium.webdriver.common.by import By
    row = driver.find_element(By.CSS_SELECTOR, "#fleet tr[data-device='h019']")
    check(XSS in row.text, f"the markup is not shown as text: {row.text!r}")
    check_no_markup(driver)


def check_keyboard(driver):
    """From the top of the fleet page, Tab reaches h018's link and Enter opens its page."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    for presses in range(1, 41):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if driver.execute_script("return document.activeElement.getAttribute('href')") == "#/device/h018":
            break
    else:
        check(False, "40 presses of Tab did not reach h018's link")
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait_js(driver, "h018's page by keyboard", "return location.hash === '#/device/h018' && "
            "document.getElementById('view').dataset.ready === 'true'")
    return presses


def open_device(driver, receiver, device):
    driver.get(f"{receiver.endpoint}/#/device/{device}")
    wait_js(driver, f"{device}'s page", "return document.getElementById('view').dataset.ready === 'true'")


def check_coverage(driver, base):
    from selenium.webdriver.common.by import By
    for h in range(HISTORY_HOURS):
        cell = driver.find_element(By.CSS_SELECTOR,
                                   f"figure.coverage[data-source='synth'] td[data-t='{base + h * HOUR}']")
        state = cell.get_attribute("data-state")
        want = {MISSING_HOUR: "missing", TOMBSTONED_HOUR: "tombstoned"}.get(h, "present")
        check(state == want, f"hour {h}: {state}, want {want}")
        if want == "missing":
            check(cell.text == "✕", f"the missing hour is marked by colour only: {cell.text!r}")
        if want == "tombstoned":
            check(cell.text == "T" and "quota" in cell.get_attribute("title"),
                  f"the tombstoned hour: {cell.text!r} {cell.get_attribute('title')!r}")
    notes = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "figure.coverage[data-source='synth'] .gap-list li")]
    check(len(notes) == 2 and notes[0].endswith(f"{MISSING_HOUR:02d}:00 missing")
          and notes[1].endswith(f"{TOMBSTONED_HOUR:02d}:00 tombstoned: quota"), f"gap list {notes}")


def check_chart(driver, receiver, device, source, field, range_label):
    from selenium.webdriver.support.ui import Select
    from selenium.webdriver.common.by import By
    Select(driver.find_element(By.ID, "chart-source")).select_by_visible_text(source)
    wait_js(driver, "the fields", f"return [...document.querySelectorAll('#chart-field option')].some(o => o.value === '{field}')")
    Select(driver.find_element(By.ID, "chart-field")).select_by_value(field)
    Select(driver.find_element(By.ID, "chart-range")).select_by_visible_text(f"last {range_label}")
    want = {"source": source, "field": field,
            "range": driver.find_element(By.ID, "chart-range").get_attribute("value")}
    wait_js(driver, "the chart of the choice",
            f"const d = document.getElementById('chart').dataset; const w = {json.dumps(want)};"
            "return d.source === w.source && d.field === w.field && d.range === w.range")
    got = driver.execute_script("""
        const c = document.getElementById('chart');
        return {from: c.dataset.from, to: c.dataset.to, label: Chart.getChart(c).data.datasets[0].label,
                points: Chart.getChart(c).data.datasets.map(d => d.data.map(p => [p.x, p.y]))};""")
    check(got["label"].startswith(field), f"charted {got['label']}, chose {field}")
    status, series = receiver.api(f"/api/v1/devices/{device}/series?source={source}&field={field}"
                                  f"&from={got['from']}&to={got['to']}&points=600")
    check(status == 200, f"series: {status} {series}")
    filled = [b for b in series["buckets"] if b["count"] > 0]
    for i, key in enumerate(("mean", "min", "max")):
        want = [[b["t"], b[key]] for b in filled]
        check(got["points"][i] == want, f"chart {key} differs from the series API:\n{got['points'][i][:5]}\n{want[:5]}")
    check(len(filled) > 0, f"nothing charted for {device}/{source}/{field}")
    return len(filled)


@contextlib.contextmanager
def frozen(agent, receiver, device):
    """The live device's chart and the series API are read at two moments; an upload accepted
    between them adds readings to a bucket the chart already drew. With the agent stopped and
    the receiver's count of its readings unchanged for a second, both read the same index."""
    os.kill(agent.proc.pid, signal.SIGSTOP)
    try:
        counts = []

        def settled():
            d = receiver.api(f"/api/v1/devices/{device}")[1]
            counts.append(sorted((s["source"], s["readings"]) for s in d["sources"]))
            return len(counts) >= 3 and counts[-1] == counts[-3]
        wait_until(f"{device}'s readings to stop changing", settled, 15, step=0.5)
        yield
    finally:
        os.kill(agent.proc.pid, signal.SIGCONT)


def check_eagle(driver):
    wait_js(driver, "the EAGLE view", "const e = document.getElementById('eagle'); return e && e.dataset.ready === 'true'")
    counts = driver.execute_script("""
        const e = document.getElementById('eagle');
        if (e.hidden) return null;
        const d = Chart.getChart(e.querySelector('canvas.eagle-demand'));
        const h = Chart.getChart(e.querySelector('canvas.eagle-energy'));
        return [d.data.datasets[0].data.length, h.data.datasets[0].data.filter(p => p.y !== null).length];""")
    check(counts is not None and counts[0] > 0 and counts[1] > 0, f"EAGLE view charts: {counts}")


def check_narrow(driver, receiver):
    from selenium.webdriver.common.by import By
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 360, "height": 780, "deviceScaleFactor": 1, "mobile": True})
    driver.get(receiver.endpoint + "/#/")
    wait_js(driver, "the fleet table at 360 px", "return document.querySelectorAll('#fleet tbody tr').length >= 3")
    widths = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    check(widths[0] <= widths[2] and widths[1] <= widths[2], f"the page overflows at 360 px: {widths}")
    for link in driver.find_elements(By.CSS_SELECTOR, "#fleet tbody th a"):
        r = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.right]", link)
        check(r[0] >= 0 and r[1] <= 360, f"a device link is off screen at 360 px: {r}")
    screenshot(driver, "fleet-360.png")
    open_device(driver, receiver, "h018")
    widths = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    check(widths[0] <= widths[1], f"the device page overflows at 360 px: {widths}")
    screenshot(driver, "device-h018-360.png")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def check_refresh(driver, receiver, broker):
    """A status arriving later shows on the open fleet page with no reload."""
    driver.get(receiver.endpoint + "/#/")
    wait_js(driver, "the fleet table", "return document.querySelectorAll('#fleet tbody tr').length >= 3")
    driver.execute_script("window.sameDocument = true")
    broker.publish("h019", "granary/h019/status", json.dumps({"device": "h019", "state": "stopped"}),
                   retain=True)
    wait_js(driver, "h019 shown offline by the refresh",
            "const r = document.querySelector(\"#fleet tr[data-device='h019']\");"
            "return r && r.classList.contains('offline') && r.querySelector(\"[data-col='state']\").textContent === 'stopped'",
            timeout=40)
    check(driver.execute_script("return window.sameDocument === true"), "the page reloaded to refresh")


def check_refused_token(driver, receiver):
    """A wrong token brings the sign-in form back, saying so (after the console checks: the
    browser logs the 401)."""
    from selenium.webdriver.common.by import By
    driver.find_element(By.ID, "logout").click()
    wait_js(driver, "the sign-in form", "return !document.getElementById('login').hidden")
    check(driver.execute_script("return sessionStorage.length") == 0, "signing out kept the token")
    driver.find_element(By.ID, "token").send_keys("not-a-reader-token-at-all")
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait_js(driver, "the refusal", "return document.getElementById('login-error').textContent.includes('refused')")
    check(not driver.find_elements(By.CSS_SELECTOR, "#fleet"), "a refused token still shows the fleet")


def check_csp_blocks_inline(driver):
    """An inline script added to the page does not run, and the browser says why."""
    driver.execute_script("const s = document.createElement('script'); s.textContent = 'window.inlineRan = 1';"
                          "document.body.append(s);")
    time.sleep(0.3)
    check(driver.execute_script("return window.inlineRan === undefined"), "an inline script ran")
    logs = [e["message"] for e in driver.get_log("browser")]
    check(any("Content Security Policy" in m for m in logs), f"no CSP violation reported: {logs}")


def main():
    os.makedirs(OUTPUT, exist_ok=True)
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="granary-dashboard-")
    broker = Broker(work)
    broker.start()
    receiver = Receiver(workdir=os.path.join(work, "receiver"), config_body=receiver_config(
        os.path.join(work, "receiver", "data"), devices=DEVICES,
        extra=f'[mqtt]\nport = {broker.port}\nusername = "monitor"\npassword = "{USERS["monitor"]}"\n'))
    eagle = agent = driver = None
    try:
        receiver.start()
        base = history_base()
        s3 = boto3_client(receiver.endpoint, device="h018")
        put_history(s3, base)
        broker.publish("h018", "granary/h018/status",
                       json.dumps({"device": "h018", "version": "0.1.0", "state": "offline"}), retain=True)
        broker.publish("h019", "granary/h019/status", json.dumps(
            {"device": XSS, "version": XSS, "state": "degraded", "degraded_reasons": [XSS],
             "buffer": {"segments_sealed": 2, "pending_bytes": 4096, "last_error": XSS}}), retain=True)
        broker.publish("h019", "granary/h019/events",
                       json.dumps({"device": "h019", "ts": 1, "type": XSS, "message": XSS}))

        eagle = subprocess.Popen([PY, os.path.join(SOURCE_DIR, "tests/sim/eagle_sim.py"), "--live"],
                                               stdout=subprocess.PIPE, text=True)
        eagle_port = int(eagle.stdout.readline())
        password_file = os.path.join(work, "mqtt.password")
        with open(password_file, "w") as f:
            f.write(USERS["h017"] + "\n")
        os.chmod(password_file, 0o600)
        ak, sk = DEVICES["h017"]
        agent = Agent(agent_config(receiver.endpoint, broker.port, password_file, eagle_port),
                      workdir=os.path.join(work, "agent"),
                      env={"AWS_ACCESS_KEY_ID": ak, "AWS_SECRET_ACCESS_KEY": sk})
        agent.start()

        def populated():
            status, d = receiver.api("/api/v1/devices/h017")
            if status != 200 or not d.get("online") or d.get("status", {}).get("state") != "running":
                return False
            readings = {s["source"]: s["readings"] for s in d["sources"]}
            others = [receiver.api(f"/api/v1/devices/{n}")[1] for n in ("h018", "h019")]
            return (readings.get("meter", 0) >= 10 and readings.get("synthetic", 0) >= 10
                    and all(isinstance(o, dict) and "status" in o for o in others))
        wait_until("the agent's uploads and every status", populated, 45, step=0.3)
        print(f"dashboard: populated in {time.time() - t0:.1f} s", flush=True)
        check_headers(receiver)
        check_files_from_disk(work)

        driver = browser()
        sign_in(driver, receiver.endpoint, lambda d: screenshot(d, "login.png"))
        check_fleet(driver, receiver)
        check_xss(driver)
        presses = check_keyboard(driver)
        check(not console_errors(driver), f"console errors on the fleet page: {console_errors(driver)}")

        open_device(driver, receiver, "h018")
        check_coverage(driver, base)
        history_points = check_chart(driver, receiver, "h018", "synth", "v", "7d")
        screenshot(driver, "device-h018.png")
        check(not console_errors(driver), f"console errors on h018's page: {console_errors(driver)}")

        with frozen(agent, receiver, "h017"):
            open_device(driver, receiver, "h017")
            check_eagle(driver)
            live_points = check_chart(driver, receiver, "h017", "meter", "demand_kw", "1h")
        screenshot(driver, "device-h017.png")
        check(not console_errors(driver), f"console errors on h017's page: {console_errors(driver)}")

        open_device(driver, receiver, "h019")
        status_text = driver.find_element("id", "status").text
        check(XSS in status_text, f"h019's status does not show the markup as text: {status_text!r}")
        events = receiver.api("/api/v1/devices/h019/events")[1]["events"]
        check(any(XSS in e["kind"] for e in events), f"h019's event was not recorded: {events}")
        events_text = driver.find_element("id", "events").text
        check(XSS in events_text, f"h019's events do not show the markup as text: {events_text!r}")
        check(not driver.find_elements("css selector", "img"), "markup became an <img> on the device page")
        screenshot(driver, "device-h019.png")
        check(not console_errors(driver), f"console errors on h019's page: {console_errors(driver)}")

        check_narrow(driver, receiver)
        check(not console_errors(driver), f"console errors at 360 px: {console_errors(driver)}")
        check_refresh(driver, receiver, broker)
        check(not console_errors(driver), f"console errors while refreshing: {console_errors(driver)}")
        check_csp_blocks_inline(driver)
        check_refused_token(driver, receiver)
        print(f"dashboard: ok ({history_points} + {live_points} chart points equal the series API, "
              f"h018 reached with {presses} Tab presses, "
              f"screenshots in {OUTPUT}, {time.time() - t0:.1f} s)")
    except SystemExit:
        print(receiver.read_log()[-3000:], file=sys.stderr)
        if agent is not None:
            print(agent.read_log()[-2000:], file=sys.stderr)
        raise
    finally:
        if driver is not None:
            driver.quit()
        if agent is not None and agent.proc:
            agent.kill9()
        if eagle is not None:
            eagle.terminate()
            eagle.wait(timeout=10)
        if receiver.proc:
            receiver.stop()
        broker.stop()


if __name__ == "__main__":
    main()
