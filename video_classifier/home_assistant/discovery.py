"""Home Assistant MQTT discovery: the device's entities, as configs Home Assistant reads.

One device with the sensors "Current action", "Action score" and "Model FPS", the binary sensor
"Action detected", the event entity "Action", and the entities of the commands (controls.py's
table): the button "Reset model" and the switch "Pause"; with ``--actions`` also the buttons "Last
action was wrong" and "Undo last correction", the text "It was ...", and one binary sensor per
taught action. The sensors expire (read unavailable) when no state came for :data:`EXPIRE_AFTER_S`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from video_classifier import __version__
from video_classifier.controls import commands
from video_classifier.teach.examples import MAX_NAME_LENGTH

DISCOVERY_PREFIX = "homeassistant"
EXPIRE_AFTER_S = 10  # ten missed state messages: the model has stopped, not just slowed down


@dataclass(frozen=True)
class Device:
    """Who the entities belong to: the MQTT node, its topic prefix, the model, the live view."""

    node: str
    topic: str
    model_name: str
    live_view_url: str | None = None

    def topic_of(self, name: str) -> str:
        return f"{self.topic}/{name}"

    def config_topic(self, component: str, key: str) -> str:
        return f"{DISCOVERY_PREFIX}/{component}/{self.node}/{key}/config"


TAUGHT_KEY_PREFIX = "taught_"


def action_key(name: str) -> str:
    """A taught action's key: its binary sensor's object id and the state's ``action_key``.
    Readable, ASCII only, and distinct for distinct names."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:32]
    return f"{TAUGHT_KEY_PREFIX}{slug}_{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def discovery_configs(device: Device, corrections: bool, taught: Sequence[str]) -> dict[str, dict]:
    """Config topic -> config for each entity of ``device``; ``corrections``: the commands' entities
    that need taught actions too; ``taught``: the taught actions that get a binary sensor each."""
    entities = {**fixed_entities(device), **command_entities(device, {"pipeline", "corrector"} if corrections else {"pipeline"})}
    for name in taught:
        key = action_key(name)  # [a-z0-9_] only: safe inside the template's quotes
        entities["binary_sensor", key] = {
            **_state(device),
            "name": name,
            "value_template": f"{{{{ 'ON' if value_json.action_key == '{key}' else 'OFF' }}}}",
            "device_class": "occupancy",
        }
    common = {
        "availability_topic": device.topic_of("availability"),
        "device": _device_block(device),
        "origin": {"name": "movinet-pi", "sw_version": __version__},
    }
    return {
        device.config_topic(component, key): {**common, **entity, "unique_id": f"{device.node}_{key}"}
        for (component, key), entity in entities.items()
    }


def _device_block(device: Device) -> dict:
    block = {
        "identifiers": [device.node],
        "name": f"MoViNet {device.topic.rsplit('/', 1)[-1]}",
        "model": device.model_name,
        "manufacturer": "movinet-pi",
        "sw_version": __version__,
    }
    if device.live_view_url:
        block["configuration_url"] = device.live_view_url
    return block


def _state(device: Device) -> dict:
    return {"state_topic": device.topic_of("state"), "expire_after": EXPIRE_AFTER_S}


def fixed_entities(device: Device) -> dict[tuple[str, str], dict]:
    """The entities every device has, by (component, key): a table."""
    state = _state(device)
    return {
        ("sensor", "action"): {
            **state,
            "name": "Current action",
            "value_template": "{{ value_json.shown }}",
            "json_attributes_topic": device.topic_of("attributes"),
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
            "value_template": "{{ 'ON' if value_json.detected else 'OFF' }}",
            "device_class": "occupancy",
        },
        ("event", "action"): {
            "state_topic": device.topic_of("events"),
            "name": "Action",
            "event_types": ["start", "end"],
            "icon": "mdi:run-fast",
        },
    }


def command_entities(device: Device, parts: set[str]) -> dict[tuple[str, str], dict]:
    """The entities of the commands (controls.py's table) that drive one of ``parts``, each
    sending the command topic one of the command's forms."""
    command = device.topic_of("command")
    entities = {}
    for entity in (c.entity for c in commands() if c.entity is not None and c.uses in parts):
        config = {"command_topic": command, "name": entity.name, "icon": entity.icon}
        if entity.component == "button":
            config["payload_press"] = entity.payload
        elif entity.component == "switch":
            config["state_topic"] = device.topic_of("state")
            config["value_template"] = f"{{{{ 'ON' if value_json.{entity.state} else 'OFF' }}}}"
            config.update(payload_on=entity.payload, payload_off=entity.off, state_on="ON", state_off="OFF")
        elif entity.component == "text":  # a name, typed: no longer than an action's may be
            config.update(command_template=entity.payload, min=1, max=MAX_NAME_LENGTH, mode="text")
        else:
            raise ValueError(f"no Home Assistant form for a {entity.component} entity")
        entities[entity.component, entity.key] = config
    return entities
