"""Classifier backends behind one interface: ``predict(crops) -> probabilities``.

A backend is chosen by name (``onnxruntime``, ``tensorrt``, ``auto``). Each reads the model's
own metadata, so the crop, preprocessing and class names come from the model, not from config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.model_meta import ModelInfo

log = logging.getLogger(__name__)


class ClassifierError(RuntimeError):
    """A model cannot be loaded or run; the message names the file and what to do."""


class Classifier(Protocol):
    info: ModelInfo
    backend: str

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """N x 48 x 48 uint8 face crops to N x classes probabilities (one batch)."""
        ...


class OnnxRuntimeClassifier:
    backend = "onnxruntime"

    def __init__(self, model_path: str | Path, providers: list[str] | None = None, threads: int = 0) -> None:
        import onnxruntime as ort

        path = Path(model_path)
        if not path.is_file():
            raise ClassifierError(f"model not found: {path}; set model.path to an exported .onnx file")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # One small batch per frame leaves worker threads idle between frames; spinning there
        # would steal the cores the capture thread and the detector need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = ort.get_available_providers()
        wanted = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=wanted)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ClassifierError(f"{path}: ONNX Runtime cannot load it ({exc})") from exc
        self.info = ModelInfo.from_props(dict(self.session.get_modelmeta().custom_metadata_map), source=str(path))
        self.providers = self.session.get_providers()
        self.path = path

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        if len(crops) == 0:
            return np.empty((0, len(self.info.classes)), dtype=np.float32)
        x = self.info.preprocessing.apply(crops)
        (probs,) = self.session.run([self.info.output_name], {self.info.input_name: x})
        return np.asarray(probs, dtype=np.float32)


def load_classifier(model_path: str | Path, backend: str = "auto", threads: int = 0) -> Classifier:
    """``auto`` would prefer TensorRT; until its runtime lands, it uses ONNX Runtime and says so.
    ``threads`` is ONNX Runtime's intra-op thread count (0: its default, all cores)."""
    if backend not in ("auto", "onnxruntime", "tensorrt"):
        raise ClassifierError(f"model.backend={backend!r}: choose auto, onnxruntime or tensorrt")
    if backend == "tensorrt":
        raise ClassifierError("the tensorrt backend is not available in this version; use onnxruntime or auto")
    classifier = OnnxRuntimeClassifier(model_path, threads=threads)
    if backend == "auto":
        log.info("classifier backend auto: using onnxruntime (%s)", ", ".join(classifier.providers))
    return classifier
