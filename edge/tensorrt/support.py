"""Whether TensorRT and pycuda can run here, and why not, without importing them for real use."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

DOCTOR = "`emotion-edge doctor` checks each part"


@dataclass(frozen=True)
class Support:
    """``installed``: TensorRT's Python bindings import; ``reason`` is None when TensorRT, pycuda and
    a GPU are all usable, else why not, and ``fix`` what to do about it."""

    installed: bool
    reason: str | None
    fix: str = ""


def probe() -> Support:
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        return Support(
            False,
            f"TensorRT is not installed ({exc})",
            "on a Jetson it comes with JetPack (sudo apt install nvidia-jetpack), seen by a venv made with "
            "--system-site-packages: run `make setup-device`",
        )
    # The tensorrt-stubs wheel (type checking only) leaves an importable namespace package.
    if not hasattr(trt, "__version__") or not hasattr(trt, "Builder"):
        return Support(False, "only TensorRT's type stubs are installed, not TensorRT itself", "install TensorRT")
    try:
        cuda = importlib.import_module("pycuda.driver")
    except ImportError as exc:
        return Support(
            True,
            f"pycuda is not installed ({exc})",
            "run `make setup-device` (it builds pycuda against JetPack's CUDA, with nvcc on the PATH)",
        )
    try:
        cuda.init()
        if cuda.Device.count() == 0:
            return Support(True, "no CUDA GPU is visible", DOCTOR)
    except Exception as exc:  # pycuda's errors derive from Exception only (pycuda._driver.Error)
        return Support(
            True,
            f"CUDA does not initialise ({type(exc).__name__}: {exc})",
            "under systemd the GPU's device nodes must be allowed: sudo make install-service writes the Jetson "
            f"drop-in from the nodes that exist; {DOCTOR}",
        )
    return Support(True, None)


def tensorrt_unavailable_reason() -> str | None:
    """None when TensorRT's runtime and pycuda import and see a GPU; otherwise the reason and the fix."""
    support = probe()
    if support.reason is None:
        return None
    return f"{support.reason}; {support.fix}" if support.fix else support.reason
