"""A Home Assistant integration for the tests only: it writes an API token to ``probe_token`` and
every state change Home Assistant makes to ``probe_states.jsonl``, so that a test can read what
Home Assistant itself shows (its REST API tells the current states, this log tells the history).
It also stands in for a phone: ``notify.mobile_app_phone`` writes each notification it is asked
to send to ``probe_notifications.jsonl``."""

import json
import os

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import callback


async def async_setup(hass, config):
    user = await hass.auth.async_create_system_user("test probe", group_ids=["system-admin"])
    refresh_token = await hass.auth.async_create_refresh_token(user)
    token_path = hass.config.path("probe_token")
    with open(token_path + ".tmp", "w") as f:
        f.write(hass.auth.async_create_access_token(refresh_token))
    os.replace(token_path + ".tmp", token_path)
    log = open(hass.config.path("probe_states.jsonl"), "a", buffering=1)  # noqa: SIM115 (open while Home Assistant runs)

    def state(value):
        return value and {"state": value.state, "attributes": dict(value.attributes)}

    @callback  # in Home Assistant's loop, in order: a plain function would run in its thread pool
    def changed(event):
        data = event.data
        record = {"entity_id": data["entity_id"], "time": event.time_fired.timestamp()}
        log.write(json.dumps({**record, "old": state(data.get("old_state")), "new": state(data.get("new_state"))}, default=str))
        log.write("\n")

    hass.bus.async_listen(EVENT_STATE_CHANGED, changed)
    notifications = open(hass.config.path("probe_notifications.jsonl"), "a", buffering=1)  # noqa: SIM115

    async def notify(call):
        notifications.write(json.dumps(dict(call.data), default=str) + "\n")

    hass.services.async_register("notify", "mobile_app_phone", notify)
    return True
