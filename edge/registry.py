"""The names a configuration or a flag may choose: face detectors and classifier backends.

One registry each, with a line on what each one is; the configuration's checks, the commands'
``choices`` and the factories (``edge.detect.create_detector``, ``edge.classify.load_classifier``)
all read these. This module imports nothing heavy, so the configuration and the parsers can use it.
A new detector or backend is added here and to its factory (a test keeps the two in step).
"""

from __future__ import annotations

DETECTORS: dict[str, str] = {
    "yunet": "OpenCV's FaceDetectorYN (YuNet): boxes, scores and 5 landmarks; needs its ONNX file",
    "haar": "OpenCV's Haar cascade: boxes only, no download; OpenCV 4.x only (5.x removed it)",
    "yunet-onnxruntime": "the same YuNet file through ONNX Runtime (CPU; CUDA where installed): the faces yunet finds",
    "yunet-tensorrt": "YuNet as a TensorRT FP16 engine cached beside the model (a Jetson's GPU); refuses to start "
    "where it cannot load",
    "yunet-auto": "yunet-tensorrt where its engine loads or builds, else yunet (OpenCV on the CPU); says which and why",
}

BACKENDS: dict[str, str] = {
    "auto": "TensorRT where an engine loads or builds, else ONNX Runtime; says which and why",
    "onnxruntime": "ONNX Runtime: the CPU anywhere; CUDA or TensorRT execution providers where installed",
    "tensorrt": "a TensorRT engine with pycuda buffers; refuses to start where it cannot load",
}

# Contrast equalisation of a face crop before the classifier (edge.contract.Preprocessing; training's --equalize).
EQUALIZERS: dict[str, str] = {
    "none": "the crop as it is",
    "hist": "global histogram equalisation (the release models)",
    "clahe": "contrast-limited adaptive histogram equalisation",
}

DETECTOR_KINDS: tuple[str, ...] = tuple(DETECTORS)
BACKEND_NAMES: tuple[str, ...] = tuple(BACKENDS)
EQUALIZE_METHODS: tuple[str, ...] = tuple(EQUALIZERS)


def runs_yunet(kind: str) -> bool:
    """Whether a detector kind runs the YuNet ONNX file (detector.model), on whichever backend."""
    return kind == "yunet" or kind.startswith("yunet-")


def unknown_choice(key: str, value: object, registry: dict[str, str]) -> str:
    """The message for a name that is not in a registry: the key, the value and every choice."""
    options = "; ".join(f"{name}: {what}" for name, what in registry.items())
    return f"{key}={value!r} is not known; choose one of {', '.join(registry)} ({options})"
