"""The Teach panel of the live view, driven in a real headless Chromium (Selenium and Debian's
chromedriver) against the app on the picamera2 stand-in."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from conftest import ARTIFACTS, IN_CI, require_program, start_live_app


def stop_app(proc: subprocess.Popen) -> tuple[int, str]:
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


@pytest.fixture
def browser(tmp_path):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if IN_CI:
            pytest.fail("selenium is not installed (pip install -r requirements.txt)")
        pytest.skip("selenium is not installed")
    driver_path = require_program("chromedriver", "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = require_program("chromium", "chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=420,1600",
        f"--user-data-dir={tmp_path / 'c'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # the requests the page sends
    driver = webdriver.Chrome(service=Service(driver_path), options=options)  # a given driver: nothing is downloaded
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def request(method: str, url: str, body: dict | None = None, **headers: str) -> int:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_phone_teaches_an_action_sees_the_count_rise_and_deletes_it(tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    library = tmp_path / "actions.json"
    # A 3 s hold: the heading shows the action starting before its event does.
    proc, url = start_live_app("--serve", "0", "--actions", library, "--hold", "3")
    try:
        browser.get(url)
        wait = WebDriverWait(browser, 40, poll_frequency=0.2)
        wait.until(lambda d: d.find_element(By.ID, "teach").is_displayed())
        browser.find_element(By.ID, "teach-name").send_keys("ice sculpting")
        Select(browser.find_element(By.ID, "teach-seconds")).select_by_visible_text("3 s")
        browser.find_element(By.ID, "teach-record").click()
        # The countdown and the recording are shown on the page (and drawn on the live picture).
        seen = set()

        def progress(d):
            seen.add(d.find_element(By.ID, "lesson").text)
            return d.find_elements(By.CSS_SELECTOR, '#actions li[data-action="ice sculpting"]')

        wait.until(progress)
        item = browser.find_element(By.CSS_SELECTOR, '#actions li[data-action="ice sculpting"]')
        assert item.text.startswith("ice sculpting: 1 example(s)")
        assert any(text.startswith("ice sculpting in ") for text in seen), seen
        assert any(text.startswith("recording ice sculpting") for text in seen), seen
        assert not any("[" in text for text in seen), seen  # one progress bar: the graphic one, not text
        wait.until(lambda d: d.find_element(By.ID, "lesson").text == "saved: 1 example(s) of ice sculpting")
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "teach_panel.png"))
        saved = json.loads(library.read_text())["actions"]["ice sculpting"]["examples"]
        assert len(saved) == 1 and saved[0]["source"] == "browser" and saved[0]["seconds"] == 3.0

        # Recognition uses it at once: the taught name becomes the current action; the heading
        # follows the bars during the hold, and the event in progress is listed.
        headings = set()

        def active(d):
            headings.add(d.find_element(By.ID, "active").text)
            return "ice sculpting" in headings

        wait.until(active)
        assert "ice sculpting (starting)" in headings, headings
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#events li").text.startswith("ice sculpting (now) "))

        # Without the token (or with it only in the link) a change is refused; the library is unchanged.
        base = re.sub(r"\?.*$", "", url)
        assert request("DELETE", base + "teach/actions/ice%20sculpting") == 401
        token = browser.find_element(By.CSS_SELECTOR, 'meta[name="movinet-token"]').get_attribute("content")
        assert request("DELETE", base + f"teach/actions/ice%20sculpting?token={token}") == 401
        assert (
            request("POST", base + "teach", {"name": "x"}, Authorization=f"Bearer {token}", Origin="http://evil.example") == 403
        )
        assert request("DELETE", base + "teach/actions/juggling", Authorization=f"Bearer {token}") == 404
        assert request("GET", base + "teach") == 404  # GET never changes anything
        assert "ice sculpting" in json.loads(library.read_text())["actions"]

        item.find_element(By.CSS_SELECTOR, "button.forget").click()
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '#actions li[data-action="ice sculpting"]'))
        assert json.loads(library.read_text())["actions"] == {}
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    assert "Traceback" not in err


def test_cancel_ends_a_lesson_and_keeps_the_examples_saved_before(tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    library = tmp_path / "actions.json"
    proc, url = start_live_app("--serve", "0", "--actions", library)
    base = re.sub(r"\?.*$", "", url)
    try:
        browser.get(url)
        wait = WebDriverWait(browser, 40, poll_frequency=0.2)
        wait.until(lambda d: d.find_element(By.ID, "teach").is_displayed())
        token = browser.find_element(By.CSS_SELECTOR, 'meta[name="movinet-token"]').get_attribute("content")
        bearer = {"Authorization": f"Bearer {token}"}
        assert request("POST", base + "teach/cancel", **bearer) == 409  # no lesson yet
        assert request("POST", base + "teach", {"name": "waving", "seconds": 2, "examples": 3}, **bearer) == 202
        # Cancelled in the pause after the first of three examples.
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#actions li[data-action="waving"]'))
        assert request("POST", base + "teach/cancel") == 401  # the same guard as every change
        browser.find_element(By.ID, "teach-cancel").click()
        wait.until(lambda d: d.find_element(By.ID, "lesson").text == "cancelled: 1 example(s) of waving saved")
        assert not browser.find_element(By.ID, "teach-cancel").is_displayed()
        assert browser.find_element(By.ID, "teach-record").is_enabled()
        # Long enough in camera time for the next example's pause and recording: none comes.
        since = status(base)["time_s"]
        while (now := status(base))["time_s"] < since + 6.0:
            assert proc.poll() is None
            time.sleep(0.3)
        lesson = now["teach"]["lesson"]
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    assert (lesson["phase"], lesson["cancelled"], lesson["saved"]) == ("done", True, 1)
    assert len(json.loads(library.read_text())["actions"]["waving"]["examples"]) == 1
    assert "Traceback" not in err


def status(base: str) -> dict:
    with urllib.request.urlopen(base + "status.json", timeout=10) as response:
        return json.loads(response.read())
