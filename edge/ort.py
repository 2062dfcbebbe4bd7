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


def session_options(ort: ModuleType, threads: int = 0) -> object:
    """The options every inference session of the device gets (``threads``: intra-op threads, 0: ONNX
    Runtime's default, all cores)."""
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    # One small batch per frame leaves worker threads idle between frames; spinning there
    # would steal the cores the capture thread and the other models need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # On x86 CPUs without VNNI (AVX2-only), ONNX Runtime's fast INT8 kernels pair products in 16 bits
    # that saturate: the INT8 model lost 3.4 points of PublicTest top-1 there (66.37 vs 69.82 % FP32).
    # This switches only those CPUs to exact kernels; elsewhere (VNNI, ARM, FP32 models) it changes nothing.
    options.add_session_config_entry("session.x64quantprecision", "1")
    return options


def default_providers(ort: ModuleType) -> list[str]:
    """CUDA where this ONNX Runtime build has it, else the CPU."""
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
