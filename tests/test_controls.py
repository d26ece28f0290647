"""One table of commands (controls.py) that every surface is built from: the window's keys, the
MQTT command topic (through a real mosquitto), Home Assistant's entities and the live view's
routes (a real server on loopback). Each surface is driven as a user would, and what it did is
compared with what the table's command does when called directly.

The pipeline, the corrector and the teacher are stand-ins that record what they were asked (the
real ones are driven end to end in test_live_view_corrections.py, test_teach_panel.py,
test_mqtt.py and test_home_assistant.py); the Controls, the publisher, the discovery, the
window's key handler, the route table, the HTTP server and the region are the app's own.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from conftest import Subscriber

from video_classifier.controls import COMMANDS, LESSON_EXAMPLES, LESSON_SECONDS, Command, Controls
from video_classifier.data import Category, Prediction, Region
from video_classifier.errors import UserError
from video_classifier.region import Framing

EVENT_ID, NAME = "3f9a1c2e", "feeding the cat"
TOPIC = "test/controls"
TOKEN = "a-token-for-the-tests"


class Pipeline:
    """What the controls drive in the pipeline; records it. Its region is the app's own."""

    def __init__(self) -> None:
        self.paused = False
        self.asked: list = []
        self.framing = Framing()
        self.framing.picture = (640, 480)  # as after the first camera frame
        self.framing.set_drawn(Region(0, 0, 320, 240))  # drawn in the live view before

    def request_reset(self) -> None:
        self.asked.append("reset")

    def set_paused(self, paused: bool) -> None:
        self.asked.append(("paused", paused))
        self.paused = paused


class Corrector:
    def __init__(self) -> None:
        self.asked: list[tuple[str | None, str]] = []

    def correct(self, event_id: str | None, verdict: str) -> str:
        self.asked.append((event_id, verdict))
        return f"event {event_id} taught as {verdict!r}"

    def last_corrected(self) -> str:
        return "0ld1d000"


class Teacher:
    def __init__(self) -> None:
        self.asked: list[tuple] = []
        self.busy = False

    def begin(self, name: str, seconds: float, examples: int, source: str) -> None:
        self.asked.append(("begin", name, seconds, examples, source))

    def cancel(self) -> bool:
        self.asked.append(("cancel",))
        return True

    def forget(self, name: str, example_id: str | None = None) -> None:
        self.asked.append(("forget", name, example_id))

    def state(self, library_seen: int | None = None) -> dict:
        return {"asked": len(self.asked)}


def parts() -> tuple[Pipeline, Corrector, Teacher]:
    return Pipeline(), Corrector(), Teacher()


def seen(pipeline: Pipeline, corrector: Corrector, teacher: Teacher) -> tuple:
    """Everything the stand-ins were asked, as one comparable value."""
    return tuple(pipeline.asked), pipeline.framing.state()["set"], tuple(corrector.asked), tuple(teacher.asked)


def direct(command: Command, **args) -> tuple:
    """What ``command`` does when the Controls are called directly, on fresh stand-ins."""
    stand_ins = parts()
    Controls(*stand_ins).run(command, **args)
    return seen(*stand_ins)


def sample(form: str) -> tuple[str, dict[str, str]]:
    """A message of an MQTT form, and the arguments it stands for."""
    args = {"event_id": EVENT_ID} if "ID" in form.split() else {}
    if "NAME" in form.split():
        args["name"] = NAME
    return form.replace("ID", EVENT_ID).replace("NAME", NAME), args


def test_the_table_names_a_method_for_every_command_and_each_surface_form_once():
    names = [c.name for c in COMMANDS]
    assert len(names) == len(set(names))
    assert all(callable(getattr(Controls, name, None)) for name in names)
    keys = [c.key[0] for c in COMMANDS if c.key]
    forms = [form for c in COMMANDS for form in c.mqtt]
    routes = [route for c in COMMANDS for route in c.routes]
    entities = [(c.entity.component, c.entity.key) for c in COMMANDS if c.entity]
    for listed in (keys, forms, routes, entities):
        assert len(listed) == len(set(listed)), listed
    assert {"teach", "cancel", "forget"} <= {c.name for c in COMMANDS if c.routes}  # the Teach panel goes through Controls too


# -- the window --------------------------------------------------------------------------------
def test_every_key_of_the_table_does_in_the_window_what_its_command_does():
    from video_classifier.display.window import Viewer, commands_keys_help

    for command in (c for c in COMMANDS if c.key):
        stand_ins = parts()
        viewer = Viewer(stand_ins[0], "model", screen=None, controls=Controls(*stand_ins))
        before = seen(*stand_ins)
        assert viewer._handle_key(ord(command.key[0])) is True
        assert seen(*stand_ins) == direct(command) != before, command.name
        assert f"{'space' if command.key[0] == ' ' else command.key[0]} {command.key[1]}" in commands_keys_help()
    stand_ins = parts()
    viewer = Viewer(stand_ins[0], "model", screen=None, controls=Controls(*stand_ins))
    assert viewer._handle_key(ord("x")) is True and viewer._handle_key(-1) is True
    assert seen(*stand_ins) == seen(*parts())  # a key of no command does nothing
    assert viewer._handle_key(ord("q")) is False and viewer._handle_key(27) is False


# -- MQTT and Home Assistant ---------------------------------------------------------------------
def until(predicate, timeout: float = 10.0) -> bool:
    """Whether ``predicate()`` holds within ``timeout`` seconds (asked every 20 ms)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_every_mqtt_form_of_the_table_does_through_a_real_broker_what_its_command_does(broker, caplog):
    from video_classifier.home_assistant.publisher import MqttPublisher, MqttSettings

    publisher = MqttPublisher(MqttSettings("127.0.0.1", broker.port, topic=TOPIC), taught=lambda: ["drink"]).connect()
    subscriber = Subscriber(broker.port, topic=f"{TOPIC}/state", name="controls")
    try:
        publisher.start()
        publisher.on_prediction(Prediction(0, 0.0, [Category("drink", 0.9)], 5.0))  # the state goes out from now on
        # start() subscribes to the command topic: a command that reaches the broker before the
        # subscription does is lost, as with any MQTT client. Commands go out once one is heard.
        deadline = time.monotonic() + 10
        while "MQTT command ignored" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            subscriber.client.publish(f"{TOPIC}/command", "hello", qos=1).wait_for_publish(1)
            time.sleep(0.2)
        for command in COMMANDS:
            for form in command.mqtt:
                payload, args = sample(form)
                stand_ins = parts()
                publisher.control(Controls(*stand_ins))
                subscriber.client.publish(f"{TOPIC}/command", payload, qos=1).wait_for_publish(10)
                expected = direct(command, **args)
                assert until(lambda e=expected, i=stand_ins: seen(*i) == e), (form, seen(*stand_ins))
                if command.uses == "corrector":  # the state says what came of it
                    assert subscriber.wait_for(lambda s, p=payload: correction(s) == {**correction(s), "command": p}, 10)
                    assert correction(subscriber)["saved"] is True, form
    finally:
        subscriber.close()
        publisher.close()


def correction(subscriber: Subscriber) -> dict:
    """The correction the newest state message tells of ({} when none)."""
    states = [json.loads(p) for p in subscriber.on(f"{TOPIC}/state") if p]
    return (states[-1].get("correction") or {}) if states else {}


def test_every_entity_of_the_table_is_announced_and_sends_a_form_of_its_own_command():
    from video_classifier.controls import parse_command
    from video_classifier.home_assistant.discovery import Device, discovery_configs

    device = Device("test_controls", TOPIC, "a0")
    with_actions = discovery_configs(device, corrections=True, taught=[])
    without = discovery_configs(device, corrections=False, taught=[])
    for command in (c for c in COMMANDS if c.entity):
        entity = command.entity
        topic = f"homeassistant/{entity.component}/test_controls/{entity.key}/config"
        assert (topic in without) == (command.uses == "pipeline"), topic  # corrections only with --actions
        config = with_actions[topic]
        assert config["command_topic"] == f"{TOPIC}/command" and config["name"] == entity.name
        sent = sent_by(entity.component, config)
        found = [parse_command(payload) for payload in sent]
        assert found[0] is not None and found[0][0] is command, (command.name, sent)
        assert all(f is not None and f[0].uses == command.uses for f in found), sent
        if entity.component == "text":
            assert found[0][1] == {"name": NAME} and config["max"] == 40  # no longer than an action's name
    # No entity sends a command that the table does not have.
    commanding = {t for t, c in with_actions.items() if "command_topic" in c}
    assert len(commanding) == sum(1 for c in COMMANDS if c.entity)


def sent_by(component: str, config: dict) -> list[str]:
    """What an entity of Home Assistant sends to the command topic (a text: with a name typed)."""
    if component == "button":
        return [config["payload_press"]]
    if component == "switch":
        return [config["payload_on"], config["payload_off"]]
    return [config["command_template"].replace("{{ value }}", NAME)]


def test_a_correction_the_corrector_refuses_is_said_in_the_state_and_a_message_no_form_fits_is_ignored(broker):
    from video_classifier.home_assistant.publisher import MAX_COMMAND_BYTES, MqttPublisher, MqttSettings

    pipeline = Pipeline()
    publisher = MqttPublisher(MqttSettings("127.0.0.1", broker.port, topic=TOPIC)).connect()
    publisher.control(Controls(pipeline))  # no --actions: no corrector
    subscriber = Subscriber(broker.port, topic=f"{TOPIC}/state", name="refusals")
    try:
        publisher.start()
        publisher.on_prediction(Prediction(0, 0.0, [Category("drink", 0.9)], 5.0))  # the state goes out from now on
        # A first command heard: the publisher listens (its subscription is made in the background).
        for _ in range(20):
            subscriber.client.publish(f"{TOPIC}/command", "reset", qos=1).wait_for_publish(10)
            if subscriber.wait_for(lambda s: pipeline.asked, 1):
                break
        heard = len(pipeline.asked)
        assert heard
        for payload in ("it was " + "x" * MAX_COMMAND_BYTES, "it was", "WRONG", "undo 12", "reset"):
            subscriber.client.publish(f"{TOPIC}/command", payload, qos=1).wait_for_publish(10)
        assert subscriber.wait_for(lambda s: len(pipeline.asked) == heard + 1, 10)
        subscriber.client.publish(f"{TOPIC}/command", f"{EVENT_ID} was {NAME}", qos=1).wait_for_publish(10)
        assert subscriber.wait_for(correction, 10)
        assert correction(subscriber) == {
            "command": f"{EVENT_ID} was {NAME}",
            "saved": False,
            "message": "corrections need taught actions: run with --actions FILE",
        }
        assert publisher._ignored == 4
    finally:
        subscriber.close()
        publisher.close()


# -- the live view -----------------------------------------------------------------------------
BODIES = {  # what the page sends to each command's route
    "set_region": {"x": 10, "y": 20, "w": 300, "h": 200},
    "correct": {"as": "wrong"},
    "teach": {"name": "waving", "seconds": 3, "examples": 2},
}


def serve(controls: Controls, teacher: Teacher | None, routes=None):
    from video_classifier.live_view.server import LiveView

    view = LiveView(None, None, "127.0.0.1", 0, TOKEN, False, teacher=teacher, controls=controls, routes=routes)
    view.start()
    return view


def ask(view, route: str, body: dict | None = None) -> tuple[int, dict | str]:
    method, _, path = route.partition(" ")
    path = path.replace("{event_id}", EVENT_ID).replace("{name}", "ice%20sculpting").replace("{example_id}", "ab12cd34")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{view.port}{path}", data=data, method=method, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text.decode()


def test_every_route_of_the_table_is_served_and_reaches_the_part_its_command_drives():
    for command in (c for c in COMMANDS if c.routes):
        for route in command.routes:
            stand_ins = parts()
            view = serve(Controls(*stand_ins), stand_ins[2])
            try:
                before = seen(*stand_ins)
                status, answer = ask(view, route, BODIES.get(command.name))
            finally:
                view.close()
            assert 200 <= status < 300, (route, status, answer)
            after = seen(*stand_ins)
            changed = {i for i, (a, b) in enumerate(zip(before, after)) if a != b}
            part = {"pipeline": 0, "framing": 1, "corrector": 2, "teacher": 3}[command.uses]
            assert changed == {part}, (route, before, after)
    assert after[3] == (("forget", "ice sculpting", "ab12cd34"),)  # the path's parts, unquoted


def test_a_route_whose_part_is_missing_changes_nothing_and_says_not_found():
    stand_ins = parts()
    view = serve(Controls(stand_ins[0]), None)  # no --actions: no corrector, no teacher
    try:
        for command in (c for c in COMMANDS if c.routes and c.uses in ("corrector", "teacher")):
            for route in command.routes:
                assert ask(view, route, BODIES.get(command.name))[0] == 404, route
    finally:
        view.close()
    assert seen(*stand_ins) == seen(*parts())


@pytest.mark.parametrize(
    "body",
    [
        {"name": "waving", "seconds": LESSON_SECONDS.high + 1},
        {"name": "waving", "seconds": LESSON_SECONDS.low - 0.5},
        {"name": "waving", "examples": LESSON_EXAMPLES.high + 1},
        {"name": "waving", "examples": 0},
        {"name": "waving", "seconds": "NaN"},
    ],
)
def test_a_lesson_past_the_limits_of_the_command_line_is_refused_with_400_and_one_line(body):
    stand_ins = parts()
    view = serve(Controls(*stand_ins), stand_ins[2])
    try:
        status, answer = ask(view, "POST /teach", body)
    finally:
        view.close()
    assert status == 400 and stand_ins[2].asked == []
    assert answer == {"error": answer["error"]} and "\n" not in answer["error"]
    assert answer["error"].startswith("a lesson is 2 to 60 seconds per example and 1 to 10 examples: ")


@pytest.mark.parametrize(
    "body", [{"name": "waving", "seconds": True}, {"name": "waving", "examples": 1.5}, {"name": "waving", "examples": "x"}]
)
def test_a_lesson_of_no_number_or_part_of_an_example_is_refused_with_400(body):
    stand_ins = parts()
    view = serve(Controls(*stand_ins), stand_ins[2])
    try:
        answer = ask(view, "POST /teach", body)
    finally:
        view.close()
    assert answer == (400, {"error": "seconds must be a number and examples a whole one"}) and stand_ins[2].asked == []


@pytest.mark.parametrize("name", [None, ["a"], 7, {"a": "b"}])
def test_a_lesson_name_that_is_not_text_is_refused_with_400(name):
    """null and ["a"] were taught as actions called "None" and "['a']"."""
    stand_ins = parts()
    view = serve(Controls(*stand_ins), stand_ins[2])
    try:
        status, answer = ask(view, "POST /teach", {"name": name, "seconds": 5})
    finally:
        view.close()
    assert status == 400 and stand_ins[2].asked == []
    assert answer == {"error": answer["error"]} and "name" in answer["error"] and "\n" not in answer["error"]


DEEP = 4000  # levels of nesting, within the live view's 4 KB body


@pytest.mark.parametrize(
    "route, body, error",
    [
        ("POST /teach", b'{"name": "waving", "seconds": 1' + b"0" * 400 + b"}", "seconds must be a number"),
        ("POST /teach", b'{"name": "waving", "examples": 1' + b"0" * 400 + b"}", "seconds must be a number"),
        ("POST /teach", b'{"name": ' + b"[" * DEEP, "send a JSON object"),
        ("POST /events/{event_id}/correct", b'{"as": ' + b"[" * DEEP, "send a JSON object"),
        ("POST /events/{event_id}/correct", b"[" * DEEP + b"]" * 40, "send a JSON object"),
    ],
    ids=["seconds past any float", "examples past any float", "teach nested", "correct nested", "correct nested, closed"],
)
def test_a_number_past_any_float_or_json_nested_thousands_deep_is_refused_with_400(route, body, error):
    """These closed the connection without an answer (OverflowError, RecursionError)."""
    stand_ins = parts()
    view = serve(Controls(*stand_ins), stand_ins[2])
    method, _, path = route.partition(" ")
    request = urllib.request.Request(
        f"http://127.0.0.1:{view.port}{path.replace('{event_id}', EVENT_ID)}",
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        answer = json.loads(refused.value.read())
    finally:
        view.close()
    assert refused.value.code == 400 and list(answer) == ["error"] and answer["error"].startswith(error), answer
    assert seen(*stand_ins) == seen(*parts())  # nothing was asked of any part


def test_a_new_command_with_a_route_is_one_method_and_one_line():
    from video_classifier.live_view.routes import routes_of

    class MoreControls(Controls):
        def ping(self, times: int = 1) -> str:
            if times > 3:
                raise UserError("at most 3 pings")
            return " ".join(["pong"] * times)

    ping = Command("ping", "pipeline", "answer pong", routes=("POST /ping",))
    view = serve(MoreControls(Pipeline()), None, routes=routes_of((*COMMANDS, ping)))
    try:
        answers = [ask(view, "POST /ping", body) for body in ({}, {"times": 2}, {"times": 9}, {"loud": True})]
    finally:
        view.close()
    assert answers == [
        (200, {"message": "pong"}),
        (200, {"message": "pong pong"}),
        (400, {"error": "at most 3 pings"}),
        (400, {"error": "ping: answer pong"}),
    ]
