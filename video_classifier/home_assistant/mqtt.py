"""The connection to an MQTT broker: login, TLS, the last will, reconnects and the event queue.

What is published over it, and the commands it listens to, are Home Assistant's part
(``home_assistant.py``); this module knows topics only as strings.

Connection loss is paho's job: it reconnects with backoff and keeps QoS 1 messages (the events)
in its outgoing queue until the broker is back. That queue is bounded; what did not fit is
counted in :attr:`MqttConnection.dropped`. QoS 0 messages (state, discovery) are not queued: the
next one after the reconnect replaces them. QoS 1 is "at least once": a message the broker took
just before it went away may come again after the reconnect, so each event carries an ``id``
for listeners to drop repeats.

Client ids are unique per topic prefix (:func:`node_id`): two apps with the same client id knock
each other off the broker in turn.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from utils.signals import wait_event
from video_classifier import environment
from video_classifier.errors import UserError, cut

log = logging.getLogger("mqtt")

# A topic made of these segments keeps the id it always had (``movinet/cam-1`` -> ``movinet_cam-1``):
# "/" becomes "_", which no segment holds, so the id still tells every such topic apart.
_PLAIN_TOPIC = re.compile(r"[A-Za-z0-9-]+(/[A-Za-z0-9-]+)*")
_PLAIN_MAX = 48  # longer plain topics are hashed too, so that every id stays short
MAX_TOPIC_PREFIX = 256  # bytes of --mqtt-topic: room for every name the app puts after it


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
            raise UserError(
                f"--mqtt-topic {cut(self.topic)!r}: give a plain topic prefix such as movinet/garden (not empty, no + or #)"
            )
        if len(self.topic.encode()) > MAX_TOPIC_PREFIX:  # MQTT's own limit is 65,535 bytes, prefix and name together
            raise UserError(
                f"--mqtt-topic {cut(self.topic)!r}: a prefix of at most {MAX_TOPIC_PREFIX} bytes, such as movinet/garden"
            )
        if not self.host:
            raise UserError("--mqtt: give the broker's host name or address, as in broker.local or broker.local:1883")

    @classmethod
    def from_settings(cls, settings) -> MqttSettings:
        """Broker, login and topic prefix from the app's ``--mqtt*`` settings (and ``$MQTT_PASSWORD``)."""
        return cls.parse_address(
            settings.mqtt,
            tls=settings.mqtt_tls or settings.mqtt_ca is not None,
            topic=settings.mqtt_topic,
            username=settings.mqtt_user,
            password=settings.mqtt_password or environment.value("MQTT_PASSWORD"),
            ca_file=settings.mqtt_ca,
        )

    @classmethod
    def parse_address(cls, address: str, tls: bool = False, **options) -> MqttSettings:
        """``HOST`` or ``HOST:PORT`` (the port defaults to 1883, or 8883 with TLS); an IPv6 address
        with a port in brackets, ``[::1]:1883``."""
        one_colon = address.count(":") == 1 or (address.startswith("[") and "]:" in address)
        host, _, port = address.rpartition(":") if one_colon else (address, "", "")
        if not port:
            return cls(host=address.strip("[]"), port=8883 if tls else 1883, tls=tls, **options)
        if not port.isdecimal() or len(port) > 5 or not 0 < int(port) < 65536:
            raise UserError(f"--mqtt {cut(address)}: the port must be a number from 1 to 65535, as in broker.local:1883")
        return cls(host=host.strip("[]"), port=int(port), tls=tls, **options)


def node_id(topic: str) -> str:
    """A short id, unique and stable for each topic prefix: the client id's and Home
    Assistant's node id's core (letters, digits, ``_`` and ``-`` only).

    A plain topic (ASCII letters, digits and ``-`` between single slashes, as ``movinet/<host>``)
    keeps its readable id, slashes turned into ``_``. Any other topic, where that would lose
    something (``a b``, ``a_b`` and ``a.b``; ``кухня`` and ``客厅``), gets what is left of it
    readable, ``__`` (which no plain id has) and 8 hex digits of the topic's SHA-256.
    """
    if _PLAIN_TOPIC.fullmatch(topic) and len(topic) <= _PLAIN_MAX:
        return topic.replace("/", "_")
    readable = re.sub(r"[^A-Za-z0-9-]+", "_", topic).strip("_-")[:32].rstrip("_-") or "movinet"
    return f"{readable}__{hashlib.sha256(topic.encode()).hexdigest()[:8]}"


# A connection lost this soon after it was made, twice running, is most likely taken over: a
# broker keeps one connection per client id, and a second app on the same topic has the same id.
# (MQTT 3.1.1 does not say why a broker closes a connection: one that refuses what the app sends
# does the same.) Such losses are then summed up once a minute, not told one by one.
TAKEN_OVER_S = 3.0
QUICK_LOSSES_SAID_EVERY_S = 60.0
REFUSALS_SAID_EVERY_S = 300.0


class MqttConnection:
    """One paho client: connected by :meth:`connect`, then publishing and listening until
    :meth:`close`. ``will`` is the (topic, payload) the broker publishes, retained, if the app
    dies, and that :meth:`close` publishes itself. ``on_connected`` runs in paho's thread after
    each successful (re)connect, once the subscriptions are renewed."""

    def __init__(
        self,
        settings: MqttSettings,
        will: tuple[str, str],
        on_connected: Callable[[], None] | None = None,
        clock=time.monotonic,
    ) -> None:
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise UserError("--mqtt needs paho-mqtt: run .venv/bin/pip install paho-mqtt") from None
        self._mqtt = mqtt
        self.settings = settings
        self.topic = settings.topic.rstrip("/")
        self.client_id = f"movinet-{node_id(self.topic)}"
        self.dropped = 0  # QoS 1 messages that did not fit in the queue during an outage
        self._will = will
        self._on_connected = on_connected
        self._clock = clock
        self._handlers: dict[str, Callable] = {}  # topic filter -> handler(message)
        self._connected = threading.Event()
        self._refused: str | None = None
        self._was_connected = False
        self._connected_at = 0.0
        self._quick_losses = 0  # connections lost within TAKEN_OVER_S of being made, running
        self._quick_said_at = 0.0  # when the last summary of them was said
        self._refusals_said_at: float | None = None  # while the broker refuses us: when that was last said
        self._in_background = False  # the first connection is being made in the background
        # Message ids of QoS 1 messages sent and of messages the broker acknowledged. Two sets,
        # no lock: paho calls on_publish in its thread holding its own lock.
        self._sent: set[int] = set()
        self._acked: set[int] = set()

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        client.will_set(will[0], will[1], qos=1, retain=True)
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

    def connect(self, timeout: float = 5.0, background: bool = True) -> MqttConnection:
        """Connect, start the network thread and wait up to ``timeout`` for the broker's answer.
        Without ``background`` a broker that is down is an error instead of retried.

        A name that does not resolve, a certificate that does not verify and a refused login are
        errors; a broker that is down is not (it may still be starting): the app runs and paho
        keeps retrying.
        """
        s = self.settings
        try:  # the first attempt in this thread, to tell a mistake from a broker that is not up yet
            self._client.connect(s.host, s.port, keepalive=30)
        except (socket.gaierror, UnicodeError):  # UnicodeError: a name no DNS can hold (a label over 63 characters)
            raise UserError(f"MQTT broker {cut(s.host)} not found: check the name given to --mqtt") from None
        except ssl.SSLError as exc:
            raise UserError(
                f"TLS with MQTT broker {s.host}:{s.port} failed ({exc.reason or exc}): "
                "give the broker's CA certificate with --mqtt-ca, or drop --mqtt-tls for a plain port"
            ) from None
        except OSError as exc:
            if not background:
                raise self.unreachable(exc.strerror or str(exc)) from None
            log.warning("MQTT broker %s:%d not reachable yet (%s); retrying in the background", s.host, s.port, exc)
            self._in_background = True  # no start is waiting to say a refused login: it is a warning
            self._client.connect_async(s.host, s.port, keepalive=30)
            self._client.loop_start()
            return self
        self._client.loop_start()
        wait_event(self._connected, timeout)  # for the broker's answer to the login
        if not background and not self._connected.is_set():  # a port that took the connection but is no broker
            self._client.loop_stop()
            raise self.unreachable(f"no MQTT answer within {timeout:g} s")
        if self._refused:
            self._client.loop_stop()
            raise UserError(
                f"MQTT broker {s.host}:{s.port} refused the connection ({self._refused}): "
                "check --mqtt-user and the MQTT_PASSWORD / --mqtt-password"
            )
        return self

    def unreachable(self, why: str) -> UserError:
        """The error of a broker that is not there, or does not answer as one (``why``)."""
        return UserError(f"MQTT broker {self.settings.host}:{self.settings.port} is not reachable ({why}): is it running?")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            login = str(reason_code) in ("Not authorized", "Bad user name or password")
            if not self._was_connected and login and not self._in_background:
                self._refused = str(reason_code)  # the start's error line says it, once
                client.disconnect()
            else:
                # Said once, then every few minutes while it lasts: paho retries every few seconds.
                now = self._clock()
                if self._refusals_said_at is None or now - self._refusals_said_at >= REFUSALS_SAID_EVERY_S:
                    self._refusals_said_at = now
                    hint = " (check --mqtt-user and MQTT_PASSWORD)" if login else ""
                    log.warning("MQTT broker refused the connection: %s%s; retrying", reason_code, hint)
            self._connected.set()
            return
        self._refusals_said_at = None
        if self._was_connected and self._quick_losses < 2:
            log.warning("MQTT reconnected to %s:%d; sending what was queued", self.settings.host, self.settings.port)
        self._was_connected = True
        self._connected_at = self._clock()
        for topic in list(self._handlers):  # a new session: the broker forgot them
            client.subscribe(topic, qos=1)
        if self._on_connected:
            self._on_connected()
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if not self._was_connected or reason_code == 0 or self._refusals_said_at is not None:
            return  # a refused retry is no connection lost: the refusal was said
        now = self._clock()
        quick = now - self._connected_at < TAKEN_OVER_S
        self._quick_losses = self._quick_losses + 1 if quick else 0
        if self._quick_losses < 2:
            log.warning("MQTT connection lost (%s); events are queued until it is back", reason_code)
        elif self._quick_losses == 2:
            self._quick_said_at = now
            log.warning(
                "MQTT connection lost again within %g s of being made: most likely another client with this app's id "
                "(%s), such as a second app with --mqtt-topic %s, keeps taking it over (give each app its own "
                "--mqtt-topic); else the broker's log says why it closes it",
                TAKEN_OVER_S,
                self.client_id,
                self.topic,
            )
        elif now - self._quick_said_at >= QUICK_LOSSES_SAID_EVERY_S:
            self._quick_said_at = now
            log.warning("MQTT connection still lost within seconds of being made: %d times so far", self._quick_losses)

    def _on_message(self, client, userdata, message) -> None:
        for pattern, handler in list(self._handlers.items()):
            if self._mqtt.topic_matches_sub(pattern, message.topic):
                try:
                    handler(message)
                except Exception as exc:  # noqa: BLE001 (an exception here would end paho's thread: no MQTT at all)
                    log.error("MQTT message on %s not handled: %s: %s", message.topic, type(exc).__name__, exc)
                return

    # -- publishing and listening ----------------------------------------------------------
    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        """QoS 0: sent at once if connected, never waiting behind queued events; else lost."""
        self._client.publish(topic, payload, qos=0, retain=retain)

    def publish_now(self, topics: dict[str, str], timeout: float = 5.0) -> bool:
        """QoS 1, retained, and wait (up to ``timeout`` s in all) until the broker has them: whether
        it acknowledged every one (False, never an exception, when the connection is gone)."""
        infos = [self._client.publish(topic, payload, qos=1, retain=True) for topic, payload in topics.items()]
        deadline = self._clock() + timeout
        try:
            for info in infos:
                info.wait_for_publish(max(0.1, deadline - self._clock()))
            return all(info.is_published() for info in infos)
        except (RuntimeError, ValueError):  # paho's "not connected" and "queue full": not sent
            return False

    def send(self, topic: str, payload: str) -> bool:
        """QoS 1, queued while the broker is away; False (and counted) when the queue is full."""
        self.unacknowledged()  # keeps both sets small on a Pi that runs for months
        info = self._client.publish(topic, payload, qos=1)
        if info.rc == self._mqtt.MQTT_ERR_QUEUE_SIZE:
            self.dropped += 1
            log.warning("MQTT queue full: event dropped (%d so far)", self.dropped)
            return False
        self._sent.add(info.mid)
        return True

    def unacknowledged(self) -> int:
        """Messages :meth:`send` sent that the broker has not confirmed yet."""
        # Called only by the thread that sends (or after it stopped), so every mid in _acked but
        # not in _sent belongs to a QoS 0 message or to a message already counted.
        self._sent -= self._sent & self._acked
        self._acked -= self._acked - self._sent
        return len(self._sent)

    def subscribe(self, topic: str, handler: Callable) -> None:
        """Call ``handler(message)`` (in paho's thread) for each message on ``topic`` (a filter),
        from now on and after every reconnect."""
        self._handlers[topic] = handler
        if self._client.is_connected():
            self._client.subscribe(topic, qos=1)

    def retained(self, topic: str, listen_s: float = 1.0) -> set[str]:
        """The topics matching ``topic`` (a filter) that hold a retained message, as the broker
        tells a new subscriber at once: what it sends within ``listen_s``."""
        found: set[str] = set()
        self.subscribe(topic, lambda message: message.retain and message.payload and found.add(message.topic))
        time.sleep(listen_s)
        self._handlers.pop(topic, None)
        self._client.unsubscribe(topic)
        return set(found)

    def close(self, timeout: float = 3.0) -> None:
        """Give queued messages ``timeout`` seconds to go out, publish the will (the app says
        itself what the broker would say for it) and disconnect."""
        deadline = self._clock() + timeout
        while self._client.is_connected() and self._clock() < deadline and self.unacknowledged():
            time.sleep(0.02)
        unsent = self.unacknowledged()
        if unsent:
            log.warning("MQTT broker unreachable at exit: %d event message(s) not sent (a start or an end each)", unsent)
        if self._client.is_connected():
            topic, payload = self._will
            self.publish_now({topic: payload}, timeout=max(0.5, deadline - self._clock()))
        self.disconnect()

    def disconnect(self) -> None:
        """Leave at once, saying nothing (the will is not sent on a clean disconnect)."""
        self._client.disconnect()
        self._client.loop_stop()
