"""The dashboard's archived-message browser in headless Chromium (selenium) against a receiver
holding archive segments built with Python's bson: two devices, two topics over two pages, a
topic and a payload carrying markup, and a binary payload with NUL and invalid UTF-8.

Checked: the list shows exactly the messages the API returns for a device and topic filter,
page by page through the cursor, and for a UTC time range typed into the form; the device page
links to its messages and the nav to the list; a message's detail shows its topic, QoS, retain
and user properties, its text as text (the markup as characters: no <img>, no dialog) and a
hex dump equal to the payload's bytes (the only view of the binary one); the download button
saves the payload's exact bytes without the token in any URL; Tab and Enter reach a message;
no console errors; at 360 px neither page scrolls sideways. Screenshots go to
$GRANARY_TEST_OUTPUT."""
import os
import tempfile
import time
import urllib.parse

from archive_segments import all_messages, message_doc, upload
from browser_harness import (browser, check_no_markup, console_errors, save_screenshot, sign_in,
                             wait_js)
from harness import check, wait_until
from receiver_harness import READER_TOKEN, Receiver, boto3_client

XSS = "<img src=x onerror=alert(1)>"
XSS_TOPIC = f"robot/{XSS}"
BINARY = b"\x00\xff\xfe\xc3\x28bin\x00" + bytes(range(256))
TS0 = 1764460800000  # 2025-11-30T00:00:00Z
OUTPUT = (os.environ.get("GRANARY_TEST_OUTPUT")
          or tempfile.mkdtemp(prefix="granary-dashboard-messages-"))
PAGE = 50  # messages.js's page size


def populate(r):
    """h017: 120 text messages alternating robot/arm/0 and robot/arm/1 (60 each, so a filter
    spans two pages), then the markup and the binary message; h018: 10 on robot/arm/1."""
    docs = [message_doc(s, TS0 + s * 1000, f"robot/arm/{s % 2}", f"reading {s} \u00e9".encode(),
                        {"user_properties": [["robot", f"arm-{s % 2}"]]}, qos=s % 3)
            for s in range(1, 121)]
    docs.append(message_doc(121, TS0 + 121 * 1000, XSS_TOPIC, f"{XSS} & </pre>".encode(),
                            {"user_properties": [[XSS, XSS]], "content_type": "text/html"},
                            qos=1, retain=True))
    docs.append(message_doc(122, TS0 + 122 * 1000, "robot/bin", BINARY, qos=2))
    others = [message_doc(s, TS0 + s * 1500, "robot/arm/1", b"other device", device="h018")
              for s in range(1, 11)]
    for device, batch in (("h017", docs[:100]), ("h017", docs[100:]), ("h018", others)):
        code, key = upload(boto3_client(r.endpoint, device=device), [d for d, _ in batch],
                           device=device)
        check(code is None, f"{key} answered {code}")
    return {str(mid): doc for doc, mid in docs + others}


def listed_ids(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#messages tbody tr')].map((tr) => tr.dataset.id)")


def wait_ready(driver, what, hash_prefix):
    wait_js(driver, what, f"return location.hash.startsWith({hash_prefix!r}) && "
            "document.getElementById('view').dataset.ready === 'true'")


def check_filter(driver, r):
    """The form's device and topic filter lists what the API lists, page by page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    driver.find_element(By.ID, "msg-device").send_keys("h017")
    topic = driver.find_element(By.ID, "msg-topic")
    topic.send_keys("robot/arm/1")
    topic.send_keys(Keys.ENTER)
    wait_ready(driver, "the filtered list", "#/messages?device=h017&topic=robot%2Farm%2F1")
    pages, cursor = [], ""
    for _ in range(5):
        status, page = r.api(f"/api/v1/messages?device=h017&topic=robot/arm/1&limit={PAGE}{cursor}")
        check(status == 200, f"list API {status}")
        shown = listed_ids(driver)
        check(shown == [m["id"] for m in page["messages"]],
              f"page {len(pages) + 1} shows {len(shown)} messages, the API {len(page['messages'])}")
        pages.append(shown)
        if "next_cursor" not in page:
            check(not driver.find_elements(By.ID, "messages-next"), "a next link after the last page")
            break
        cursor = f"&cursor={page['next_cursor']}"
        driver.find_element(By.ID, "messages-next").click()
        wait_ready(driver, "the next page", "#/messages?device=h017&topic=robot%2Farm%2F1&cursor=")
    every = [m["id"] for m in all_messages(r, "device=h017&topic=robot/arm/1")]
    check([i for p in pages for i in p] == every and len(every) == 60 and len(pages) == 2,
          f"{len(pages)} pages of {[len(p) for p in pages]}, the API has {len(every)}")
    return len(every)


def check_time_range(driver, r):
    from selenium.webdriver.common.by import By
    driver.get(f"{r.endpoint}/#/messages")
    wait_ready(driver, "the message list", "#/messages")
    driver.execute_script("document.getElementById('msg-from').value = '2025-11-30T00:01:00';"
                          "document.getElementById('msg-to').value = '2025-11-30T00:01:20';")
    driver.find_element(By.CSS_SELECTOR, "#messages-form button[type=submit]").click()
    wait_ready(driver, "the time-range list", "#/messages?from=")
    query = "from=2025-11-30T00:01:00Z&to=2025-11-30T00:01:20Z"
    check(driver.execute_script("return location.hash") == "#/messages?" + query.replace(":", "%3A"),
          f"hash {driver.execute_script('return location.hash')}")
    api = [m["id"] for m in all_messages(r, query)]
    check(listed_ids(driver) == api and len(api) > 10,
          f"the time range shows {len(listed_ids(driver))}, the API {len(api)}")


def hex_bytes(driver):
    """The payload's bytes read back from the hex dump's text."""
    text = driver.execute_script("return document.getElementById('payload-hex').textContent")
    return bytes(int(h, 16) for line in text.split("\n") if line for h in line[10:57].split())


def visible(driver, element_id):
    return driver.execute_script(f"return !document.getElementById('{element_id}').hidden")


def open_by_keyboard(driver, r, mid):
    """Tab from the top of the list reaches the message's link; Enter opens it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    for presses in range(1, 41):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if driver.execute_script("return document.activeElement.getAttribute('href')") == f"#/message/{mid}":
            break
    else:
        check(False, f"40 presses of Tab did not reach message {mid}")
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait_ready(driver, "the message by keyboard", f"#/message/{mid}")
    return presses


def check_markup_message(driver, r, docs):
    from selenium.webdriver.common.by import By
    driver.get(f"{r.endpoint}/#/messages?topic=" + urllib.parse.quote(XSS_TOPIC, safe=""))
    wait_ready(driver, "the markup topic's list", "#/messages?topic=")
    rows = driver.find_elements(By.CSS_SELECTOR, "#messages tbody tr")
    check(len(rows) == 1 and XSS_TOPIC in rows[0].text, f"the markup topic lists {[x.text for x in rows]}")
    check_no_markup(driver)
    mid = rows[0].get_attribute("data-id")
    presses = open_by_keyboard(driver, r, mid)
    doc = docs[mid]
    fact = lambda k: driver.find_element(By.CSS_SELECTOR, f"#message-facts dd[data-fact='{k}']").text
    check(fact("Topic") == XSS_TOPIC and fact("QoS") == "1" and fact("Retain") == "yes"
          and fact("Content type") == "text/html", f"facts {driver.find_element(By.ID, 'message-facts').text!r}")
    props = driver.find_element(By.ID, "user-properties").text
    check(XSS in props and mid in props, f"user properties {props!r}")
    check(visible(driver, "payload-text") and not visible(driver, "payload-hex"), "text is not the first view")
    text = driver.execute_script("return document.getElementById('payload-text').textContent")
    check(text == bytes(doc["payload"]).decode(), f"the text view shows {text!r}")
    check_no_markup(driver)
    save_screenshot(driver, os.path.join(OUTPUT, "message-text.png"))
    driver.find_element(By.ID, "show-hex").click()
    check(visible(driver, "payload-hex") and not visible(driver, "payload-text"), "Hex did not switch")
    check(hex_bytes(driver) == bytes(doc["payload"]), "the hex dump differs from the payload")
    driver.find_element(By.ID, "show-text").click()
    check(visible(driver, "payload-text"), "Text did not switch back")
    return presses


def check_binary_message(driver, r, docs, downloads):
    from selenium.webdriver.common.by import By
    [row] = all_messages(r, "topic=robot/bin")
    driver.get(f"{r.endpoint}/#/message/{row['id']}")
    wait_ready(driver, "the binary message", f"#/message/{row['id']}")
    check(driver.find_element(By.ID, "show-text").get_attribute("disabled") is not None,
          "Text is offered for a binary payload")
    check(visible(driver, "payload-hex") and not visible(driver, "payload-text"), "binary not shown as hex")
    check(hex_bytes(driver) == BINARY == bytes(docs[row["id"]]["payload"]),
          "the hex dump differs from the binary payload")
    save_screenshot(driver, os.path.join(OUTPUT, "message-hex.png"))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    driver.find_element(By.ID, "download").click()
    saved = os.path.join(downloads, f"{row['id']}.payload")
    wait_until("the downloaded payload", lambda: os.path.exists(saved), 20, step=0.1)
    wait_js(driver, "the download note", "return document.getElementById('download-status').textContent !== ''")
    with open(saved, "rb") as f:
        check(f.read() == BINARY, "the downloaded payload differs")
    urls = driver.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    check(not [u for u in urls + [driver.current_url] if READER_TOKEN in u], "the token went into a URL")
    return row["id"]


def check_narrow(driver, r, binary_id):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 360, "height": 780, "deviceScaleFactor": 1, "mobile": True})
    for name, hash_ in (("messages-360.png", "#/messages?device=h017&topic=robot%2Farm%2F1"),
                        ("message-360.png", f"#/message/{binary_id}")):
        driver.get(f"{r.endpoint}/{hash_}")
        wait_ready(driver, name, hash_)
        widths = driver.execute_script("return [document.documentElement.scrollWidth, "
                                       "document.body.scrollWidth, window.innerWidth]")
        check(max(widths[:2]) <= widths[2], f"{hash_} overflows at 360 px: {widths}")
        save_screenshot(driver, os.path.join(OUTPUT, name))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def main():
    os.makedirs(OUTPUT, exist_ok=True)
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="granary-dashboard-messages-")
    r = Receiver(workdir=os.path.join(work, "receiver"))
    driver = None
    try:
        r.start()
        docs = populate(r)
        driver = browser()
        sign_in(driver, r.endpoint)
        wait_js(driver, "the fleet page", "return document.querySelectorAll('#fleet tbody tr').length === 2")
        driver.get(f"{r.endpoint}/#/device/h017")
        wait_ready(driver, "h017's page", "#/device/h017")
        driver.find_element("id", "device-messages").click()
        wait_ready(driver, "h017's messages", "#/messages?device=h017")
        check(len(listed_ids(driver)) == PAGE, f"h017's list shows {len(listed_ids(driver))}")
        driver.find_element("id", "nav-messages").click()
        wait_ready(driver, "the message list from the nav", "#/messages")
        listed = check_filter(driver, r)
        save_screenshot(driver, os.path.join(OUTPUT, "messages.png"))
        check_time_range(driver, r)
        presses = check_markup_message(driver, r, docs)
        binary_id = check_binary_message(driver, r, docs, work)
        check_narrow(driver, r, binary_id)
        check(not console_errors(driver), f"console errors: {console_errors(driver)}")
        print(f"dashboard_messages: ok ({listed} messages over 2 pages equal the API, the markup "
              f"message reached with {presses} Tab presses, {len(BINARY)} binary bytes in hex and "
              f"downloaded exactly, screenshots in {OUTPUT}, {time.time() - t0:.1f} s)")
    except SystemExit:
        print(r.read_log()[-3000:])
        raise
    finally:
        if driver is not None:
            driver.quit()
        if r.proc:
            r.stop()


if __name__ == "__main__":
    main()
