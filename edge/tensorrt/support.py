"""Whether TensorRT and pycuda can run here, and why not, without importing them for real use."""

from __future__ import annotations

import importlib


def tensorrt_unavailable_reason() -> str | None:
    """None when TensorRT's runtime and pycuda import and see a GPU; otherwise the reason."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        return f"TensorRT is not installed ({exc}); on a Jetson it comes with JetPack"
    # The tensorrt-stubs wheel (type checking only) leaves an importable namespace package.
    if not hasattr(trt, "__version__") or not hasattr(trt, "Builder"):
        return "only TensorRT's type stubs are installed, not TensorRT itself"
    try:
        cuda = importlib.import_module("pycuda.driver")
    except ImportError as exc:
        return f"pycuda is not installed ({exc}); `pip install '.[jetson]'`"
    try:
        cuda.init()
        if cuda.Device.count() == 0:
            return "no CUDA GPU is visible"
    except Exception as exc:  # pycuda raises its own LogicError/RuntimeError without a driver
        return f"CUDA does not initialise ({exc})"
    return None
