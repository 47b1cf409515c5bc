"""Debian's headless Chromium driven by selenium (python3-selenium, chromium-driver) for the
dashboard tests: the browser, its console, waiting on page state, full-page screenshots and
signing in with the reader token."""
import base64
import os
import tempfile

from harness import check, wait_until
from receiver_harness import READER_TOKEN


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={tempfile.mkdtemp(prefix='granary-chromium-')}",
                "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_js(driver, what, script, timeout=20):
    wait_until(what, lambda: driver.execute_script(script), timeout, step=0.1)


def check_no_markup(driver):
    """Markup from a device stayed text: no <img> element and no dialog."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    check(not driver.find_elements(By.CSS_SELECTOR, "img"), "markup became an <img> element")
    try:
        driver.switch_to.alert
        check(False, "a dialog opened")
    except NoAlertPresentException:
        pass


def save_screenshot(driver, path):
    """The whole page, not just the viewport."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    check(os.path.getsize(path) > 1000, f"screenshot {path}")


def sign_in(driver, endpoint, on_form=None):
    """Opens the dashboard and signs in; on_form(driver) runs while the form is shown."""
    from selenium.webdriver.common.by import By
    driver.get(endpoint + "/")
    wait_js(driver, "the sign-in form", "return !document.getElementById('login').hidden")
    if on_form:
        on_form(driver)
    driver.find_element(By.ID, "token").send_keys(READER_TOKEN)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    check(READER_TOKEN not in driver.current_url, "the token went into the URL")
