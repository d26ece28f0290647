"""Actions over MQTT, for Home Assistant and anything else that listens to a broker.

Topics, under a prefix (``movinet/<hostname>`` by default):

    <prefix>/availability   "online" / "offline" (retained; "offline" is also the last will, and
                            is sent while the camera is lost)
    <prefix>/state          current action, top-k, fps, paused (retained JSON, once a second while
                            frames reach the model or it is paused, and at once on a change)
    <prefix>/attributes     top-k labels and the current event's id (retained JSON, sent only
                            when one of them changes)
    <prefix>/events         {"type"/"event_type": "start"|"end", "id": ..., "label": ..., ...}
                            (QoS 1, not retained)
    <prefix>/command        listened to: "reset", "pause" or "resume" (anything else, and
                            retained messages, are ignored)

plus Home Assistant discovery configs under ``homeassistant/<component>/<node>/.../config``: one
device with the sensors "Current action", "Action score" and "Model FPS", the binary sensor
"Action detected" (and one per taught action with ``--actions``), the event entity "Action",
the button "Reset model" and the switch "Pause". The sensors expire (read unavailable) when no
state came for :data:`EXPIRE_AFTER_S`: a hung pipeline cannot leave a stale action on show.

Connection loss is paho's job: it reconnects with backoff and keeps QoS 1 messages (the events)
in its outgoing queue until the broker is back. That queue is bounded; what did not fit is
counted in :attr:`MqttPublisher.dropped`. State messages are QoS 0 and are not queued: the
next one after the reconnect replaces them. QoS 1 is "at least once": a message the broker
took just before it went away may come again after the reconnect, so each event carries an
``id`` (the same in its start and end messages) for listeners to drop repeats.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from utils.rates import RateMeter
from video_classifier import __version__
from video_classifier.controls import Controls
from video_classifier.data import ActionEvent, Prediction
from video_classifier.errors import UserError
from video_classifier.outputs import Output

log = logging.getLogger("mqtt")

DISCOVERY_PREFIX = "homeassistant"
EXPIRE_AFTER_S = 10  # ten missed state messages: the model has stopped, not just slowed down
COMMANDS = ("reset", "pause", "resume")
ATTRIBUTE_MIN_SCORE = 0.1  # top-k labels below this score are left out of the attributes


@dataclass
class MqttSettings:
    """Where and how to connect; ``topic`` is the prefix of every topic the app publishes."""

    host: str
    port: int = 1883
    topic: str = "movinet"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    queue_size: int = 1000  # events kept while the broker is away
    state_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.topic.strip("/") or "+" in self.topic or "#" in self.topic:
            raise UserError(f"--mqtt-topic {self.topic!r}: give a plain topic prefix such as movinet/garden (no + or #)")

    @classmethod
    def parse_address(cls, address: str, tls: bool = False, **options) -> MqttSettings:
        """``HOST`` or ``HOST:PORT`` (the port defaults to 1883, or 8883 with TLS)."""
        host, _, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "")
        if not port:
            return cls(host=address.strip("[]"), port=8883 if tls else 1883, tls=tls, **options)
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise UserError(f"--mqtt {address}: the port must be a number from 1 to 65535, as in broker.local:1883")
        return cls(host=host.strip("[]"), port=int(port), tls=tls, **options)


def node_id(topic: str) -> str:
    """A Home Assistant node id from the topic prefix: the characters it allows (letters, digits,
    ``_`` and ``-``) kept, so that hosts ``cam-1`` and ``cam_1`` stay two devices."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", topic).strip("_-") or "movinet"


def action_object_id(name: str) -> str:
    """An object id for a taught action's binary sensor: readable, and distinct for distinct names."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:32]
    return f"taught_{slug}_{hashlib.sha1(name.encode()).hexdigest()[:6]}"


class MqttPublisher(Output):
    """Publishes the state (from predictions), action events and the camera's availability, and
    passes the commands of the command topic to :meth:`control`'s pipeline.

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
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise UserError("--mqtt needs paho-mqtt: run .venv/bin/pip install paho-mqtt") from None
        self._mqtt = mqtt
        self.settings = settings
        self.model_name = model_name
        self.topic = settings.topic.rstrip("/")
        self.node = node_id(self.topic)
        self.dropped = 0  # events that did not fit in the queue during an outage
        self.active: str | None = None  # the action of the current event, if any
        self._event_id = ""
        self._clock = clock
        self._rate = RateMeter(clock=clock)
        self._last_state_at = float("-inf")
        self._last: Prediction | None = None
        self._last_attributes: dict | None = None
        self._taught = taught
        self._taught_names: tuple[str, ...] = tuple(taught()) if taught else ()
        self.live_view_url = live_view_url
        self._controls: Controls | None = None
        self._paused = False
        self._closing = threading.Event()
        self._ignored = 0  # command messages that were not a known command
        self._started = False  # the device is announced from start() on, when all it links to is known
        self._connected = threading.Event()
        self._refused: str | None = None
        self._was_connected = False
        self._camera_ok = True
        # Message ids of events sent and of messages the broker acknowledged. Two sets, no lock:
        # paho calls on_publish in its thread holding its own lock.
        self._sent: set[int] = set()
        self._acked: set[int] = set()

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"movinet-{self.node}")
        client.will_set(self._topic("availability"), "offline", qos=1, retain=True)
        if settings.username:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            try:
                client.tls_set(ca_certs=settings.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise UserError(f"cannot use {settings.ca_file} as the CA certificate ({exc}): check --mqtt-ca") from None
        client.reconnect_delay_set(min_delay=1, max_delay=10)  # 1, 2, 4, 8, 10, 10 ... s
        client.max_queued_messages_set(settings.queue_size)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = lambda client, userdata, mid, reason_code, properties: self._acked.add(mid)
        client.on_message = self._on_message
        self._client = client

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def _topic(self, name: str) -> str:
        return f"{self.topic}/{name}"

    # -- connection ------------------------------------------------------------------------
    def connect(self, timeout: float = 5.0, background: bool = True) -> MqttPublisher:
        """Connect, start the network thread and wait up to ``timeout`` for the broker's answer.
        Without ``background`` a broker that is down is an error instead of retried.

        A name that does not resolve, a certificate that does not verify and a refused login are
        errors; a broker that is down is not (it may still be starting): the app runs and paho
        keeps retrying.
        """
        s = self.settings
        try:  # the first attempt in this thread, to tell a mistake from a broker that is not up yet
            self._client.connect(s.host, s.port, keepalive=30)
        except socket.gaierror:
            raise UserError(f"MQTT broker {s.host} not found: check the name given to --mqtt") from None
        except ssl.SSLError as exc:
            raise UserError(
                f"TLS with MQTT broker {s.host}:{s.port} failed ({exc.reason or exc}): "
                "give the broker's CA certificate with --mqtt-ca, or drop --mqtt-tls for a plain port"
            ) from None
        except OSError as exc:
            if not background:
                raise UserError(
                    f"MQTT broker {s.host}:{s.port} is not reachable ({exc.strerror or exc}): is it running?"
                ) from None
            log.warning("MQTT broker %s:%d not reachable yet (%s); retrying in the background", s.host, s.port, exc)
            self._client.connect_async(s.host, s.port, keepalive=30)
            self._client.loop_start()
            return self
        self._client.loop_start()
        self._connected.wait(timeout)  # for the broker's answer to the login
        if self._refused:
            self._client.loop_stop()
            raise UserError(
                f"MQTT broker {s.host}:{s.port} refused the connection ({self._refused}): "
                "check --mqtt-user and the MQTT_PASSWORD / --mqtt-password"
            )
        return self

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            if not self._was_connected and str(reason_code) in ("Not authorized", "Bad user name or password"):
                self._refused = str(reason_code)
                client.disconnect()
            log.warning("MQTT broker refused the connection: %s", reason_code)
            self._connected.set()
            return
        if self._was_connected:
            log.warning("MQTT reconnected to %s:%d; sending what was queued", self.settings.host, self.settings.port)
        self._was_connected = True
        if self._started:
            self._announce()
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._was_connected and reason_code != 0:
            log.warning("MQTT connection lost (%s); events are queued until it is back", reason_code)

    # -- what is published -----------------------------------------------------------------
    def discovery_configs(self) -> dict[str, dict]:
        """Home Assistant MQTT discovery: topic -> config for each entity of the device."""
        device = {
            "identifiers": [self.node],
            "name": f"MoViNet {self.topic.rsplit('/', 1)[-1]}",
            "model": self.model_name,
            "manufacturer": "movinet-pi",
            "sw_version": __version__,
        }
        if self.live_view_url:
            device["configuration_url"] = self.live_view_url
        common = {
            "availability_topic": self._topic("availability"),
            "device": device,
            "origin": {"name": "movinet-pi", "sw_version": __version__},
        }
        state = {"state_topic": self._topic("state"), "expire_after": EXPIRE_AFTER_S}
        entities = {
            ("sensor", "action"): {
                **state,
                "name": "Current action",
                "value_template": "{{ value_json.action }}",
                "json_attributes_topic": self._topic("attributes"),
                "icon": "mdi:run",
            },
            ("sensor", "score"): {
                **state,
                "name": "Action score",
                "value_template": "{{ (value_json.score * 100) | round(0) }}",
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "icon": "mdi:percent",
            },
            ("sensor", "fps"): {
                **state,
                "name": "Model FPS",
                "value_template": "{{ value_json.fps }}",
                "unit_of_measurement": "fps",
                "state_class": "measurement",
                "entity_category": "diagnostic",
            },
            ("binary_sensor", "detected"): {
                **state,
                "name": "Action detected",
                "value_template": "{{ 'OFF' if value_json.action == 'none' else 'ON' }}",
                "device_class": "occupancy",
            },
            ("event", "action"): {
                "state_topic": self._topic("events"),
                "name": "Action",
                "event_types": ["start", "end"],
                "icon": "mdi:run-fast",
            },
            ("button", "reset"): {
                "command_topic": self._topic("command"),
                "payload_press": "reset",
                "name": "Reset model",
                "icon": "mdi:restart",
            },
            ("switch", "pause"): {
                "state_topic": self._topic("state"),
                "value_template": "{{ 'ON' if value_json.paused else 'OFF' }}",
                "command_topic": self._topic("command"),
                "payload_on": "pause",
                "payload_off": "resume",
                "state_on": "ON",
                "state_off": "OFF",
                "name": "Pause",
                "icon": "mdi:pause",
            },
        }
        for name in self._taught_names:
            entities["binary_sensor", action_object_id(name)] = {
                **state,
                "name": name,
                "value_template": f"{{{{ 'ON' if value_json.action == {json.dumps(name)} else 'OFF' }}}}",
                "device_class": "occupancy",
            }
        return {
            self._config_topic(component, key): {**common, **entity, "unique_id": f"{self.node}_{key}"}
            for (component, key), entity in entities.items()
        }

    def _announce(self) -> None:
        """The device, its availability, and an ear for commands (at start and on each reconnect)."""
        # QoS 0: these go out at once and never wait behind the queued events.
        for topic, config in self.discovery_configs().items():
            self._client.publish(topic, json.dumps(config), qos=0, retain=True)
        self._client.publish(self._topic("availability"), "online" if self._camera_ok else "offline", qos=0, retain=True)
        self._client.subscribe(self._topic("command"), qos=1)

    def _config_topic(self, component: str, key: str) -> str:
        return f"{DISCOVERY_PREFIX}/{component}/{self.node}/{key}/config"

    def state(self, prediction: Prediction) -> dict:
        """The state message: the current event's action ("none" between events) and the top-k."""
        score = next((c.score for c in prediction.top if c.label == self.active), 0.0) if self.active else 0.0
        return {
            "action": self.active or "none",
            "score": round(score, 4),
            "top": [{"label": c.label, "score": round(c.score, 4)} for c in prediction.top],
            "fps": round(self._rate.rate(), 2),
            "inference_ms": round(prediction.inference_ms, 2),
            "time_s": round(prediction.time_s, 3),
            "events_dropped": self.dropped,
            "paused": self._paused,
            "timestamp": time.time(),
        }

    def attributes(self, prediction: Prediction) -> dict:
        """The "Current action" sensor's attributes: only what changes when something real does.
        Not the scores or the clock (Home Assistant would record a row a second), nor the order
        of the near-zero runners-up, which reshuffles every frame."""
        likely = [c.label for c in prediction.top if c.score >= ATTRIBUTE_MIN_SCORE]
        return {"top": likely, "event_id": self._event_id if self.active else None}

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
            self._client.publish(self._topic("attributes"), json.dumps(attributes), qos=0, retain=True)
        self._client.publish(self._topic("state"), json.dumps(self.state(last)), qos=0, retain=True)

    def _update_taught(self) -> None:
        """Taught in the Teach panel or forgotten: add or remove that action's binary sensor."""
        names = tuple(self._taught()) if self._taught else ()
        if names == self._taught_names:
            return
        gone = set(self._taught_names) - set(names)
        self._taught_names = names
        for name in gone:
            self._client.publish(self._config_topic("binary_sensor", action_object_id(name)), "", qos=0, retain=True)
        for topic, config in self.discovery_configs().items():
            if topic.startswith(f"{DISCOVERY_PREFIX}/binary_sensor/"):
                self._client.publish(topic, json.dumps(config), qos=0, retain=True)

    # -- commands --------------------------------------------------------------------------
    def control(self, controls: Controls) -> None:
        """Obey the command topic from now on, through ``controls``."""
        self._controls = controls

    def _on_message(self, client, userdata, message) -> None:
        """paho's thread: one command from the command topic, checked before it is obeyed."""
        command = message.payload.decode("utf-8", "replace").strip() if len(message.payload) <= 16 else ""
        if message.topic != self._topic("command") or message.retain or command not in COMMANDS:
            self._ignored += 1
            if self._ignored in (1, 10, 100) or self._ignored % 1000 == 0:  # a flood must not flood the log
                what = "a retained message" if message.retain else repr(message.payload[:32])
                log.warning(
                    "MQTT command ignored (%s on %s): send reset, pause or resume (%d ignored)",
                    what,
                    message.topic,
                    self._ignored,
                )
            return
        if self._controls is None:
            return
        log.info("MQTT command: %s", command)
        if command == "reset":
            self._controls.reset()
        else:
            self._controls.set_paused(command == "pause")

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
        if self._client.is_connected():
            self._announce()
        threading.Thread(target=self._repeat_while_paused, name="mqtt-heartbeat", daemon=True).start()

    def _repeat_while_paused(self) -> None:
        while not self._closing.wait(self.settings.state_interval_s):
            if self._paused:
                self._publish_state()

    def on_camera(self, state: str, time_s: float) -> None:
        """The camera was "lost" or "restored": Home Assistant shows the sensors unavailable meanwhile."""
        self._camera_ok = state != "lost"
        self._client.publish(self._topic("availability"), "online" if self._camera_ok else "offline", qos=0, retain=True)

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
        self.unacknowledged()  # keeps both sets small on a Pi that runs for months
        # "event_type" is the key Home Assistant's event entity reads; "type" is kept for other listeners.
        payload = json.dumps({"type": kind, "event_type": kind, "id": self._event_id, **fields, "timestamp": time.time()})
        info = self._client.publish(self._topic("events"), payload, qos=1)
        if info.rc == self._mqtt.MQTT_ERR_QUEUE_SIZE:
            self.dropped += 1
            log.warning("MQTT queue full: event dropped (%d so far)", self.dropped)
            return
        self._sent.add(info.mid)

    def unacknowledged(self) -> int:
        """Events the broker has not confirmed yet (queued during an outage, or in flight)."""
        # Called only by the thread that publishes events (or after it stopped), so every mid in
        # _acked but not in _sent belongs to a QoS 0 message or to an event already counted.
        self._sent -= self._sent & self._acked
        self._acked -= self._acked - self._sent
        return len(self._sent)

    def forget(self, listen_s: float = 1.0) -> int:
        """Remove this device from Home Assistant: an empty retained config for each entity it
        announces and for any other retained under its node id (taught actions since forgotten),
        and its retained state cleared. Call after :meth:`connect`, instead of :meth:`start`;
        returns the number of entities removed."""
        found = set(self.discovery_configs())

        def collect(client, userdata, message) -> None:
            if message.retain and message.payload:
                found.add(message.topic)

        self._client.on_message = collect
        self._client.subscribe(f"{DISCOVERY_PREFIX}/+/{self.node}/+/config", qos=1)
        time.sleep(listen_s)  # the broker sends the retained configs at once
        self._client.unsubscribe(f"{DISCOVERY_PREFIX}/+/{self.node}/+/config")
        topics = sorted(found) + [self._topic(name) for name in ("state", "attributes", "availability")]
        infos = [self._client.publish(topic, "", qos=1, retain=True) for topic in topics]
        for info in infos:
            info.wait_for_publish(5.0)
        self._client.disconnect()
        self._client.loop_stop()
        return len(found)

    def close(self, timeout: float = 3.0) -> None:
        """Say "offline", give queued events ``timeout`` seconds to go out, and disconnect."""
        self._closing.set()
        deadline = self._clock() + timeout
        while self._client.is_connected() and self._clock() < deadline and self.unacknowledged():
            time.sleep(0.02)
        unsent = self.unacknowledged()
        if unsent:
            log.warning("MQTT broker unreachable at exit: %d event(s) not sent", unsent)
        if self._client.is_connected():
            self._client.publish(self._topic("availability"), "offline", qos=1, retain=True).wait_for_publish(
                max(0.5, deadline - self._clock())
            )
        self._client.disconnect()
        self._client.loop_stop()
