"""ONNX Runtime for every session the project creates, with its telemetry off.

Recent ONNX Runtime builds for Linux collect telemetry: importing the library writes a device ID and
an event queue under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime``. A device that promises that
nothing but its MQTT messages leaves it turns that off: ``ORT_DISABLE_TELEMETRY=1`` before the
library loads (set when ``edge`` is imported, so every command and tool of the project has it; a
user who wants the telemetry sets the variable to 0), and ``disable_telemetry_events()`` where the
installed version has it, before each session is made (``onnxruntime()`` below).
"""

from __future__ import annotations

import os
from types import ModuleType

TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def telemetry_off() -> None:
    """Ask ONNX Runtime, when it loads, to collect nothing (a value the user set is kept)."""
    os.environ.setdefault(TELEMETRY_ENV, "1")


def onnxruntime() -> ModuleType:
    """``import onnxruntime``, with its telemetry off; raises ImportError as the import does."""
    telemetry_off()
    import onnxruntime as ort

    disable = getattr(ort, "disable_telemetry_events", None)
    if disable is not None and os.environ.get(TELEMETRY_ENV) != "0":
        disable()
    return ort  # type: ignore[no-any-return]
