"""Default paths, in one place: the device's files and the ``../shared`` material beside a checkout.

The ``DEV_*`` paths exist only beside a development checkout (data sets, photos and the YuNet copy
that the project reads by path and never commits); a device has its own paths in its configuration.
"""

from __future__ import annotations

# On the device (relative to the working directory; the service's config names absolute ones).
MODEL = "models/emotion-edge-fp32.onnx"
MODEL_INT8 = "models/emotion-edge-int8.onnx"  # `make int8` writes it; TensorRT engines are built from it
DETECTOR = "models/face_detection_yunet.onnx"  # where `emotion-edge models fetch` puts YuNet
EXAMPLE_CONFIG = "systemd/emotion-edge.toml"

# Beside a development checkout.
SHARED = "../shared"
DEV_DATA = f"{SHARED}/datasets/fer2013.tar.gz"
DEV_VOTES = f"{SHARED}/datasets/ferplus-fer2013new.csv"
DEV_WILD = f"{SHARED}/media/wild"
DEV_YUNET = f"{SHARED}/models/face_detection_yunet.onnx"


def locate_detector(configured: str | None = None) -> str | None:
    """YuNet where `run`, `demo` and `bench` all look, in this order: the configured file, else
    ``models/`` (where `emotion-edge models fetch` puts it), else ``../shared/models/`` beside a
    development checkout (both from the working directory, as every default path here). None when
    none of them holds a file."""
    from pathlib import Path

    candidates = [configured] if configured else []
    for candidate in [*candidates, DETECTOR, DEV_YUNET]:
        if candidate and Path(candidate).is_file():
            return candidate
    return None
