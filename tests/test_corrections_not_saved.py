"""A correction that is not saved says so where it was asked: the live view's answer (500 and
why; 202 and why while another program holds the library's lock, saved once it lets go) and the
MQTT state's ``correction`` (``"saved": false`` and why), against the running app on the
picamera2 stand-in with a real mosquitto; the command line's answer is in test_corrections.py."""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
import urllib.error
import urllib.request

from conftest import NTU_DRINK, Subscriber, start_live_app, teach_drink, write_half
from test_live_view_corrections import page, wait_until
from test_teach_panel import status, stop_app

TOPIC = "test/not-saved"


def post(url: str, body: dict, token: str) -> tuple[int, dict]:
    """POST ``body`` as JSON with the token; the status and the JSON answer (waits up to 30 s:
    a correction's answer waits for the library to be saved)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def states(subscriber: Subscriber) -> list[dict]:
    return [json.loads(p) for p in subscriber.on(f"{TOPIC}/state")]


def saved_later(saved, proc, what: str) -> None:
    """Wait (30 s at most, while the app runs) until ``saved()`` says the change is in the file."""
    deadline = time.monotonic() + 30
    while not saved():
        assert time.monotonic() < deadline and proc.poll() is None, f"{what} was not saved after the lock was freed"
        time.sleep(0.2)


def test_a_correction_that_cannot_be_saved_says_so_over_http_and_mqtt(tmp_path, broker):
    actions = teach_drink(tmp_path)
    clip = write_half(tmp_path / "drinking.mp4", NTU_DRINK, 1, 8.0, size=(640, 360))
    subscriber = Subscriber(broker.port, f"{TOPIC}/#")
    mqtt = ("--mqtt", f"127.0.0.1:{broker.port}", "--mqtt-topic", TOPIC)
    proc, url = start_live_app("--serve", "0", "--actions", actions, *mqtt, clip=clip)
    base = re.sub(r"\?.*$", "", url)
    try:
        token = re.search(r'name="movinet-token" content="([^"]+)"', page(base)).group(1)
        event = wait_until(lambda: status(base)["events"], 30, proc, "a drink event")[0]
        correct = base + f"events/{event['id']}/correct"
        saved = post(correct, {"as": "wrong"}, token)  # saved: the answer says what was done
        after_saved = actions.read_bytes()
        actions.rename(tmp_path / "moved.json")
        actions.mkdir()  # the action file replaced by a folder
        refused = post(correct, {"as": "right"}, token)
        subscriber.client.publish(f"{TOPIC}/command", "wrong", qos=1).wait_for_publish(10)
        assert subscriber.wait_for(lambda s: any(st["correction"] for st in states(s)), 30), proc.stderr
        listed = next(e for e in status(base)["events"] if e["id"] == event["id"])
    finally:
        code, err = stop_app(proc)
        subscriber.close()
    assert code == 0 and "Traceback" not in err, err
    assert saved == (200, {"message": saved[1]["message"]}) and " taught as 'something else'" in saved[1]["message"]
    assert json.loads(after_saved)["actions"]["other"]["examples"][0]["event"] == event["id"]
    what = f"event {event['id']} ('drink' at "
    assert refused[0] == 500 and list(refused[1]) == ["error"], refused
    error = refused[1]["error"]
    assert error.startswith(what) and f" was not corrected: --actions {actions} is a folder" in error and "\n" not in error
    answers = {json.dumps(st["correction"]) for st in states(subscriber) if st["correction"]}  # sent once a second
    (mqtt_answer,) = map(json.loads, answers)
    assert mqtt_answer["command"] == "wrong" and mqtt_answer["saved"] is False
    message = mqtt_answer["message"]
    # "wrong": the newest event of a taught action, this one or a later one
    assert re.match(r"event [0-9a-f]{8} \('drink' at ", message)
    assert f"was not corrected: --actions {actions} is a folder" in message
    assert f"MQTT command 'wrong' not done: {message}" in err
    assert listed["corrected"] == "other"  # the correction that was saved, not the one that was not
    assert actions.is_dir() and list(actions.iterdir()) == []


def test_a_correction_while_another_program_holds_the_lock_is_saved_when_it_lets_go(tmp_path):
    actions = teach_drink(tmp_path)
    clip = write_half(tmp_path / "drinking.mp4", NTU_DRINK, 1, 8.0, size=(640, 360))
    proc, url = start_live_app("--serve", "0", "--actions", actions, clip=clip)
    base = re.sub(r"\?.*$", "", url)
    lock = os.open(actions.with_name(actions.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        token = re.search(r'name="movinet-token" content="([^"]+)"', page(base)).group(1)
        event = wait_until(lambda: status(base)["events"], 30, proc, "a drink event")[0]
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = actions.read_bytes()
        answer = post(base + f"events/{event['id']}/correct", {"as": "wrong"}, token)
        unchanged = actions.read_bytes() == before
        os.close(lock)  # the other program lets go
        lock = None
        saved_later(lambda: "other" in json.loads(actions.read_text())["actions"], proc, "the correction")
    finally:
        if lock is not None:
            os.close(lock)
        code, err = stop_app(proc)
    assert code == 0 and "Traceback" not in err, err
    assert answer[0] == 202 and list(answer[1]) == ["message"], answer
    message = answer[1]["message"]
    assert message.startswith(f"event {event['id']} ('drink' at ") and " is not corrected yet: " in message
    assert "the change will be made when it is free" in message and unchanged
    assert f"corrected: event {event['id']} ('drink' at " in err


def delete(url: str, token: str) -> tuple[int, dict]:
    """DELETE with the token; the status and the JSON answer."""
    req = urllib.request.Request(url, method="DELETE", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_deleting_an_action_answers_as_a_correction_does_when_it_is_not_saved(tmp_path):
    """404 only for an action that is not there: 500 when the deletion cannot be saved, 202 while
    another program holds the library's lock (deleted once it lets go). Every failure was 404."""
    actions = teach_drink(tmp_path)
    proc, url = start_live_app("--serve", "0", "--actions", actions)
    base = re.sub(r"\?.*$", "", url)
    lock = os.open(actions.with_name(actions.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        token = re.search(r'name="movinet-token" content="([^"]+)"', page(base)).group(1)
        absent = delete(base + "teach/actions/juggling", token)
        actions.rename(tmp_path / "moved.json")
        actions.mkdir()  # the action file replaced by a folder: nothing can be saved there
        refused = delete(base + "teach/actions/drink", token)
        actions.rmdir()
        (tmp_path / "moved.json").rename(actions)
        fcntl.flock(lock, fcntl.LOCK_EX)
        busy = delete(base + "teach/actions/drink", token)
        kept_while_locked = "drink" in json.loads(actions.read_text())["actions"]
        os.close(lock)  # the other program lets go
        lock = None
        saved_later(lambda: "drink" not in json.loads(actions.read_text())["actions"], proc, "the deletion")
    finally:
        if lock is not None:
            os.close(lock)
        code, err = stop_app(proc)
    assert code == 0 and "Traceback" not in err, err
    assert absent[0] == 404 and absent[1]["error"].startswith("no action called 'juggling'"), absent
    assert refused[0] == 500 and list(refused[1]) == ["error"], refused
    assert refused[1]["error"].startswith("'drink' was not forgotten: ") and f"{actions} is a folder" in refused[1]["error"]
    assert busy[0] == 202 and list(busy[1]) == ["message"] and kept_while_locked, busy
    assert busy[1]["message"].startswith("'drink' is not forgotten yet: ") and "when it is free" in busy[1]["message"]
