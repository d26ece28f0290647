"""A real Home Assistant core for the tests, with only its MQTT integration set up, pointed at a
loopback broker.

Home Assistant lives in its own virtual environment, outside the app's (``.ci/run`` installs it;
``MOVINET_HA_VENV`` says where, default ``~/.cache/movinet/ha-venv``). The config folder gets the
MQTT config entry and a small test integration (``tests/ha_probe``) that hands out an API token
and logs every state change, so that the tests read what Home Assistant itself shows.

    python tests/home_assistant.py --warm-up     # start once, so it installs what it needs
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import free_port

HA_VENV = Path(os.environ.get("MOVINET_HA_VENV", Path.home() / ".cache" / "movinet" / "ha-venv"))
HASS = HA_VENV / "bin" / "hass"
PROBE = Path(__file__).resolve().parent / "ha_probe"


class HomeAssistant:
    """One Home Assistant process on a loopback port, reading ``mqtt_port`` on 127.0.0.1."""

    def __init__(self, folder: Path, mqtt_port: int, config: str = "") -> None:
        self.folder, self.mqtt_port, self.config = folder, mqtt_port, config  # config: more configuration.yaml
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.token = ""

    def _write_config(self) -> None:
        storage = self.folder / ".storage"
        storage.mkdir(parents=True, exist_ok=True)
        shutil.copytree(PROBE, self.folder / "custom_components" / "probe", dirs_exist_ok=True)
        (self.folder / "configuration.yaml").write_text(
            "homeassistant:\n  name: Test\n  latitude: 0\n  longitude: 0\n  elevation: 0\n"
            "  unit_system: metric\n  time_zone: UTC\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {self.port}\n"
            "api:\nprobe:\nlogger:\n  default: warning\n" + self.config
        )
        entry = {
            "entry_id": "0123456789abcdef0123456789abcdef",
            "version": 1,
            "minor_version": 1,
            "domain": "mqtt",
            "title": "127.0.0.1",
            "data": {"broker": "127.0.0.1", "port": self.mqtt_port, "discovery": True},
            "options": {},
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "unique_id": None,
            "disabled_by": None,
        }
        entries = {"version": 1, "minor_version": 1, "key": "core.config_entries", "data": {"entries": [entry]}}
        (storage / "core.config_entries").write_text(json.dumps(entries))

    def start(self, timeout: float = 180.0) -> HomeAssistant:
        """Start and wait until the API answers and the MQTT integration is loaded."""
        self._write_config()
        self.log = (self.folder / "hass.out").open("w")
        self.proc = subprocess.Popen([str(HASS), "-c", str(self.folder)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        token_file = self.folder / "probe_token"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Home Assistant exited: {self.output()[-2000:]}")
            if token_file.exists():
                self.token = token_file.read_text()
                try:
                    if "mqtt" in self.get("/api/config")["components"]:
                        return self
                except OSError:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"Home Assistant did not start within {timeout:g} s: {self.output()[-2000:]}")

    def output(self) -> str:
        return (self.folder / "hass.out").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc is not None:
            self.log.close()

    # -- what Home Assistant shows ------------------------------------------------------------
    def _request(self, path: str, body: dict | None = None) -> bytes:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def get(self, path: str):
        return json.loads(self._request(path))

    def states(self) -> dict[str, dict]:
        """entity id -> {"state": ..., "attributes": {...}} for every entity."""
        return {s["entity_id"]: s for s in self.get("/api/states")}

    def state(self, entity_id: str) -> str | None:
        return self.states().get(entity_id, {}).get("state")

    def template(self, text: str) -> str:
        """Render a template in Home Assistant (device registry questions, for example)."""
        return self._request("/api/template", {"template": text}).decode()

    def call(self, domain: str, service: str, entity_id: str | None = None, **data) -> None:
        """Call a service, as a button press or an automation's action would."""
        self._request(f"/api/services/{domain}/{service}", {"entity_id": entity_id, **data} if entity_id else data)

    def fire(self, event_type: str, data: dict) -> None:
        """Fire an event on Home Assistant's bus, as the phone app does when a notification is answered."""
        self._request(f"/api/events/{event_type}", data)

    def notifications(self) -> list[dict]:
        """What automations sent to ``notify.mobile_app_phone`` (the probe stands in for the phone)."""
        path = self.folder / "probe_notifications.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def named(self, friendly_name: str) -> str | None:
        """The entity id of the entity Home Assistant shows as ``friendly_name``."""
        return next((e for e, s in self.states().items() if s["attributes"].get("friendly_name") == friendly_name), None)

    def history(self, entity_id: str) -> list[dict]:
        """Every state change of ``entity_id`` so far: {"time", "old", "new"} records."""
        path = self.folder / "probe_states.jsonl"
        records = map(json.loads, path.read_text().splitlines()) if path.exists() else []
        return sorted((r for r in records if r["entity_id"] == entity_id), key=lambda r: r["time"])

    def wait_for(self, predicate, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.1)
        return predicate()


def warm_up() -> int:
    """Start Home Assistant once with a throw-away config and no broker: it installs the
    requirements of its default integrations into its own environment, then it is stopped."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        ha = HomeAssistant(Path(folder), free_port())
        try:
            ha.start(timeout=600)
        finally:
            ha.stop()
    return 0


if __name__ == "__main__":
    sys.exit(warm_up() if sys.argv[1:] == ["--warm-up"] else 2)
