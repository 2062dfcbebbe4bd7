"""The MQTT side stays light: no torch, train or export; the CLI hook does not even load paho."""

from __future__ import annotations

import subprocess
import sys

MODULES = [
    "edge.mqtt",
    "edge.mqtt.config",
    "edge.mqtt.topics",
    "edge.mqtt.payloads",
    "edge.mqtt.policy",
    "edge.mqtt.outbox",
    "edge.mqtt.discovery",
    "edge.mqtt.schemas",
    "edge.mqtt.client.connection",
    "edge.mqtt.client.link",
    "edge.mqtt.client.publisher",
    "edge.mqtt.watch",
    "edge.mqtt.cli",
]


def loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(','.join(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.strip().split(","))


def test_no_mqtt_module_imports_torch_train_or_export() -> None:
    loaded = loaded_after("".join(f"import {m}\n" for m in MODULES))
    assert not {m for m in loaded if m.split(".")[0] in ("torch", "train", "export")}


def test_the_cli_hook_imports_no_mqtt_client_library() -> None:
    loaded = loaded_after("import edge.mqtt.cli")
    assert not {m for m in loaded if m.startswith("paho")}
