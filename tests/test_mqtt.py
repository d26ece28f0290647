"""--mqtt against a real mosquitto broker on loopback, watched by a real paho subscriber."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from hashlib import sha1

import pytest
from conftest import FAKES_DIR, Broker, Subscriber, app_env, classify_command, free_port, media_path, require_program

from video_classifier.home_assistant.discovery import action_key
from video_classifier.home_assistant.mqtt import MqttSettings

TOPIC = "test/pi"


@pytest.fixture
def subscriber(broker):
    sub = Subscriber(broker.port)
    yield sub
    sub.close()


def received_events(sub: Subscriber) -> list[dict]:
    """The event messages, each once: QoS 1 may deliver one again after a reconnect, with the same id."""
    unique = {}
    for event in map(json.loads, sub.on(f"{TOPIC}/events")):
        unique.setdefault((event["type"], event["id"]), event)
    return list(unique.values())


def events(sub: Subscriber) -> list[tuple[str, str]]:
    return [(e["type"], e["label"]) for e in received_events(sub)]


def run_mqtt_app(broker, *args, **env) -> subprocess.Popen:
    cmd = classify_command("--no-display", "--mqtt", f"127.0.0.1:{broker.port}", "--mqtt-topic", TOPIC, *args)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=app_env(**env))


def test_discovery_state_and_exactly_the_expected_events(broker, subscriber, two_action_clip):
    proc = run_mqtt_app(broker, "--camera", two_action_clip)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert subscriber.wait_for(lambda s: s.on(f"{TOPIC}/availability")[-1:] == [b"offline"], 10)

    configs = {t: json.loads(p) for _, t, p, _ in subscriber.messages if t.startswith("homeassistant/")}
    action = configs["homeassistant/sensor/test_pi/action/config"]
    assert action["state_topic"] == f"{TOPIC}/state"
    assert action["availability_topic"] == f"{TOPIC}/availability"
    assert action["unique_id"] == "test_pi_action" and action["device"]["identifiers"] == ["test_pi"]
    assert action["value_template"] == "{{ value_json.shown }}" and action["name"] == "Current action"
    entities = ["sensor/test_pi/action", "sensor/test_pi/score", "sensor/test_pi/fps", "binary_sensor/test_pi/detected"]
    entities += ["event/test_pi/action", "button/test_pi/reset", "switch/test_pi/pause"]
    assert set(configs) == {f"homeassistant/{entity}/config" for entity in entities}
    late = Subscriber(broker.port, name="late")  # Home Assistant started after the app: retained messages still reach it
    try:
        assert late.wait_for(lambda s: len(s.messages) >= len(configs) + 3, 10)
        retained = {t for _, t, _, r in late.messages if r}
        assert retained == set(configs) | {f"{TOPIC}/{name}" for name in ("availability", "state", "attributes")}
    finally:
        late.close()

    assert subscriber.on(f"{TOPIC}/availability") == [b"online", b"offline"]
    assert events(subscriber) == [
        ("start", "arm wrestling"),
        ("end", "arm wrestling"),
        ("start", "cleaning pool"),
        ("end", "cleaning pool"),
    ]
    assert len(subscriber.on(f"{TOPIC}/events")) == 4  # no repeats without an outage
    ended = [e for e in received_events(subscriber) if e["type"] == "end"]
    assert [e["id"] for e in ended] == [e["id"] for e in received_events(subscriber) if e["type"] == "start"]
    # The switch is at 8 s; benchmarks/policies.py: cleaning pool is on top within 3.4 s after any action.
    assert ended[0]["start_s"] < 2.0 and 7.0 < ended[0]["end_s"] < ended[1]["start_s"] <= 8.0 + 3.5
    assert all(e["peak"] >= 0.4 for e in ended)

    states = [json.loads(p) for p in subscriber.on(f"{TOPIC}/state")]
    actions = [s["action"] for s in states]
    assert "arm wrestling" in actions and "cleaning pool" in actions
    assert actions.index("arm wrestling") < actions.index("cleaning pool")
    during = next(s for s in states if s["action"] == "cleaning pool")
    assert during["top"][0]["label"] == "cleaning pool" and during["score"] == during["top"][0]["score"] >= 0.4
    assert during["detected"] is True and during["shown"] == "cleaning pool"
    assert during["action_key"] == "taught_cleaning_pool_" + sha1(b"cleaning pool").hexdigest()[:6]
    assert states[-1]["action"] == "none" and states[-1]["events_dropped"] == 0
    assert states[-1]["detected"] is False and states[-1]["action_key"] is None


def test_events_during_a_broker_outage_arrive_when_it_returns(broker, subscriber, tmp_path, two_action_clip):
    """The camera keeps running while the broker is down; what happened meanwhile is sent after."""
    log = tmp_path / "log.jsonl"
    # 22 s of the looped two-action clip: the outage covers the end of the first action.
    proc = run_mqtt_app(
        broker, "--max-frames", "110", "--log", log, PYTHONPATH=str(FAKES_DIR), FAKE_PICAMERA2_CLIP=str(two_action_clip)
    )
    try:
        assert subscriber.wait_for(lambda s: ("start", "arm wrestling") in events(s), 30), proc.stderr
        broker.stop()
        deadline = time.monotonic() + 30  # until the app has seen arm wrestling end, while the broker is down
        while '"type": "event"' not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        broker.start()
        restarted = time.monotonic()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "MQTT connection lost" in err and "MQTT reconnected" in err

    logged = [r for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "event"]
    assert [r["label"] for r in logged[:2]] == ["arm wrestling", "cleaning pool"]
    assert subscriber.wait_for(lambda s: len(events(s)) == 2 * len(logged), 15), events(subscriber)
    received = received_events(subscriber)
    assert [(e["type"], e["label"]) for e in received] == [(kind, r["label"]) for r in logged for kind in ("start", "end")]
    ends = [{k: v for k, v in e.items() if k not in ("type", "event_type", "timestamp")} for e in received if e["type"] == "end"]
    assert ends == [{k: v for k, v in r.items() if k != "type"} for r in logged]  # the same events, ids too, as in the log
    arrival = next(t for t, topic, p, _ in subscriber.messages if topic == f"{TOPIC}/events" and b'"end"' in p)
    assert arrival > restarted  # it was queued, not published into the void
    assert json.loads(subscriber.on(f"{TOPIC}/state")[-1])["events_dropped"] == 0


def test_a_full_queue_keeps_the_oldest_events_and_counts_the_rest(tmp_path):
    from video_classifier.data import ActionEvent
    from video_classifier.home_assistant.publisher import MqttPublisher, MqttSettings

    folder = tmp_path / "broker"
    folder.mkdir()
    down = Broker(folder)  # not started: the broker is down when the app begins
    publisher = MqttPublisher(MqttSettings("127.0.0.1", down.port, topic=TOPIC, queue_size=4)).connect(timeout=1.0)
    for i in range(3):  # 6 messages for a queue of 4
        event = ActionEvent(f"action {i}", i, i + 0.5, [0.9])
        publisher.on_event_start(event)
        publisher.on_event_end(event)
    assert publisher.dropped == 2
    down.start()
    sub = Subscriber(down.port)
    try:
        assert sub.wait_for(lambda s: len(events(s)) == 4, 20), events(sub)
        assert events(sub) == [("start", "action 0"), ("end", "action 0"), ("start", "action 1"), ("end", "action 1")]
    finally:
        publisher.close()
        sub.close()
        down.stop()


def test_a_wrong_password_is_a_clear_error(tmp_path, two_action_clip):
    passwd = tmp_path / "passwd"
    subprocess.run([require_program("mosquitto_passwd", "mosquitto"), "-b", "-c", passwd, "pi", "secret"], check=True, timeout=60)
    passwd.chmod(0o600)
    (tmp_path / "broker").mkdir()
    secured = Broker(tmp_path / "broker", password_file=passwd).start()
    try:
        broker = ["--mqtt", f"127.0.0.1:{secured.port}", "--mqtt-user", "pi"]
        cmd = classify_command("--no-display", *broker, "--camera", two_action_clip, "--max-frames", "1")
        wrong = subprocess.run(cmd, capture_output=True, text=True, env=app_env(MQTT_PASSWORD="wrong"), timeout=60)
        right = subprocess.run(cmd, capture_output=True, text=True, env=app_env(MQTT_PASSWORD="secret"), timeout=60)
    finally:
        secured.stop()
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines()[-1].startswith(f"error: MQTT broker 127.0.0.1:{secured.port} refused")
    assert "Traceback" not in wrong.stderr and "warning" not in wrong.stderr  # the error line alone says it
    assert right.returncode == 0, right.stderr


def test_tls_with_the_brokers_ca_works_and_without_it_is_a_clear_error(tmp_path, two_action_clip):
    cert, key = tmp_path / "broker.pem", tmp_path / "broker.key"
    subprocess.run(
        [require_program("openssl", "openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", key, "-out", cert, "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (tmp_path / "broker").mkdir()
    secured = Broker(tmp_path / "broker", tls=(cert, key)).start()
    sub_cmd = ["--mqtt", f"127.0.0.1:{secured.port}", "--camera", two_action_clip, "--max-frames", "30"]
    try:
        trusted = subprocess.run(
            classify_command("--no-display", *sub_cmd, "--mqtt-ca", cert), capture_output=True, text=True, timeout=60
        )
        untrusted = subprocess.run(
            classify_command("--no-display", *sub_cmd, "--mqtt-tls"), capture_output=True, text=True, timeout=60
        )
    finally:
        secured.stop()
    assert trusted.returncode == 0, trusted.stderr
    assert "action started: arm wrestling" in trusted.stderr and "warning:" not in trusted.stderr
    assert untrusted.returncode == 2
    last = untrusted.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: TLS with MQTT broker 127.0.0.1:{secured.port} failed (CERTIFICATE_VERIFY_FAILED)")


@pytest.mark.parametrize(
    "address, host, port",
    [
        ("broker", "broker", 1883),
        ("broker:1884", "broker", 1884),
        ("::1", "::1", 1883),
        ("[::1]", "::1", 1883),
        ("[::1]:1884", "::1", 1884),
    ],
)
def test_a_broker_address_is_a_host_and_a_port_ipv6_in_brackets(address, host, port):
    """``[::1]:1884`` was taken as the host name "::1]:1884" (not found)."""
    settings = MqttSettings.parse_address(address)
    assert (settings.host, settings.port) == (host, port)


def test_a_broker_address_without_a_host_is_a_clear_error():
    """``--mqtt :1883``: paho refused the empty host with a traceback."""
    proc = subprocess.run(
        classify_command("--no-display", "--mqtt", ":1883"), capture_output=True, text=True, env=app_env(), timeout=60
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: --mqtt: give the broker's host name or address, as in broker.local or broker.local:1883"
    )


# "a..b" and a label over 63 characters no DNS name can hold: the resolver raised a UnicodeError, a traceback
@pytest.mark.parametrize("host", ["no-such-broker.invalid", "a..b", "a" * 64])
def test_an_unknown_broker_name_is_a_clear_error(host):
    proc = subprocess.run(
        classify_command("--no-display", "--mqtt", host),
        capture_output=True,
        text=True,
        env=app_env(),
        timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"error: MQTT broker {host} not found: check the name given to --mqtt"


@pytest.mark.parametrize(
    "topic, says",
    [
        ("a" * 100_000, "a prefix of at most 256 bytes"),  # paho refused it mid-run: a traceback
        ("home/#", "give a plain topic prefix such as movinet/garden (not empty, no + or #)"),
        ("/", "give a plain topic prefix such as movinet/garden (not empty, no + or #)"),
    ],
)
def test_a_topic_prefix_mqtt_cannot_carry_is_a_clear_error_before_any_frame(topic, says, two_action_clip):
    proc = subprocess.run(
        classify_command("--no-display", "--camera", two_action_clip, "--mqtt", "localhost:9", "--mqtt-topic", topic),
        capture_output=True,
        text=True,
        env=app_env(),
        timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and says in errors[0] and len(errors[0]) < 400, errors
    assert "source:" not in proc.stderr  # refused before the camera was opened


def test_the_broker_says_offline_when_the_app_dies(broker, subscriber, two_action_clip):
    """The last will: a crashed or unplugged Pi shows as unavailable in Home Assistant."""
    proc = run_mqtt_app(broker, PYTHONPATH=str(FAKES_DIR), FAKE_PICAMERA2_CLIP=str(two_action_clip))
    try:
        assert subscriber.wait_for(lambda s: s.on(f"{TOPIC}/availability") == [b"online"], 30)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    assert subscriber.wait_for(lambda s: s.on(f"{TOPIC}/availability") == [b"online", b"offline"], 10)


def test_the_sensors_are_unavailable_while_the_camera_is_lost(broker, subscriber, tmp_path, two_action_clip):
    log = tmp_path / "log.jsonl"
    proc = run_mqtt_app(
        broker,
        "--max-frames",
        "20",
        "--log",
        log,
        PYTHONPATH=str(FAKES_DIR),
        FAKE_PICAMERA2_CLIP=str(two_action_clip),
        FAKE_PICAMERA2_FAIL_AFTER="30",  # the stand-in camera drops out 30 frames after each (re)open
        FAKE_PICAMERA2_RECOVER_AFTER_S="1.0",
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    losses = [r["state"] for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "camera"].count("lost")
    assert losses >= 1
    expected = [b"online"] + [b"offline", b"online"] * losses + [b"offline"]  # start, each loss and return, exit
    assert subscriber.wait_for(lambda s: s.on(f"{TOPIC}/availability") == expected, 10), subscriber.on(f"{TOPIC}/availability")


@pytest.mark.slow  # needs `two_action_clip`: a 16 s clip written first
def test_a_broker_that_is_down_at_start_is_not_fatal(two_action_clip):
    port = free_port()
    proc = subprocess.run(
        classify_command("--no-display", "--mqtt", f"127.0.0.1:{port}", "--camera", two_action_clip, "--max-frames", "10"),
        capture_output=True,
        text=True,
        env=app_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"MQTT broker 127.0.0.1:{port} not reachable yet" in proc.stderr


def test_every_distinct_topic_gets_its_own_short_client_and_node_id_and_plain_topics_keep_theirs(broker, caplog):
    from video_classifier.home_assistant.mqtt import MqttConnection, MqttSettings, node_id

    assert node_id("movinet/cam-1") == "movinet_cam-1" and node_id("movinet/raspberrypi") == "movinet_raspberrypi"
    assert node_id("test/pi") == "test_pi"  # the device the other tests know
    clashing = ["movinet/a b", "movinet/a_b", "movinet/a.b", "movinet/a/b", "movinet_a/b", "movinet/a__b", "/movinet/a/b"]
    non_latin = ["movinet/кухня", "movinet/客厅", "movinet/кухня2", "客厅"]
    long = ["movinet/" + "x" * 1000, "movinet/" + "x" * 999 + "y", "movinet/" + "x" * 41]
    topics = clashing + non_latin + long
    ids = [node_id(topic) for topic in topics]
    assert len(set(ids)) == len(topics), ids
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,50}", i) for i in ids), ids  # Home Assistant's node id characters, bounded
    assert ids == [node_id(topic) for topic in topics]  # stable
    assert node_id("movinet/кухня").startswith("movinet__")  # what can be read is kept

    # Three apps on topics that used to share a client id stay connected side by side: the
    # broker drops an older client when a newer one logs in with its id.
    connections = []
    try:
        for topic in clashing[:3]:
            settings = MqttSettings("127.0.0.1", broker.port, topic=topic)
            connections.append(MqttConnection(settings, will=(f"{topic}/availability", "offline")).connect())
        for connection in connections:  # a round trip each, after all have logged in
            connection.publish_now({f"{connection.topic}/availability": "online"})
        assert all(c.connected for c in connections)
        assert len({c.client_id for c in connections}) == 3
    finally:
        for connection in connections:
            connection.disconnect()
    assert "connection lost" not in caplog.text and "reconnected" not in caplog.text


def test_discovery_sends_only_the_configs_that_changed(broker, subscriber):
    """19 taught actions: a change sends the one config it changes, not all of them again."""
    from video_classifier.data import Category, Prediction
    from video_classifier.home_assistant.publisher import MqttPublisher, MqttSettings

    taught = [f"action {i}" for i in range(19)]
    settings = MqttSettings("127.0.0.1", broker.port, topic=TOPIC, state_interval_s=0.0)
    publisher = MqttPublisher(settings, taught=lambda: list(taught)).connect()

    def configs() -> list[tuple[str, bytes]]:
        return [(t, p) for _, t, p, _ in subscriber.messages if t.startswith("homeassistant/")]

    def next_state(change) -> list[tuple[str, bytes]]:
        """Change the taught actions, let one state go out, and return the configs sent meanwhile."""
        before, states = len(configs()), len(subscriber.on(f"{TOPIC}/state"))
        change()
        publisher.on_prediction(Prediction(0, 0.0, [Category("action 1", 0.9)], 5.0))
        assert subscriber.wait_for(lambda s: len(s.on(f"{TOPIC}/state")) > states, 10)
        return configs()[before:]

    try:
        publisher.start()
        assert subscriber.wait_for(lambda s: len(configs()) >= 7 + 3 + 19, 10)
        assert len(configs()) == 7 + 3 + 19  # the device, the corrections' 3 entities and one sensor per action, once

        assert next_state(lambda: None) == []
        added = next_state(lambda: taught.append("feeding the cat"))
        assert [t for t, _ in added] == [f"homeassistant/binary_sensor/test_pi/{action_key('feeding the cat')}/config"]
        assert json.loads(added[0][1])["name"] == "feeding the cat"
        removed = next_state(lambda: taught.remove("action 3"))
        assert removed == [(f"homeassistant/binary_sensor/test_pi/{action_key('action 3')}/config", b"")]
        assert next_state(lambda: taught.extend(["other", "Other", "unknown"])) == []  # never a sensor
        emoji = next_state(lambda: taught.append('🐈 "Tom"'))
        assert len(emoji) == 1 and "🐈".encode() in emoji[0][1]  # UTF-8, not surrogate escapes
        assert json.loads(emoji[0][1])["name"] == '🐈 "Tom"'
    finally:
        publisher.close()


def test_a_flood_of_valid_commands_is_logged_once_per_kind_and_a_refused_correction_says_why(broker, subscriber, tmp_path):
    log = tmp_path / "log.jsonl"
    clip = media_path("carving_ice.mp4")
    proc = run_mqtt_app(broker, "--log", log, PYTHONPATH=str(FAKES_DIR), FAKE_PICAMERA2_CLIP=str(clip))
    command = f"{TOPIC}/command"
    try:
        assert subscriber.wait_for(lambda s: s.on(f"{TOPIC}/state"), 30), proc.stderr
        started = time.monotonic()
        for i in range(2000):
            subscriber.client.publish(command, "pause" if i % 2 == 0 else "resume", qos=1)
        # An id may be given by a unique start of 4 or more hex digits, as on the command line.
        for payload in ("wrong", "wrong", "wrong 0bad", "wrong 0BADC0DE", "wrong 123", "reset"):
            subscriber.client.publish(command, payload, qos=1).wait_for_publish(10)
        # In order: once the reset is done, every command before it was handled.
        deadline = time.monotonic() + 60
        while '"type": "reset"' not in log.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, "the reset was not obeyed"
            time.sleep(0.1)
        took = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    minutes = 1 + int(took // 60)  # once a minute per kind; the flood took a few seconds here
    lines = err.splitlines()
    assert 1 <= lines.count("MQTT command: pause") <= minutes, err
    assert 1 <= lines.count("MQTT command: resume") <= minutes, err
    assert lines.count("MQTT command: reset") == 1, err
    # "wrong" without --actions: one line that says why (the second "wrong" the same minute is not
    # logged), and one for "wrong <id>".
    refused = [line for line in lines if "MQTT command 'wrong" in line]
    why = "not done: corrections need taught actions: run with --actions FILE"
    assert refused == [f"warning: MQTT command 'wrong' {why}", f"warning: MQTT command 'wrong 0bad' {why}"]
    # The malformed ones are ignored with one warning.
    assert err.count("MQTT command ignored") == 1 and "b'wrong 0BADC0DE'" in err, err
    assert json.loads(subscriber.on(f"{TOPIC}/state")[-1])["paused"] is False  # the last of the flood was resume


def test_commands_are_still_heard_after_the_broker_restarts(broker, subscriber, caplog):
    from video_classifier.home_assistant.publisher import MqttPublisher, MqttSettings

    publisher = MqttPublisher(MqttSettings("127.0.0.1", broker.port, topic=TOPIC)).connect()
    try:
        publisher.start()
        broker.stop()
        broker.start()
        deadline = time.monotonic() + 30
        while "MQTT reconnected" not in caplog.text:  # paho retries after 1, 2, 4 ... s
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.1)
        assert "MQTT command ignored" not in caplog.text
        # A stray command, answered with a warning: the app listens on the command topic again.
        deadline = time.monotonic() + 30
        while "MQTT command ignored (b'stray'" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            subscriber.client.publish(f"{TOPIC}/command", "stray", qos=1)
            time.sleep(1.0)  # the subscriber may itself still be reconnecting
    finally:
        publisher.close()


def test_a_start_after_a_killed_run_shows_its_own_state_before_it_says_online(broker, subscriber):
    """A run killed during an event leaves its state retained ("detected": true) and its last
    will ("offline"). Said "online" before its own first state, the next run showed that old
    event on, and at once off, in Home Assistant."""
    from video_classifier.data import Category, Prediction
    from video_classifier.home_assistant.publisher import MqttPublisher, MqttSettings

    state, availability = f"{TOPIC}/state", f"{TOPIC}/availability"
    subscriber.client.publish(state, json.dumps({"action": "arm wrestling", "detected": True}), qos=1, retain=True)
    subscriber.client.publish(availability, "offline", qos=1, retain=True)
    assert subscriber.wait_for(lambda s: s.on(availability) == [b"offline"], 10)
    seen = len(subscriber.messages)
    publisher = MqttPublisher(MqttSettings("127.0.0.1", broker.port, topic=TOPIC, state_interval_s=0.0)).connect()
    try:
        publisher.start()
        publisher.on_prediction(Prediction(0, 0.0, [Category("carving ice", 0.2)], 5.0))
        assert subscriber.wait_for(lambda s: s.on(availability)[-1:] == [b"online"], 10)
    finally:
        publisher.close()
    after = [(topic, payload) for _, topic, payload, _ in subscriber.messages[seen:] if topic in (state, availability)]
    first_online = after.index((availability, b"online"))
    states = [json.loads(payload) for topic, payload in after[:first_online] if topic == state]
    assert states and not states[-1]["detected"]  # its own state, nothing detected, before "online"


def test_after_a_reconnect_the_current_action_names_the_running_event(broker, subscriber, caplog):
    """The attributes published while the broker was away are lost (QoS 0): after the reconnect
    the Current action sensor kept the id of an event that had ended."""
    from video_classifier.data import ActionEvent, Category, Prediction
    from video_classifier.home_assistant.publisher import MqttPublisher, MqttSettings

    publisher = MqttPublisher(MqttSettings("127.0.0.1", broker.port, topic=TOPIC, state_interval_s=0.0)).connect()
    try:
        publisher.start()
        publisher.on_prediction(Prediction(0, 0.0, [Category("arm wrestling", 0.9)], 5.0))
        first = ActionEvent("arm wrestling", 0.0, 1.0, [0.9])
        publisher.on_event_start(first)
        attributes = f"{TOPIC}/attributes"
        assert subscriber.wait_for(lambda s: any(first.id.encode() in p for p in s.on(attributes)), 10)
        broker.stop()
        publisher.on_event_end(first)
        publisher.on_prediction(Prediction(50, 10.0, [Category("cleaning pool", 0.9)], 5.0))
        second = ActionEvent("cleaning pool", 10.0, 11.0, [0.9])
        publisher.on_event_start(second)
        broker.start()
        assert subscriber.wait_for(lambda s: json.loads(s.on(attributes)[-1])["event_id"] == second.id, 30), caplog.text
    finally:
        publisher.close()


def test_a_second_app_on_the_same_topic_is_named_as_why_the_connection_keeps_being_lost(broker, caplog):
    """One client id per topic: two apps on one topic take the connection from each other every
    second or so. Each said "connection lost" and "reconnected" every time, never why."""
    from video_classifier.home_assistant.mqtt import MqttConnection, MqttSettings

    settings = MqttSettings("127.0.0.1", broker.port, topic=TOPIC)
    connections = []
    try:
        for _ in range(2):
            connections.append(MqttConnection(settings, will=(f"{TOPIC}/availability", "offline")).connect())
        deadline = time.monotonic() + 30
        while "keeps taking it over" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.1)
        time.sleep(3.0)  # a few more take-overs
    finally:
        for connection in connections:
            connection.disconnect()
    hints = [r.getMessage() for r in caplog.records if "keeps taking it over" in r.getMessage()]
    assert len(hints) <= 2  # once per app at most
    assert "most likely another client with this app's id (movinet-test_pi)" in hints[0] and "--mqtt-topic test/pi" in hints[0]
    lost = [r for r in caplog.records if "MQTT connection lost (" in r.getMessage()]
    assert len(lost) <= 4  # the first losses of each app (a connection that lasted over 3 s starts again), not each


CONNACK = b"\x20\x02\x00\x00"  # MQTT 3.1.1: login accepted


@pytest.mark.parametrize(
    "answer",
    [b"", b"garbage\r\n", CONNACK],
    ids=["accepts-and-stays-silent", "writes-garbage-and-closes", "accepts-the-login-then-stays-silent"],
)
def test_mqtt_forget_without_a_broker_that_acknowledges_is_the_unreachable_error(answer):
    """--mqtt-forget said it removed the entities when nothing acknowledged it (a port that
    accepts and says nothing), or was a traceback (one that answers nonsense and closes)."""
    import socket
    import threading

    def serve(server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:  # the test is over
                return
            held.append(client)
            client.recv(4096)  # the login
            if answer:
                client.sendall(answer)
            if answer != CONNACK and answer:
                client.close()

    held: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        threading.Thread(target=serve, args=(server,), daemon=True).start()
        port = server.getsockname()[1]
        done = subprocess.run(
            classify_command("--mqtt", f"127.0.0.1:{port}", "--mqtt-topic", TOPIC, "--mqtt-forget"),
            capture_output=True,
            text=True,
            env=app_env(),
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert "removed" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1].startswith(f"error: MQTT broker 127.0.0.1:{port} is not reachable ("), done.stderr


def test_a_taught_actions_sensor_left_on_the_broker_is_removed_by_a_run_whose_library_lacks_it(broker, tmp_path):
    """A taught action forgotten while the app was stopped (or one of another --actions file)
    kept its binary sensor in Home Assistant for ever: a run with --actions removes it, once,
    after its own announcement. A run without --actions leaves it (two apps on one topic would
    otherwise delete each other's sensors), and the run's own configs stay either way."""
    import paho.mqtt.client as mqtt

    stale = "homeassistant/binary_sensor/test_pi/taught_gone_abc123/config"
    planter = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="planter")
    planter.connect("127.0.0.1", broker.port)
    planter.loop_start()
    planter.publish(stale, json.dumps({"name": "gone"}), qos=1, retain=True).wait_for_publish(5)
    planter.disconnect()
    planter.loop_stop()

    def retained_after(*args: str) -> set[str]:
        # 1,000 model frames of a file: about 3 s, past the second the app listens for kept configs
        proc = run_mqtt_app(broker, "--camera", media_path("carving_ice.mp4"), "--loop", "--max-frames", "1000", *args)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        # A client of its own each time: one that kept the last one's session would also get the
        # messages queued for it meanwhile ("offline" twice, which the wait below never matched).
        late = Subscriber(broker.port, name=f"late-{len(args)}")
        try:
            availability = f"{TOPIC}/availability"
            assert late.wait_for(lambda s: s.on(availability) == [b"offline"], 10), (late.on(availability), err)
            time.sleep(0.5)  # every retained message reaches a new subscriber at once
            return {t for _, t, p, r in late.messages if r and p}
        finally:
            late.close()

    without = retained_after()
    assert stale in without and "homeassistant/sensor/test_pi/action/config" in without
    taught = retained_after("--actions", str(tmp_path / "actions.json"))
    assert stale not in taught and "homeassistant/sensor/test_pi/action/config" in taught
