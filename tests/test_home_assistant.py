"""--mqtt as a real Home Assistant sees it: Home Assistant core with only its MQTT integration,
on a loopback mosquitto, and the app on the picamera2 stand-in (once beside an RTSP camera).
Every assertion reads what Home Assistant itself shows: its states, its device registry (through
templates) and its state history.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import pytest
from conftest import (
    FAKES_DIR,
    IN_CI,
    NTU_HUGGING,
    ROOT,
    Broker,
    Subscriber,
    app_env,
    classify_command,
    free_port,
    media_path,
    teach_drink,
    write_clip,
    write_half,
)
from home_assistant import HASS, HomeAssistant
from ip_cameras import RtspServer

from video_classifier import __version__
from video_classifier.data import Category, Prediction
from video_classifier.home_assistant.discovery import EXPIRE_AFTER_S
from video_classifier.home_assistant.publisher import MqttPublisher, MqttSettings


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ha-broker")
    b = Broker(folder).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def ha(broker, tmp_path_factory):
    """One Home Assistant for the module; each test uses its own topic, hence its own device."""
    if not HASS.exists():
        message = f"Home Assistant is not installed at {HASS}: run .ci/run, or set MOVINET_HA_VENV"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    home = HomeAssistant(tmp_path_factory.mktemp("ha"), broker.port, config=documented_automations("pi-6")).start()
    yield home
    home.stop()
    errors = [line for line in home.output().splitlines() if "ERROR" in line and ("mqtt" in line.lower() or "template" in line)]
    assert not errors, errors  # Home Assistant accepted every config and message


def documented_automations(device: str) -> str:
    """docs/home-assistant.md's automations for answering a notification with "Wrong", for ``device``."""
    page = (ROOT / "docs" / "home-assistant.md").read_text()
    section = page[page.index("## Correcting a false event from Home Assistant") :]
    yaml = section[section.index("```yaml\n") + len("```yaml\n") : section.index("```\n", section.index("```yaml"))]
    return yaml.replace("movinet/pi/", f"movinet/{device}/").replace("movinet_pi_", f"movinet_{device.replace('-', '_')}_")


def entity(component: str, device: str, name: str) -> str:
    """The entity id Home Assistant gives an entity ``name`` of device "MoViNet ``device``"."""
    slug = "".join(c if c.isalnum() else "_" for c in f"movinet {device} {name}".lower())
    return f"{component}.{'_'.join(part for part in slug.split('_') if part)}"


def run_app(broker, topic: str, clip, *args, **env) -> subprocess.Popen:
    cmd = classify_command("--no-display", "--mqtt", f"127.0.0.1:{broker.port}", "--mqtt-topic", topic, *args)
    fake = {"PYTHONPATH": str(FAKES_DIR), "FAKE_PICAMERA2_CLIP": str(clip)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=app_env(**fake, **env))


def introduce(ha: HomeAssistant, device: str, first_run: subprocess.Popen) -> None:
    """A user's earlier run: Home Assistant makes the entities on first sight and subscribes to
    their topics a moment later, missing what comes meanwhile. Stopped once it has shown a state."""
    detected = entity("binary_sensor", device, "action detected")
    shown = lambda: any(r["new"]["state"] in ("on", "off") for r in ha.history(detected))  # noqa: E731
    try:
        appeared = ha.wait_for(shown, 40)
    finally:
        first_run.send_signal(signal.SIGTERM)
        _, err = first_run.communicate(timeout=30)
    assert appeared, (ha.history(detected), err)
    assert ha.wait_for(lambda: ha.state(detected) == "unavailable", 20)  # its last messages are in


def changes(ha: HomeAssistant, entity_id: str, since: float = 0.0) -> list[tuple[str, str, dict]]:
    """(old state, new state, new attributes) for every change Home Assistant recorded since then."""
    records = [r for r in ha.history(entity_id) if r["time"] >= since]
    return [(r["old"] and r["old"]["state"], r["new"]["state"], r["new"]["attributes"]) for r in records]


def test_one_device_whose_entities_follow_the_actions_and_whose_reset_button_works(ha, broker, two_action_clip, tmp_path):
    device, log = "pi-1", tmp_path / "log.jsonl"
    topic = f"movinet/{device}"
    serve_port, token = free_port(), "a-secret-token"
    flags = ["--serve", f"127.0.0.1:{serve_port}", "--log", log]

    def start(*more: str) -> subprocess.Popen:
        return run_app(broker, topic, two_action_clip, *flags, *more, MOVINET_SERVE_TOKEN=token)

    introduce(ha, device, start())  # with the same flags: the same configs
    started = time.time()
    proc = start("--max-frames", "80")
    try:
        detected = entity("binary_sensor", device, "action detected")
        assert ha.wait_for(lambda: ha.state(detected) == "on", 40), ha.states().get(detected)
        ha.call("button", "press", entity("button", device, "reset model"))
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err

    # One device, with its version, its live view (never the token) and the seven entities.
    current = entity("sensor", device, "current action")
    device_id = f"device_id('{current}')"
    assert ha.template(f"{{{{ device_attr({device_id}, 'name') }}}}") == "MoViNet pi-1"
    assert ha.template(f"{{{{ device_attr({device_id}, 'sw_version') }}}}") == __version__
    url = ha.template(f"{{{{ device_attr({device_id}, 'configuration_url') }}}}")
    assert url == f"http://127.0.0.1:{serve_port}/" and token not in url
    expected = {
        current,
        entity("sensor", device, "action score"),
        entity("sensor", device, "model fps"),
        detected,
        entity("event", device, "action"),
        entity("button", device, "reset model"),
        entity("switch", device, "pause"),
    }
    assert set(json.loads(ha.template(f"{{{{ device_entities({device_id}) | tojson }}}}"))) == expected

    # The action sensor: the two actions in order, and attribute-only updates only on real changes.
    states = [new for _, new, _ in changes(ha, current, started)]
    seen = [s for i, s in enumerate(states) if s not in states[:i]]
    assert [s for s in seen if s not in ("unavailable", "unknown", "none")] == ["arm wrestling", "cleaning pool"], states
    attribute_only = [a for old, new, a in changes(ha, current, started) if old == new]
    assert len(attribute_only) <= 8, attribute_only  # 4-7 measured in 16 s; without the care, one a second

    # The event entity fired for each start and end, with the label as an attribute (coming back
    # from unavailable, it shows the first run's last event again: that is no firing).
    event_changes = changes(ha, entity("event", device, "action"), started)
    fired = [(a["event_type"], a["label"]) for old, _, a in event_changes if old != "unavailable" and a.get("label")]
    assert fired == [("start", "arm wrestling"), ("end", "arm wrestling"), ("start", "cleaning pool"), ("end", "cleaning pool")]
    # "Action detected": off at the start (the first run's last state), on during each event, off
    # between them and at the end.
    on_off = [new for _, new, _ in changes(ha, detected, started) if new in ("on", "off")]
    assert on_off == ["off", "on", "off", "on", "off"], on_off

    # The reset button pressed in Home Assistant reset the model.
    assert any(r.get("type") == "reset" for r in map(json.loads, log.read_text().splitlines()))
    # After exit, everything reads unavailable.
    assert ha.wait_for(lambda: all(ha.state(e) == "unavailable" for e in expected), 10), {e: ha.state(e) for e in expected}


def test_pause_switch_keeps_the_sensors_and_stray_commands_are_ignored_then_a_stalled_camera_reads_unavailable(
    ha, broker, tmp_path
):
    device, log = "pi-2", tmp_path / "log.jsonl"
    topic = f"movinet/{device}"
    introduce(ha, device, run_app(broker, topic, media_path("carving_ice.mp4")))
    sub = Subscriber(broker.port, name="commands")
    # A retained command (left by some tool long ago) must not pause the app at each start.
    sub.client.publish(f"{topic}/command", "pause", qos=1, retain=True).wait_for_publish(5)
    # The camera stalls after 300 frames (10 s of camera time, not counting the pause).
    proc = run_app(broker, topic, media_path("carving_ice.mp4"), "--log", log, FAKE_PICAMERA2_HANG_AFTER="300")
    current, switch = entity("sensor", device, "current action"), entity("switch", device, "pause")
    try:
        assert ha.wait_for(lambda: ha.state(current) == "carving ice", 40), ha.state(current)
        assert ha.state(switch) == "off" and "reset" not in log.read_text()
        for payload in ("RESET", "pause now", "x" * 5000):
            sub.client.publish(f"{topic}/command", payload, qos=1).wait_for_publish(5)
        sub.client.publish(f"{topic}/state-not-command", "reset", qos=1).wait_for_publish(5)
        time.sleep(1.0)
        assert ha.state(switch) == "off"  # none of those paused it
        assert "reset" not in log.read_text()

        ha.call("switch", "turn_on", switch)
        assert ha.wait_for(lambda: ha.state(switch) == "on", 10)
        time.sleep(1.0)  # the frame already handed to the model is finished
        paused_at = len(log.read_text().splitlines())
        time.sleep(EXPIRE_AFTER_S + 2)
        assert ha.state(current) == "carving ice"  # paused, not expired
        assert len(log.read_text().splitlines()) == paused_at  # the model is really frozen
        ha.call("switch", "turn_off", switch)
        assert ha.wait_for(lambda: ha.state(switch) == "off", 10)

        # Then the camera stalls: everything reads unavailable while the app waits for it.
        assert ha.wait_for(lambda: ha.state(current) == "unavailable", 40), ha.state(current)
        assert proc.poll() is None
        assert ha.state(entity("button", device, "reset model")) == "unavailable"
    finally:
        sub.client.publish(f"{topic}/command", "", qos=1, retain=True).wait_for_publish(5)  # clear the retained one
        sub.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert err.count("MQTT command ignored") == 1, err  # said once: a flood of them does not flood the log
    assert len(log.read_text().splitlines()) > paused_at  # it went on after the pause


def test_a_hung_model_expires_the_sensors_even_while_the_connection_stays_up(ha, broker):
    publisher = MqttPublisher(MqttSettings("127.0.0.1", broker.port, topic="movinet/pi-3")).connect()
    publisher.start()
    current = entity("sensor", "pi-3", "current action")
    try:
        for frame in range(12):  # two seconds of predictions, then none: the pipeline hangs
            publisher.on_prediction(Prediction(frame, frame / 5, [Category("carving ice", 0.9)], 5.0))
            time.sleep(0.2)
        assert ha.wait_for(lambda: ha.state(current) == "none", 20), ha.state(current)
        stopped = time.monotonic()
        assert ha.wait_for(lambda: ha.state(current) == "unavailable", EXPIRE_AFTER_S + 10)
        assert time.monotonic() - stopped >= EXPIRE_AFTER_S - 3  # it expired, it was not taken offline
        assert publisher.connection.connected
    finally:
        publisher.close()


def test_taught_actions_get_a_binary_sensor_each_and_forget_removes_the_device(ha, broker, two_action_clip, tmp_path):
    device, actions = "pi-4", tmp_path / "actions.json"
    topic = f"movinet/{device}"
    learn = classify_command(
        "--actions", actions, "--learn", "Arm wrestling", "--camera", media_path("arm_wrestling_mmaction2_demo.mp4")
    )
    taught = subprocess.run(learn, capture_output=True, text=True, env=app_env(), timeout=120)
    assert taught.returncode == 0, taught.stderr
    introduce(ha, device, run_app(broker, topic, two_action_clip, "--actions", actions))
    started = time.time()
    proc = run_app(broker, topic, two_action_clip, "--actions", actions, "--max-frames", "60")
    arm = entity("binary_sensor", device, "arm wrestling")
    try:
        assert ha.wait_for(lambda: ha.state(arm) == "on", 40), ha.state(arm)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    on_off = [new for _, new, _ in changes(ha, arm, started) if new in ("on", "off")]
    assert "off" in on_off[on_off.index("on") :], on_off  # on during arm wrestling, off once the pool is cleaned

    known = [e for e in ha.states() if f"movinet_{device.replace('-', '_')}_" in e]
    assert arm in known and len(known) == 11  # the seven, the action's sensor and the corrections' three
    assert {entity("button", device, "last action was wrong"), entity("button", device, "undo last correction")} <= set(known)
    assert entity("text", device, "it was") in known
    forget = subprocess.run(
        classify_command("--mqtt", f"127.0.0.1:{broker.port}", "--mqtt-topic", topic, "--mqtt-forget"),
        capture_output=True,
        text=True,
        env=app_env(),
        timeout=60,
    )
    assert forget.returncode == 0, forget.stderr
    assert forget.stderr.strip().endswith(f"removed 11 entities of device movinet_{device} from Home Assistant")
    assert ha.wait_for(lambda: not any(e in ha.states() for e in known), 20), [e for e in known if e in ha.states()]
    assert ha.template(f"{{{{ device_id('{arm}') }}}}") == "None"


HOSTILE = {  # action name -> the clip it is taught from
    "none": "arm_wrestling_mmaction2_demo.mp4",
    "on": "cleaning_pool_mmaction2_test.mp4",
    "unavailable": "carving_ice.mp4",
    "🐈 'Tom' \"cat\"": "flipping_a_pancake.mkv",
}


def test_any_action_name_gets_a_binary_sensor_that_is_on_during_its_own_events_only(ha, broker, tmp_path):
    device, actions, log = "pi-5", tmp_path / "actions.json", tmp_path / "log.jsonl"
    topic = f"movinet/{device}"
    for name, clip in HOSTILE.items():
        lesson = write_half(tmp_path / f"{len(name)}.mp4", clip, 0, 6.0)
        taught = subprocess.run(
            classify_command("--actions", actions, "--learn", name, "--camera", lesson),
            capture_output=True,
            text=True,
            env=app_env(),
            timeout=120,
        )
        assert taught.returncode == 0, taught.stderr
    clip = write_clip(tmp_path / "all.mp4", [(clip, 8.0) for clip in HOSTILE.values()])
    sensors = {name: f"MoViNet {device} {name}" for name in HOSTILE}
    # Home Assistant's first sight of the device and its sensors (it misses what comes meanwhile).
    first = run_app(broker, topic, clip, "--actions", actions)
    try:
        assert ha.wait_for(lambda: all(ha.named(s) for s in sensors.values()), 40), ha.states().keys()
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    entities = {name: ha.named(friendly) for name, friendly in sensors.items()}
    assert ha.wait_for(lambda: all(ha.state(e) == "unavailable" for e in entities.values()), 20)

    started = time.time()
    mqtt = ["--mqtt", f"127.0.0.1:{broker.port}", "--mqtt-topic", topic]
    run = classify_command("--no-display", *mqtt, "--actions", actions, "--camera", clip, "--log", log)
    proc = subprocess.run(run, capture_output=True, text=True, env=app_env(), timeout=120)  # the file, as fast as it goes
    assert proc.returncode == 0, proc.stderr
    events = [r["label"] for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "event"]
    assert sorted(set(events)) == sorted(HOSTILE), events  # each was recognised: an event each at least
    assert ha.wait_for(lambda: all(ha.state(e) == "unavailable" for e in entities.values()), 20)  # all is in

    # Every sensor, in time order: its own on and off for each of its events, nothing else.
    def flips(entity: str) -> list[tuple[float, str]]:
        """(time, "on"/"off") for each change between on and off (not those from or to unavailable)."""
        records = [r for r in ha.history(entity) if r["time"] >= started and r["old"] and r["new"]]
        return [(r["time"], r["new"]["state"]) for r in records if {r["old"]["state"], r["new"]["state"]} == {"on", "off"}]

    seen = sorted((t, name, state) for name, entity in entities.items() for t, state in flips(entity))
    assert [(name, state) for _, name, state in seen] == [(label, state) for label in events for state in ("on", "off")]
    detected = entity("binary_sensor", device, "action detected")
    assert [state for _, state in flips(detected)] == ["on", "off"] * len(events), [
        (r["time"], r["old"]["state"], r["new"]["state"]) for r in ha.history(detected) if r["time"] >= started
    ]
    current = [r["new"]["state"] for r in ha.history(entity("sensor", device, "current action")) if r["time"] >= started]
    assert {"“none”", "on", "“unavailable”", "🐈 'Tom' \"cat\""} <= set(current), current


def test_a_false_event_corrected_with_the_wrong_button_reads_as_something_else_from_then_on(ha, broker, tmp_path):
    """Only "drink" taught; two people hugging in the same room read "drink". Pressing "Last
    action was wrong" in Home Assistant teaches that event as "other", and the app reads the
    hugging as other from then on: the drink sensor goes off and stays off."""
    device, actions, log = "pi-6", teach_drink(tmp_path), tmp_path / "log.jsonl"
    topic = f"movinet/{device}"
    hugging = write_clip(tmp_path / "hugging.mp4", [(NTU_HUGGING, 10.0)], size=(640, 360))  # looped by the camera
    drink = entity("binary_sensor", device, "drink")
    first = run_app(broker, topic, hugging, "--actions", actions)
    try:  # Home Assistant's first sight of the device: it misses what comes meanwhile
        assert ha.wait_for(lambda: ha.state(drink) in ("on", "off"), 40), ha.state(drink)
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert ha.wait_for(lambda: ha.state(drink) == "unavailable", 20)

    started = time.time()
    proc = run_app(broker, topic, hugging, "--actions", actions, "--log", log, "--max-frames", "60")  # 12 s
    event = entity("event", device, "action")
    try:
        assert ha.wait_for(lambda: ha.state(drink) == "on", 40), ha.state(drink)  # the false event
        assert ha.wait_for(lambda: ha.states()[event]["attributes"].get("label") == "drink", 10)
        false_id = ha.states()[event]["attributes"]["id"]
        ha.call("button", "press", entity("button", device, "last action was wrong"))
        assert ha.wait_for(lambda: ha.state(drink) == "off", 20), ha.state(drink)
        # The documented automations: the false event's notification, its "Wrong" answered on the
        # phone sends "wrong <id>" (the same correction again: it replaces the first). Then an id
        # that does not exist.
        assert ha.wait_for(lambda: ha.notifications(), 10)
        (wrong,) = ha.notifications()[0]["data"]["actions"]
        assert wrong == {"action": f"MOVINET_WRONG_{false_id}", "title": "Wrong"}
        ha.fire("mobile_app_notification_action", {"action": wrong["action"]})
        ha.call("mqtt", "publish", topic=f"{topic}/command", payload="wrong 00000000")
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err

    records = [json.loads(line) for line in log.read_text().splitlines()]
    events = [r for r in records if r.get("type") == "event"]
    assert [(e["id"], e["label"]) for e in events] == [(false_id, "drink")]  # no drink event after the correction
    after = [r["top"][0]["label"] for r in records if "top" in r and r["time_s"] > events[0]["end_s"]]
    assert len(after) >= 20 and after.count("other") >= 0.9 * len(after), after
    assert {"MQTT command: wrong", f"MQTT command: wrong {false_id}"} <= set(err.splitlines()), err
    assert err.count(f"corrected: event {false_id} ('drink'") == 2, err  # by the button, then by its id
    assert "MQTT command 'wrong 00000000' not done: no event '00000000'" in err, err
    library = json.loads(actions.read_text())["actions"]
    assert [e.get("event") for e in library["other"]["examples"]] == [false_id]  # corrected once, not twice
    on_off = [new for _, new, _ in changes(ha, drink, started) if new in ("on", "off")]
    assert on_off[on_off.index("on") :] == ["on", "off"], on_off  # on for the false event, then off for good
    # "other" is taught now, and gets no sensor: the device keeps its 7 entities, drink's and the corrections' 3.
    device_entities = json.loads(ha.template(f"{{{{ device_entities(device_id('{drink}')) | tojson }}}}"))
    assert len(device_entities) == 11 and not any("other" in e for e in device_entities), device_entities


def test_it_was_and_undo_from_home_assistant_teach_a_new_action_and_take_it_back_with_the_command_lines_refusals(
    ha, broker, tmp_path
):
    """Only "drink" taught; two people hugging read "drink". Typing "hugging" in the device's "It
    was ..." teaches the false event as a new action: its sensor appears and turns on while the
    hugging goes on. "Undo last correction" takes it back, and the action and its sensor go. A
    reserved name, and an undo with nothing left to take back, are refused as on the command
    line, and the Current action sensor's ``correction`` attribute says why."""
    device, actions = "pi-7", teach_drink(tmp_path)
    topic = f"movinet/{device}"
    hugging = write_clip(tmp_path / "hugging.mp4", [(NTU_HUGGING, 10.0)], size=(640, 360))  # looped by the camera
    introduce(ha, device, run_app(broker, topic, hugging, "--actions", actions))
    drink, hug = entity("binary_sensor", device, "drink"), entity("binary_sensor", device, "hugging")
    it_was, undo = entity("text", device, "it was"), entity("button", device, "undo last correction")
    current = entity("sensor", device, "current action")

    def correction() -> dict:
        return ha.states().get(current, {}).get("attributes", {}).get("correction") or {}

    proc = run_app(broker, topic, hugging, "--actions", actions)
    try:
        assert ha.wait_for(lambda: ha.state(drink) == "on", 40), ha.state(drink)  # the false event
        ha.call("text", "set_value", it_was, value="hugging")
        assert ha.wait_for(lambda: ha.state(hug) == "on", 30), ha.state(hug)  # a new action: its sensor appears
        assert correction()["saved"] is True and " taught as 'hugging'" in correction()["message"]
        taught = list(json.loads(actions.read_text())["actions"])
        ha.call("button", "press", undo)
        assert ha.wait_for(lambda: hug not in ha.states(), 20)
        assert correction()["message"].endswith("its correction taken back")
        refused = {}
        for command, press in (
            ("it was unknown", lambda: ha.call("text", "set_value", it_was, value="unknown")),
            ("undo", lambda: ha.call("button", "press", undo)),
        ):
            press()
            assert ha.wait_for(lambda c=command: correction().get("command") == c and not correction()["saved"], 20)
            refused[command] = correction()["message"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert taught == ["drink", "hugging"] and list(json.loads(actions.read_text())["actions"]) == ["drink"]
    assert refused == {
        "it was unknown": "'unknown' is reserved for what nothing taught is close to: choose another name",
        "undo": "no recent event has a correction to take back",
    }
    lines = err.splitlines()
    assert "MQTT command: it was hugging" in lines and "MQTT command: undo" in lines, err
    assert f"warning: MQTT command 'it was unknown' not done: {refused['it was unknown']}" in lines, err
    assert f"warning: MQTT command 'undo' not done: {refused['undo']}" in lines, err


def test_two_cameras_on_one_pi_are_two_devices_each_showing_its_own_action(ha, broker):
    """Two instances at once, as the services movinet@garden and movinet@door run them: the Pi
    camera and an RTSP camera with a login, each on its default topic (no --mqtt-topic), one
    thread each (the service's share of two cores), against one broker and one Home Assistant."""
    password = "d00r-Pa55-7q"  # searched for in all that Home Assistant and the apps show
    host = socket.gethostname().split(".")[0]
    expected = {"garden": "arm wrestling", "door": "carving ice"}
    mqtt = ["--no-display", "--mqtt", f"127.0.0.1:{broker.port}"]
    with RtspServer(media_path("carving_ice.mp4"), user="door", password=password) as camera:
        started = time.time()
        procs = {
            # MOVINET_CAMERA empty: the Pi camera, whatever the shell running the tests has set.
            "garden": run_app_as(
                "garden", mqtt, PYTHONPATH=str(FAKES_DIR), FAKE_PICAMERA2_CLIP=str(media_path("arm_wrestling_mmaction2_demo.mp4"))
            ),
            "door": run_app_as("door", mqtt, MOVINET_CAMERA=camera.url("door", password)),  # not in argv
        }
        devices = {name: f"{host}-{name}" for name in procs}
        current = {name: entity("sensor", device, "current action") for name, device in devices.items()}
        fps = {name: entity("sensor", device, "model fps") for name, device in devices.items()}

        def both_running() -> dict:
            """Each device's action and model fps, from one look at Home Assistant."""
            states = ha.states()
            return {name: (states.get(current[name], {}).get("state"), states.get(fps[name], {}).get("state")) for name in procs}

        def as_expected(shown: dict) -> bool:
            return all(action == expected[name] and 4.0 <= number(rate) <= 6.0 for name, (action, rate) in shown.items())

        try:
            running = ha.wait_for(lambda: as_expected(both_running()), 45)
            shown = both_running()
            # Each device's whole entry in Home Assistant's device registry (none till its sensors are).
            registry = {
                name: json.loads(ha.template(f"{{{{ device_attr(device_id('{current[name]}'), 'dict_repr') | tojson }}}}"))
                for name in procs
                if running
            }
            everything_shown = json.dumps(ha.states()) + json.dumps(registry) + ha.output()
        finally:
            for proc in procs.values():
                proc.send_signal(signal.SIGTERM)
            outputs = {name: proc.communicate(timeout=30) for name, proc in procs.items()}
    errs = {name: err for name, (_, err) in outputs.items()}
    assert running, (shown, errs)
    assert all(proc.returncode == 0 for proc in procs.values()), errs

    # Two devices, each named and identified by its instance.
    assert registry["garden"]["id"] != registry["door"]["id"]
    for name, device in registry.items():
        assert device["name"] == f"MoViNet {host}-{name}"
        assert device["identifiers"] == [["mqtt", f"movinet_{host}-{name}"]]
    # Neither device ever showed the other's action.
    for name, other in (("garden", "door"), ("door", "garden")):
        states = {new for _, new, _ in changes(ha, current[name], started)}
        assert expected[other] not in states, states
    # The RTSP camera's password: in no state, attribute or device, in neither app's output.
    assert f"source: rtsp://127.0.0.1:{camera.port}/cam," in errs["door"]
    assert password not in everything_shown + "".join(out + err for out, err in outputs.values())


def number(state: str | None) -> float:
    """A sensor's state as a number; NaN (which no comparison passes) for unavailable and the like."""
    try:
        return float(state)
    except (TypeError, ValueError):
        return float("nan")


def run_app_as(instance: str, args: list[str], **env: str) -> subprocess.Popen:
    """The app as the service ``movinet@<instance>`` runs it, with ``args`` and ``env``."""
    service = {"MOVINET_INSTANCE": instance, "MOVINET_NUM_THREADS": "1", "MOVINET_CAMERA": "", **env}
    return subprocess.Popen(
        classify_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=app_env(**service)
    )
