"""Correcting an event from the live view, in a real headless Chromium, against the app on the
picamera2 stand-in: the same-room case (only "drink" taught; two people hugging in that room
read "drink"), and the corrections the app refuses."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request

from conftest import (
    ARTIFACTS,
    NTU_DRINK,
    NTU_HUGGING,
    start_live_app,
    teach_drink,
    write_clip,
    write_half,
)
from test_teach_panel import browser, request, status, stop_app  # noqa: F401 (browser is a fixture)


def wait_until(check, seconds: float, proc: subprocess.Popen, what: str):
    """Poll ``check`` until it returns something true; fail after ``seconds`` or if the app exits."""
    deadline = time.monotonic() + seconds
    while not (result := check()):
        assert proc.poll() is None, f"the app stopped while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.2)
    return result


def event_of(driver, label: str, with_clip: bool = False) -> str | None:
    """The id of the newest event of ``label`` the page lists (with a clip link)."""
    from selenium.webdriver.common.by import By

    for item in driver.find_elements(By.CSS_SELECTOR, "#events li.event"):
        if item.find_element(By.TAG_NAME, "strong").text.split(" (")[0] != label:
            continue
        if not with_clip or item.find_elements(By.TAG_NAME, "a"):
            return item.get_attribute("data-event")
    return None


def correction_requests(driver) -> list[dict]:
    """The headers of every POST .../correct the page sent (Chromium's network log)."""
    sent = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            req = message["params"]["request"]
            if req["method"] == "POST" and req["url"].endswith("/correct"):
                sent.append(req)
    return sent


def test_a_false_event_corrected_as_wrong_in_the_browser_stops_that_activity_reading_as_the_action(tmp_path, browser):  # noqa: F811
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    actions = teach_drink(tmp_path)
    hugging = write_half(tmp_path / "hugging.mp4", NTU_HUGGING, 0, 20.0, size=(640, 360))  # looped by the camera
    proc, url = start_live_app("--serve", "0", "--actions", actions, clip=hugging)
    base = re.sub(r"\?.*$", "", url)
    try:
        browser.get(url)
        # The list is redrawn when an event starts or ends: look again if it was under the finger.
        wait = WebDriverWait(browser, 40, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException])
        # The false event: hugging, never taught, reads as the only action taught in this room.
        false_id = wait.until(lambda d: event_of(d, "drink"))
        assert re.fullmatch(r"[0-9a-f]{8}", false_id), false_id
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f'#events li[data-event="{false_id}"] button.wrong').click() or True)
        corrected = f'#events li[data-event="{false_id}"] .corrected'
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, corrected))
        assert browser.find_element(By.CSS_SELECTOR, corrected).text == "corrected as something else"
        assert browser.find_element(By.ID, "correction").text.startswith(f"event {false_id} ('drink' at ")

        # The app scores with the correction at once: hugging now reads "something else".
        wait_until(lambda: status(base)["top"][0]["label"] == "other", 10, proc, 'top-1 "other"')
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#top .row span").text == "something else")
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "live_view_corrected.png"))

        # No new "drink" event over the next 10 s of camera time (the clip loops twice meanwhile).
        seen = status(base)
        since = seen["time_s"]
        drinks = set()
        while (now := status(base))["time_s"] < since + 10.0:
            assert proc.poll() is None
            drinks |= {e["id"] for e in now["events"] if e["label"] == "drink"}
            time.sleep(0.3)
        assert drinks == {false_id}, now["events"]
        assert now["top"][0]["label"] == "other", now["top"]
        sent = correction_requests(browser)
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    assert "Traceback" not in err

    # The request carried the token in a header, never in its address.
    assert len(sent) == 1 and sent[0]["url"] == f"{base}events/{false_id}/correct", sent
    assert sent[0]["headers"].get("Authorization", "").startswith("Bearer ") and "token" not in sent[0]["url"]
    assert json.loads(sent[0]["postData"]) == {"as": "wrong"}
    # The action file gained the event's features as an example of "other".
    taught = json.loads(actions.read_text())["actions"]
    assert [e["event"] for e in taught["other"]["examples"]] == [false_id]
    assert [e.get("event") for e in taught["drink"]["examples"]] == [None]
    assert f"corrected: event {false_id} ('drink' at " in err and "taught as 'something else'" in err


def test_right_and_it_was_teach_the_event_as_its_action_then_as_another_with_its_clip_at_hand(tmp_path, browser):  # noqa: F811
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    actions = teach_drink(tmp_path)
    clip = write_clip(tmp_path / "drink_then_ice.mp4", [(NTU_DRINK, 8.0), ("carving_ice.mp4", 6.0)], size=(640, 360))
    folder = tmp_path / "clips"
    proc, url = start_live_app("--serve", "0", "--actions", actions, "--record", folder, "--post-roll", "0.5", clip=clip)
    try:
        browser.get(url)
        wait = WebDriverWait(browser, 40, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException])
        item = 'li[data-event="{}"]'
        event_id = wait.until(lambda d: event_of(d, "drink", with_clip=True))
        link = browser.find_element(By.CSS_SELECTOR, f"{item.format(event_id)} a")
        text, name = link.text, link.get_attribute("download")
        video = urllib.request.urlopen(link.get_attribute("href"), timeout=10).read()

        def corrected_as(name: str):
            return lambda d: d.find_element(By.CSS_SELECTOR, f"{item.format(event_id)} .corrected").text == f"corrected as {name}"

        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"{item.format(event_id)} button.right").click() or True)
        wait.until(corrected_as("drink"))
        right = json.loads(actions.read_text())["actions"]
        # It was something else again: the field offers the taught actions; a new name is taken too.
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"{item.format(event_id)} button.it-was").click() or True)
        field = browser.find_element(By.CSS_SELECTOR, f"{item.format(event_id)} form input")
        field.send_keys("sipping tea")
        field.submit()
        wait.until(corrected_as("sipping tea"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#actions li[data-action="sipping tea"]'))
        offered = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#taught-names option")]
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    assert text == "clip" and video[4:8] == b"ftyp" and video == (folder / name).read_bytes()
    assert [e.get("event") for e in right["drink"]["examples"]] == [None, event_id]
    again = json.loads(actions.read_text())["actions"]  # a second correction replaces the first
    assert [e.get("event") for e in again["drink"]["examples"]] == [None]
    assert [e["event"] for e in again["sipping tea"]["examples"]] == [event_id]
    assert offered == ["drink", "sipping tea"]
    assert "Traceback" not in err


def test_undo_on_the_page_takes_a_long_events_correction_back_as_its_answer_says(tmp_path, browser):  # noqa: F811
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    actions = teach_drink(tmp_path)
    before = actions.read_bytes()
    drinking = write_half(tmp_path / "drinking.mp4", NTU_DRINK, 1, 20.0, size=(640, 360))  # looped by the camera
    proc, url = start_live_app("--serve", "0", "--actions", actions, clip=drinking)
    base = re.sub(r"\?.*$", "", url)
    try:
        token = re.search(r'name="movinet-token" content="([^"]+)"', page(base)).group(1)
        # A "drink" event that all looks like drink, said wrong by mistake past 20 s: the answer says
        # that all of it is taught, and how to take it back.
        event = wait_until(lambda: [e for e in status(base)["events"] if e["label"] == "drink"], 40, proc, "a drink event")[0]
        wait_until(lambda: status(base)["time_s"] > event["start_s"] + 22, 60, proc, "a 22 s event")
        nothing = request_json(base + f"events/{event['id']}/correct", {"as": "undo"}, {"Authorization": f"Bearer {token}"})
        browser.get(url)
        wait = WebDriverWait(browser, 40, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException])
        item = f'#events li[data-event="{event["id"]}"]'
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"{item} button.wrong"))
        undo_before = browser.find_elements(By.CSS_SELECTOR, f"{item} button.undo")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"{item} button.wrong").click() or True)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"{item} .corrected"))
        answer = browser.find_element(By.ID, "correction").text
        corrected = json.loads(actions.read_text())["actions"]
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"{item} button.undo").click() or True)
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, f"{item} .corrected"))
        undone = browser.find_element(By.ID, "correction").text
        undo_after = browser.find_elements(By.CSS_SELECTOR, f"{item} button.undo")
        listed = next(e for e in status(base)["events"] if e["id"] == event["id"])
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    assert nothing[0] == 409 and nothing[1]["error"].endswith("has no correction to take back"), nothing
    assert undo_before == [] and undo_after == []  # an Undo button only on a corrected event
    assert [e["event"] for e in corrected["other"]["examples"]] == [event["id"]]
    assert "it lasted" in answer and f"take this back (Undo on the event in the live view, or 'undo {event['id']}'" in answer
    assert "--as undo" not in answer  # how to take it back on the page, not on a command line
    assert undone.startswith(f"event {event['id']} ('drink' at ") and undone.endswith("): its correction taken back")
    assert listed["corrected"] is None  # as it was before the correction
    assert json.loads(actions.read_text())["actions"] == json.loads(before)["actions"]
    assert "Traceback" not in err


def test_corrections_without_the_token_from_another_site_or_of_unknown_events_are_refused(tmp_path):
    actions = teach_drink(tmp_path)
    before = actions.read_bytes()
    proc, url = start_live_app("--serve", "0", "--actions", actions)  # carving ice: no event of "drink"
    base = re.sub(r"\?.*$", "", url)
    try:
        token = re.search(r'name="movinet-token" content="([^"]+)"', page(base)).group(1)
        bearer = {"Authorization": f"Bearer {token}"}
        refused = {
            "no token": request("POST", base + "events/0123abcd/correct", {"as": "wrong"}),
            "token in the link": request("POST", base + f"events/0123abcd/correct?token={token}", {"as": "wrong"}),
            "another site": request(
                "POST", base + "events/0123abcd/correct", {"as": "wrong"}, **bearer, Origin="http://evil.example"
            ),
            "unknown id": request("POST", base + "events/0123abcd/correct", {"as": "wrong"}, **bearer),
            "bad name": request("POST", base + "events/0123abcd/correct", {"as": "a/b"}, **bearer),
            "no verdict": request("POST", base + "events/0123abcd/correct", {"is": "wrong"}, **bearer),
            "GET": request("GET", base + "events/0123abcd/correct"),
        }
        answer = request_json(base + "events/0123abcd/correct", {"as": "wrong"}, bearer)
        no_verdict = request_json(base + "events/0123abcd/correct", {"as": 5}, bearer)
        events = status(base)["events"]
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    assert refused == {
        "no token": 401,
        "token in the link": 401,
        "another site": 403,
        "unknown id": 404,
        "bad name": 400,
        "no verdict": 400,
        "GET": 404,
    }
    assert answer == (404, {"error": answer[1]["error"]}) and "\n" not in answer[1]["error"]
    assert answer[1]["error"].startswith("no event of a taught action yet"), answer
    assert no_verdict == (400, {"error": 'say what it was: {"as": "wrong" | "right" | "undo" | NAME}'})  # every verdict
    assert events == [] and actions.read_bytes() == before  # nothing changed
    assert "Traceback" not in err


def test_an_event_of_a_full_action_cannot_be_taught_as_right_and_changes_nothing(tmp_path):
    actions = teach_drink(tmp_path)
    doc = json.loads(actions.read_text())
    example = doc["actions"]["drink"]["examples"][0]
    doc["actions"]["drink"]["examples"] = [{**example, "id": f"{i:08x}"} for i in range(20)]  # the most an action keeps
    actions.write_text(json.dumps(doc))
    before = actions.read_bytes()
    clip = write_half(tmp_path / "drinking.mp4", NTU_DRINK, 1, 8.0, size=(640, 360))
    proc, url = start_live_app("--serve", "0", "--actions", actions, clip=clip)
    base = re.sub(r"\?.*$", "", url)
    try:
        token = re.search(r'name="movinet-token" content="([^"]+)"', page(base)).group(1)
        event = wait_until(lambda: status(base)["events"], 30, proc, "a drink event")[0]
        answer = request_json(base + f"events/{event['id']}/correct", {"as": "right"}, {"Authorization": f"Bearer {token}"})
        after = status(base)["events"]
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    assert event["label"] == "drink" and answer[0] == 409, answer
    assert answer[1]["error"].startswith("'drink' has 20 examples; an action keeps at most 20")
    assert actions.read_bytes() == before and next(e for e in after if e["id"] == event["id"])["corrected"] is None


def test_without_taught_actions_events_have_ids_and_cannot_be_corrected(tmp_path):
    proc, url = start_live_app("--serve", "0")  # carving ice: an event of the model's own classes
    base = re.sub(r"\?.*$", "", url)
    try:
        token = re.search(r'name="movinet-token" content="([^"]+)"', page(base)).group(1)
        proc_events = wait_until(lambda: status(base)["events"], 30, proc, "an event")
        event = proc_events[0]  # in progress: listed before it ends
        answer = request_json(base + f"events/{event['id']}/correct", {"as": "wrong"}, {"Authorization": f"Bearer {token}"})
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    assert event["label"] == "carving ice" and event["end_s"] is None and re.fullmatch(r"[0-9a-f]{8}", event["id"])
    assert answer[0] == 404 and "only events of taught actions can be corrected" in answer[1]["error"]


def page(base: str) -> str:
    import urllib.request

    with urllib.request.urlopen(base, timeout=10) as response:
        return response.read().decode()


def request_json(url: str, body: dict, headers: dict) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
