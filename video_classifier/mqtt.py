"""Actions over MQTT, for Home Assistant and anything else that listens to a broker.

Topics, under a prefix (``movinet/<hostname>`` by default):

    <prefix>/availability   "online" / "offline" (retained; "offline" is also the last will)
    <prefix>/state          current action, top-k, fps (retained JSON, at most once a second,
                            and at once when an action starts or ends)
    <prefix>/events         {"type": "start"|"end", "id": ..., "label": ..., ...} (QoS 1, not retained)

plus Home Assistant discovery configs under ``homeassistant/sensor/<node>/.../config``, so that
"Current action", "Action score" and "Model FPS" sensors appear without any configuration.

Connection loss is paho's job: it reconnects with backoff and keeps QoS 1 messages (the events)
in its outgoing queue until the broker is back. That queue is bounded; what did not fit is
counted in :attr:`MqttPublisher.dropped`. State messages are QoS 0 and are not queued: the
next one after the reconnect replaces them. QoS 1 is "at least once": a message the broker
took just before it went away may come again after the reconnect, so each event carries an
``id`` (the same in its start and end messages) for listeners to drop repeats.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from utils.rates import RateMeter
from video_classifier.data import ActionEvent, Prediction
from video_classifier.errors import UserError
from video_classifier.outputs import Output

log = logging.getLogger("mqtt")

DISCOVERY_PREFIX = "homeassistant"


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
    """A Home Assistant object id from the topic prefix (letters, digits and underscores)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", topic).strip("_") or "movinet"


class MqttPublisher(Output):
    """Publishes the state (from predictions), action events and the camera's availability."""

    def __init__(self, settings: MqttSettings, model_name: str = "MoViNet", clock=time.monotonic) -> None:
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
        self._events = 0
        self._clock = clock
        self._rate = RateMeter(clock=clock)
        self._last_state_at = float("-inf")
        self._last: Prediction | None = None
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
        self._client = client

    def _topic(self, name: str) -> str:
        return f"{self.topic}/{name}"

    # -- connection ------------------------------------------------------------------------
    def connect(self, timeout: float = 5.0) -> MqttPublisher:
        """Connect, start the network thread and wait up to ``timeout`` for the broker's answer.

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
        # QoS 0: these go out at once and never wait behind the queued events.
        for topic, config in self.discovery_configs().items():
            client.publish(topic, json.dumps(config), qos=0, retain=True)
        client.publish(self._topic("availability"), "online" if self._camera_ok else "offline", qos=0, retain=True)
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._was_connected and reason_code != 0:
            log.warning("MQTT connection lost (%s); events are queued until it is back", reason_code)

    # -- what is published -----------------------------------------------------------------
    def discovery_configs(self) -> dict[str, dict]:
        """Home Assistant MQTT discovery: topic -> config for each sensor."""
        device = {
            "identifiers": [self.node],
            "name": f"MoViNet {self.topic.rsplit('/', 1)[-1]}",
            "model": self.model_name,
            "manufacturer": "movinet-pi",
        }
        common = {"state_topic": self._topic("state"), "availability_topic": self._topic("availability"), "device": device}
        sensors = {
            "action": {
                "name": "Current action",
                "value_template": "{{ value_json.action }}",
                "json_attributes_topic": self._topic("state"),
                "icon": "mdi:run",
            },
            "score": {
                "name": "Action score",
                "value_template": "{{ (value_json.score * 100) | round(0) }}",
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "icon": "mdi:percent",
            },
            "fps": {
                "name": "Model FPS",
                "value_template": "{{ value_json.fps }}",
                "unit_of_measurement": "fps",
                "state_class": "measurement",
                "entity_category": "diagnostic",
            },
        }
        return {
            f"{DISCOVERY_PREFIX}/sensor/{self.node}/{key}/config": {**common, **sensor, "unique_id": f"{self.node}_{key}"}
            for key, sensor in sensors.items()
        }

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
            "timestamp": time.time(),
        }

    def on_prediction(self, prediction: Prediction) -> None:
        """A state message at most every ``state_interval_s``."""
        self._rate.tick()
        self._last = prediction
        if self._clock() - self._last_state_at >= self.settings.state_interval_s:
            self._publish_state()

    def _publish_state(self) -> None:
        if self._last is None:
            return
        self._last_state_at = self._clock()
        self._client.publish(self._topic("state"), json.dumps(self.state(self._last)), qos=0, retain=True)

    def on_camera(self, state: str, time_s: float) -> None:
        """The camera was "lost" or "restored": Home Assistant shows the sensors unavailable meanwhile."""
        self._camera_ok = state != "lost"
        self._client.publish(self._topic("availability"), "online" if self._camera_ok else "offline", qos=0, retain=True)

    def on_event_start(self, event: ActionEvent) -> None:
        self.active = event.label
        self._events += 1
        self._event_id = f"{self.node}-{int(time.time())}-{self._events}"
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
        payload = json.dumps({"type": kind, "id": self._event_id, **fields, "timestamp": time.time()})
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

    def close(self, timeout: float = 3.0) -> None:
        """Say "offline", give queued events ``timeout`` seconds to go out, and disconnect."""
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
