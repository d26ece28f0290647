"""Actions as a Home Assistant device over MQTT (and for anything else that listens to a broker).

Topics, under a prefix (``movinet/<hostname>`` by default):

    <prefix>/availability   "online" / "offline" (retained; "offline" is also the last will, and
                            is sent while the camera is lost)
    <prefix>/state          current action, whether one is detected, its key, top-k, fps, paused,
                            and the last correction asked for on the command topic: {"command",
                            "saved": true/false, "message"} (retained JSON, once a second while
                            frames reach the model or it is paused, and at once on a change)
    <prefix>/attributes     top-k labels, the current event's id, the region watched ("whole",
                            "X,Y,W,H", "auto", "auto within X,Y,W,H") and the last correction
                            (retained JSON, sent only when one of them changes)
    <prefix>/events         {"type"/"event_type": "start"|"end", "id": ..., "label": ..., ...}
                            (QoS 1, not retained)
    <prefix>/command        listened to: the forms of controls.py's commands (:func:`usage`):
                            "reset", "pause", "resume", and the corrections "wrong", "right",
                            "undo" (of the newest event; undo: of the last correction), each with
                            an event id ("wrong 3f9a1c2e"), "it was NAME" and "3f9a1c2e was NAME";
                            anything else, and retained messages, are ignored

plus Home Assistant discovery configs under ``homeassistant/<component>/<node>/<key>/config``:
one device with the sensors "Current action", "Action score" and "Model FPS", the binary sensor
"Action detected", the event entity "Action", the button "Reset model" and the switch "Pause";
with ``--actions`` also the buttons "Last action was wrong" and "Undo last correction", the text
"It was ..." and one binary sensor per taught action (never for ``other`` or ``unknown``). The
sensors expire (read unavailable) when no state came for ``discovery.EXPIRE_AFTER_S``: a hung
pipeline cannot leave a stale action on show.

No template compares a user's action name: "Action detected" reads ``detected`` and a taught
action's binary sensor compares ``action_key`` with its own key (ASCII, made here), so that any
name (``none``, ``on``, quotes, emoji) works. JSON is sent as UTF-8, not as escapes.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence

from utils.rates import RateMeter
from video_classifier.controls import Controls, parse_command, usage
from video_classifier.data import ActionEvent, Prediction
from video_classifier.errors import UserError
from video_classifier.home_assistant.discovery import DISCOVERY_PREFIX, TAUGHT_KEY_PREFIX, Device, action_key, discovery_configs
from video_classifier.home_assistant.mqtt import MqttConnection, MqttSettings, node_id
from video_classifier.outputs import Output
from video_classifier.teach.examples import MAX_NAME_LENGTH, RESERVED

log = logging.getLogger("mqtt")

ATTRIBUTE_MIN_SCORE = 0.1  # top-k labels below this score are left out of the attributes
# "3f9a1c2e was " and the longest name an action may have, in UTF-8.
MAX_COMMAND_BYTES = 16 + 4 * MAX_NAME_LENGTH
COMMAND_LOG_EVERY_S = 60.0  # a valid command is logged once a minute per kind: a flood is one line
# Names Home Assistant reads as something else on a sensor ("None" is no value), or that read
# as "no action": shown in quotes on the Current action sensor.
_SPECIAL_STATES = frozenset({"none", "unavailable", "unknown"})


def shown(name: str) -> str:
    """How the Current action sensor shows ``name``: quoted when Home Assistant would read it
    as its own "unavailable" / "unknown" / no value, or when it looks like no action."""
    return f"“{name}”" if name.casefold() in _SPECIAL_STATES else name


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)  # UTF-8: emoji as themselves, not as surrogate escapes


class MqttPublisher(Output):
    """Publishes the state (from predictions), action events and the camera's availability, and
    passes the commands of the command topic to :meth:`control`'s controls.

    ``taught`` gives the names of the taught actions (``--actions``), each of which gets a binary
    sensor; ``live_view_url`` is the device's configuration URL in Home Assistant.
    """

    def __init__(
        self,
        settings: MqttSettings,
        model_name: str = "MoViNet",
        clock=time.monotonic,
        taught: Callable[[], Sequence[str]] | None = None,
        live_view_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.model_name = model_name
        self.topic = settings.topic.rstrip("/")
        self.node = node_id(self.topic)
        self.active: str | None = None  # the action of the current event, if any
        self.live_view_url = live_view_url
        self.region: Callable[[], str] = lambda: "whole"  # the region watched, as the app sets it
        self._event_id = ""
        self._clock = clock
        self._rate = RateMeter(clock=clock)
        self._last_state_at = float("-inf")
        self._last: Prediction | None = None
        self._last_attributes: dict | None = None
        self._taught = taught
        self._taught_names = self._read_taught()
        self._published: dict[str, str] = {}  # config topic -> the payload last published there
        self._stale_checked = False  # the broker's kept configs of taught actions looked at, once a run
        self._discovery_lock = threading.Lock()  # paho's thread (reconnect) and the model's (teaching)
        self._controls: Controls | None = None
        self._paused = False
        self._closing = threading.Event()
        self._ignored = 0  # command messages that were not a known command
        self._said: dict[str, tuple[float, int]] = {}  # log line kind -> (when last said, left unsaid since)
        self._correction: dict | None = None  # the last correction asked for, and whether it was saved
        self._started = False  # the device is announced from start() on, when all it links to is known
        self._camera_ok = True
        self._online_due = False  # "online" waits for the state (see _announce)
        self.connection = MqttConnection(
            settings, will=(self._topic("availability"), "offline"), on_connected=self._on_connected, clock=clock
        )

    @property
    def dropped(self) -> int:
        """Events that did not fit in the queue during an outage."""
        return self.connection.dropped

    def _topic(self, name: str) -> str:
        return f"{self.topic}/{name}"

    def connect(self, timeout: float = 5.0, background: bool = True) -> MqttPublisher:
        """Connect (see :meth:`MqttConnection.connect`)."""
        self.connection.connect(timeout, background)
        return self

    def _on_connected(self) -> None:
        if self._started:
            self._announce()

    # -- discovery ---------------------------------------------------------------------------
    def _read_taught(self) -> tuple[str, ...]:
        """The taught actions that get a binary sensor: never ``other`` or ``unknown``."""
        return tuple(n for n in self._taught() if n.casefold() not in RESERVED) if self._taught else ()

    def discovery_configs(self) -> dict[str, dict]:
        """Home Assistant MQTT discovery: topic -> config for each entity of the device."""
        device = Device(self.node, self.topic, self.model_name, self.live_view_url)
        return discovery_configs(device, corrections=self._taught is not None, taught=self._taught_names)

    def _sync_discovery(self, everything: bool) -> None:
        """Publish the configs that changed since last time (``everything``: all of them), and an
        empty one for each entity gone. Home Assistant sets up again every entity whose config
        it receives, missing what comes meanwhile: what did not change is not sent."""
        with self._discovery_lock:
            configs = {topic: _json(config) for topic, config in self.discovery_configs().items()}
            for topic in sorted(configs.keys() | self._published.keys()):
                payload = configs.get(topic, "")
                if everything or self._published.get(topic) != payload:
                    self.connection.publish(topic, payload, retain=True)
            self._published = configs

    def _announce(self) -> None:
        """The device, its state and its availability (at start and on each reconnect).

        "online" follows the state (at a start, the first prediction's): before it, Home
        Assistant would show the retained state of a run that ended without a word (killed, the
        power cut), an event turning on and at once off. The attributes are sent again: those
        published while the broker was away were lost (QoS 0), and the current action kept an
        ended event's id."""
        # QoS 0: these go out at once and never wait behind the queued events.
        self._taught_names = self._read_taught()
        self._sync_discovery(everything=True)
        if self._taught is not None and not self._stale_checked:
            self._stale_checked = True  # in a thread: this may be paho's, which must go on to hear the broker
            threading.Thread(target=self._remove_stale_taught, name="mqtt-stale", daemon=True).start()
        self._last_attributes = None
        self._online_due = True
        self._publish_state()

    def _update_taught(self) -> None:
        """Taught in the Teach panel or forgotten: add or remove that action's binary sensor only.
        Offline, the change waits for the reconnect's announcement."""
        names = self._read_taught()
        if names != self._taught_names and self._started and self.connection.connected:
            self._taught_names = names
            self._sync_discovery(everything=False)

    # -- state ---------------------------------------------------------------------------------
    def state(self, prediction: Prediction) -> dict:
        """The state message: the current event's action ("none" between events) and the top-k."""
        active = self.active
        score = next((c.score for c in prediction.top if c.label == active), 0.0) if active else 0.0
        return {
            "action": active or "none",
            "detected": active is not None,
            "action_key": action_key(active) if active else None,
            "shown": shown(active) if active else "none",
            "score": round(score, 4),
            "top": [{"label": c.label, "score": round(c.score, 4)} for c in prediction.top],  # none while warming up
            "warming_up_s": round(prediction.warming_up_s, 1) if prediction.warming_up else None,
            "fps": round(self._rate.rate(), 2),
            "inference_ms": round(prediction.inference_ms, 2),
            "region": prediction.region.as_list() if prediction.region else None,  # X,Y,W,H of the picture; None: whole
            "time_s": round(prediction.time_s, 3),
            "events_dropped": self.dropped,
            "paused": self._paused,
            "correction": self._correction,
            "timestamp": time.time(),
        }

    def attributes(self, prediction: Prediction) -> dict:
        """The "Current action" sensor's attributes: only what changes when something real does.
        Not the scores or the clock (Home Assistant would record a row a second), nor the order
        of the near-zero runners-up, which reshuffles every frame."""
        likely = [c.label for c in prediction.top if c.score >= ATTRIBUTE_MIN_SCORE]
        attributes = {"top": likely, "event_id": self._event_id if self.active else None, "region": self.region()}
        if self._correction is not None:
            attributes["correction"] = self._correction
        return attributes

    def on_prediction(self, prediction: Prediction) -> None:
        """A state message at most every ``state_interval_s``."""
        self._rate.tick()
        self._last = prediction
        if self._clock() - self._last_state_at >= self.settings.state_interval_s:
            self._publish_state()

    def _publish_state(self) -> None:
        last = self._last
        if last is None:
            return
        self._last_state_at = self._clock()
        self._update_taught()
        attributes = self.attributes(last)
        if attributes != self._last_attributes:  # before the state, so that both show together
            self._last_attributes = attributes
            self.connection.publish(self._topic("attributes"), _json(attributes), retain=True)
        self.connection.publish(self._topic("state"), _json(self.state(last)), retain=True)
        if self._online_due:
            self._online_due = False
            self.connection.publish(self._topic("availability"), "online" if self._camera_ok else "offline", retain=True)

    # -- commands ------------------------------------------------------------------------------
    def control(self, controls: Controls) -> None:
        """Obey the command topic from now on, through ``controls``."""
        self._controls = controls

    def _on_command(self, message) -> None:
        """paho's thread: one command from the command topic, checked before it is obeyed."""
        text = message.payload.decode("utf-8", "replace").strip() if len(message.payload) <= MAX_COMMAND_BYTES else ""
        found = None if message.retain else parse_command(text)
        if found is None:
            self._ignored += 1
            if self._ignored in (1, 10, 100) or self._ignored % 1000 == 0:  # a flood must not flood the log
                what = "a retained message" if message.retain else repr(message.payload[:32])
                log.warning("MQTT command ignored (%s on %s): send %s (%d ignored)", what, message.topic, usage(), self._ignored)
            return
        controls = self._controls
        if controls is None:
            return
        command, args = found
        # A kind of its own per form: "wrong" (the button's) and "wrong <id>" (a notification's).
        kind = " ".join([command.name, *(f"<{name}>" for name in args)])
        try:  # a correction waits until it is saved (a few seconds at most): the state says whether it was
            done = controls.run(command, **args)
        except UserError as exc:
            self._say(f"{kind} refused", logging.WARNING, f"MQTT command {text!r} not done: {exc}")
            if command.uses == "corrector":
                self._corrected(text, False, str(exc))
            return
        self._say(kind, logging.INFO, f"MQTT command: {text}")  # what was done, the corrector says
        if command.uses == "corrector":
            self._corrected(text, True, str(done))

    def _corrected(self, text: str, saved: bool, message: str) -> None:
        """The state and the attributes say what came of the correction ``text``, at once."""
        self._correction = {"command": text, "saved": saved, "message": message}
        self._publish_state()

    def _say(self, kind: str, level: int, line: str) -> None:
        """Log ``line`` unless a line of this kind was logged less than a minute ago."""
        now = self._clock()
        said_at, unsaid = self._said.get(kind, (float("-inf"), 0))
        if now - said_at < COMMAND_LOG_EVERY_S:
            self._said[kind] = (said_at, unsaid + 1)
            return
        self._said[kind] = (now, 0)
        log.log(level, "%s%s", line, f" ({unsaid} more of these in the minute before, not logged)" if unsaid else "")

    # -- the output's hooks --------------------------------------------------------------------
    def on_pause(self, paused: bool) -> None:
        """Paused or resumed (by the window, the live view or the command topic): said at once,
        and repeated while paused, so that the sensors keep their values instead of expiring."""
        self._paused = paused
        self._publish_state()

    def start(self) -> None:
        """Announce the device (the live view's address is known by now; announcing it once
        only, since Home Assistant sets up again an entity whose config changed, and misses
        what comes meanwhile) and start the heartbeat."""
        self._started = True
        self.connection.subscribe(self._topic("command"), self._on_command)  # renewed on each reconnect
        if self.connection.connected:
            self._announce()
        threading.Thread(target=self._repeat_while_paused, name="mqtt-heartbeat", daemon=True).start()

    def _remove_stale_taught(self, listen_s: float = 1.0) -> None:
        """The binary sensors of taught actions the broker kept under this device that this run's
        library does not hold (forgotten while the app was stopped, or of another --actions
        file): removed, or Home Assistant would keep them for ever. Once a run, after its first
        announcement, and only with --actions: a run without taught actions leaves them to the
        run that has them (two apps on one --mqtt-topic would otherwise delete each other's)."""
        found = self.connection.retained(f"{DISCOVERY_PREFIX}/binary_sensor/{self.node}/+/config", listen_s)
        with self._discovery_lock:
            stale = sorted(t for t in found if t not in self._published and t.split("/")[-2].startswith(TAUGHT_KEY_PREFIX))
        for topic in stale:
            log.info("removing %s from Home Assistant: this run's action library does not hold it", topic)
            self.connection.publish(topic, "", retain=True)

    def _repeat_while_paused(self) -> None:
        while not self._closing.wait(self.settings.state_interval_s):
            if self._paused:
                self._publish_state()

    def on_camera(self, state: str, time_s: float) -> None:
        """The camera was "lost" or "restored": Home Assistant shows the sensors unavailable
        meanwhile ("online" again with the next state, as at a start)."""
        self._camera_ok = state != "lost"
        if self._camera_ok:
            self._online_due = True
        else:
            self.connection.publish(self._topic("availability"), "offline", retain=True)

    def on_event_start(self, event: ActionEvent) -> None:
        self.active = event.label
        self._event_id = event.id
        self._publish_event("start", {"label": event.label, "start_s": round(event.start_s, 3)})
        self._publish_state()

    def on_event_end(self, event: ActionEvent) -> None:
        if self.active == event.label:
            self.active = None
        record = event.to_json()
        del record["type"]
        self._publish_event("end", record)
        self._publish_state()

    def _publish_event(self, kind: str, fields: dict) -> None:
        # "event_type" is the key Home Assistant's event entity reads; "type" is kept for other listeners.
        payload = {"type": kind, "event_type": kind, "id": self._event_id, **fields, "timestamp": time.time()}
        self.connection.send(self._topic("events"), _json(payload))

    def forget(self, listen_s: float = 1.0) -> int:
        """Remove this device from Home Assistant: an empty retained config for each entity it
        announces and for any other retained under its node id (taught actions since forgotten),
        and its retained state cleared. Call after :meth:`connect`, instead of :meth:`start`;
        returns the number of entities removed. A :class:`UserError` unless the broker
        acknowledged every removal (nothing is said removed that may not be)."""
        found = self.connection.retained(f"{DISCOVERY_PREFIX}/+/{self.node}/+/config", listen_s) | set(self.discovery_configs())
        removed = self.connection.publish_now(dict.fromkeys(sorted(found), ""))
        # The state last, once Home Assistant has let go of the entities: an empty state would
        # be an error in every template that still reads it.
        time.sleep(listen_s)
        states = {self._topic(name): "" for name in ("state", "attributes", "availability")}
        cleared = removed and self.connection.publish_now(states)
        self.connection.disconnect()
        if not cleared:
            raise self.connection.unreachable("it did not acknowledge the removals")
        return len(found)

    def close(self, timeout: float = 3.0) -> None:
        """Say "offline", give queued events ``timeout`` seconds to go out, and disconnect."""
        self._closing.set()
        self.connection.close(timeout)


def attach(app) -> MqttPublisher:
    """``--mqtt``: the publisher, connected (or retrying in the background)."""
    s, classifier = app.settings, app.classifier
    # The labels as they are now: a lesson or a correction that teaches a new action replaces the list.
    taught = (lambda: [label for label in classifier.labels if label not in RESERVED]) if s.actions else None
    settings = MqttSettings.from_settings(s)
    publisher = MqttPublisher(settings, app.name, taught=taught).connect()
    print(f"mqtt: {settings.host}:{settings.port}, topics {publisher.topic}/...", file=sys.stderr)
    return publisher
