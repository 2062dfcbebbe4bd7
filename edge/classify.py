"""Classifier backends behind one interface: ``predict(crops) -> probabilities``.

A backend is chosen by name (``onnxruntime``, ``tensorrt``, ``auto``). Each reads the model's
own metadata, so the crop, preprocessing and class names come from the model, not from config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.model_meta import ModelInfo
from edge.registry import BACKENDS, unknown_choice

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
        # On x86 CPUs without VNNI (AVX2-only), ONNX Runtime's fast INT8 kernels pair products in
        # 16 bits that saturate: the shipped INT8 model lost 3.4 points of PublicTest top-1 there
        # (66.37 vs 69.82 % FP32). This switches only those CPUs to exact kernels; elsewhere
        # (VNNI, ARM, FP32 models) it changes nothing.
        options.add_session_config_entry("session.x64quantprecision", "1")
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


@dataclass(frozen=True)
class EngineOptions:
    """How the ``tensorrt`` backend finds or builds its engine (see edge.tensorrt.engine_manager)."""

    engine: Path | None = None
    engine_dir: Path | None = None
    precision: str = "int8"
    max_batch: int = 8
    rebuild: bool = True


def load_classifier(
    model_path: str | Path, backend: str = "auto", threads: int = 0, engine: EngineOptions | None = None
) -> Classifier:
    """``tensorrt`` needs TensorRT, pycuda and a GPU, and refuses to start without them; ``auto``
    uses TensorRT where it can load (or build) an engine and ONNX Runtime otherwise, and says which
    and why. ``threads`` is ONNX Runtime's intra-op thread count (0: its default, all cores)."""
    if backend not in BACKENDS:
        raise ClassifierError(unknown_choice("model.backend", backend, BACKENDS))
    if backend in ("auto", "tensorrt"):
        from edge.tensorrt.support import tensorrt_unavailable_reason

        reason = tensorrt_unavailable_reason()
        if reason is None:
            try:
                return _load_tensorrt(Path(model_path), engine or EngineOptions())
            except (RuntimeError, ValueError, OSError) as exc:  # EngineMismatch, EngineBuildError, CUDA errors
                if backend == "tensorrt":
                    raise ClassifierError(f"model.backend=tensorrt: {exc}") from exc
                reason = str(exc)
        elif backend == "tensorrt":
            raise ClassifierError(f"model.backend=tensorrt cannot run here: {reason}; use onnxruntime or auto")
        log.info("classifier backend auto: TensorRT not used (%s); using ONNX Runtime", reason)
    classifier = OnnxRuntimeClassifier(model_path, threads=threads)
    if backend == "auto":
        log.info("classifier backend auto: using onnxruntime (%s)", ", ".join(classifier.providers))
    return classifier


def _load_tensorrt(model_path: Path, options: EngineOptions) -> Classifier:
    from edge.model_meta import read_onnx_metadata
    from edge.tensorrt.backend import TensorRTClassifier
    from edge.tensorrt.engine_manager import default_engine_path, ensure_engine

    info = read_onnx_metadata(str(model_path))
    engine = options.engine or default_engine_path(model_path, options.precision, options.engine_dir)
    ensure_engine(model_path, info, engine, options.precision, options.max_batch, options.rebuild)
    log.info("classifier backend: TensorRT %s engine %s", options.precision, engine)
    return TensorRTClassifier(engine, info, options.max_batch)
