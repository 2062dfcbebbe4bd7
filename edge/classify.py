"""Classifier backends behind one interface: ``predict(crops) -> probabilities``.

A backend is chosen by name (``onnxruntime``, ``tensorrt``, ``auto``). Each reads the model's
own metadata, so the crop, preprocessing and class names come from the model, not from config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from edge.model_meta import ModelInfo, check_graph
from edge.ort import default_providers, onnxruntime, session_options
from edge.registry import BACKENDS, unknown_choice

if TYPE_CHECKING:
    from edge.tensorrt.engine_manager import BuildWatch

log = logging.getLogger(__name__)


class ClassifierError(RuntimeError):
    """A model cannot be loaded or run; the message names the file and what to do."""


class Classifier(Protocol):
    info: ModelInfo
    backend: str
    # Why this backend runs (``auto``: why TensorRT was not used); in the stats and systemd's STATUS.
    reason: str

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """N x 48 x 48 uint8 face crops to N x classes probabilities (one batch)."""
        ...

    def close(self) -> None:
        """Release the model (GPU memory, sessions); the classifier is unusable afterwards."""
        ...


ORT_MISSING = (
    "ONNX Runtime is not installed: pip install onnxruntime (a CPU or Jetson build of onnxruntime-gpu "
    "serves too; only one of them may be installed), or run `make setup-device`"
)


class OnnxRuntimeClassifier:
    backend = "onnxruntime"

    def __init__(
        self, model_path: str | Path, providers: list[str] | None = None, threads: int = 0, reason: str = ""
    ) -> None:
        try:
            ort = onnxruntime()  # telemetry off
        except ImportError as exc:
            raise ClassifierError(f"{ORT_MISSING} ({exc})") from exc

        path = Path(model_path)
        if not path.is_file():
            raise ClassifierError(f"model not found: {path}; set model.path to an exported .onnx file")
        options = session_options(ort, threads)  # exact INT8 kernels, no spinning: edge.ort
        wanted = providers or default_providers(ort)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=wanted)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ClassifierError(f"{path}: ONNX Runtime cannot load it ({exc})") from exc
        self.info = ModelInfo.from_props(dict(self.session.get_modelmeta().custom_metadata_map), source=str(path))
        check_graph(self.session, self.info, str(path))
        self.providers = self.session.get_providers()
        self.path = path
        self.reason = reason or f"ONNX Runtime {ort.__version__} ({', '.join(self.providers)})"

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        if len(crops) == 0:
            return np.empty((0, len(self.info.classes)), dtype=np.float32)
        x = self.info.preprocessing.apply(crops)
        (probs,) = self.session.run([self.info.output_name], {self.info.input_name: x})
        return self.info.calibrate(np.asarray(probs, dtype=np.float32))

    def close(self) -> None:
        self.__dict__.pop("session", None)


@dataclass(frozen=True)
class EngineOptions:
    """How the ``tensorrt`` backend finds or builds its engine (see edge.tensorrt.engine_manager)."""

    engine: Path | None = None
    engine_dir: Path | None = None
    precision: str = "int8"
    max_batch: int = 8
    rebuild: bool = True
    # Around an engine build: the service tells systemd the start is making progress.
    while_building: BuildWatch | None = None


def load_classifier(
    model_path: str | Path, backend: str = "auto", threads: int = 0, engine: EngineOptions | None = None
) -> Classifier:
    """``tensorrt`` needs TensorRT, pycuda and a GPU, and refuses to start without them, saying why;
    ``auto`` uses TensorRT where it can load (or build) an engine and ONNX Runtime otherwise. Any
    failure to load TensorRT falls back (after the TensorRT backend released what it had allocated),
    logged as a WARNING with the reason and the fix; TensorRT that is simply not installed (a
    Raspberry Pi, a PC) is only an INFO. ``classifier.reason`` keeps why for the stats and STATUS.
    ``threads`` is ONNX Runtime's intra-op thread count (0: its default, all cores)."""
    if backend not in BACKENDS:
        raise ClassifierError(unknown_choice("model.backend", backend, BACKENDS))
    reason = ""
    if backend in ("auto", "tensorrt"):
        from edge.tensorrt.support import probe

        support = probe()
        if support.reason is None:
            try:
                return _load_tensorrt(Path(model_path), engine or EngineOptions())
            except Exception as exc:  # any: EngineMismatch, EngineBuildError, pycuda's Error, OSError, ...
                why, fix = _describe_failure(exc)
                if backend == "tensorrt":
                    raise ClassifierError(f"model.backend=tensorrt: {why}; {fix}") from exc
                log.warning(
                    "classifier backend auto: TensorRT failed to load (%s); using ONNX Runtime. Fix: %s", why, fix
                )
                reason = f"TensorRT failed: {why}"
        elif backend == "tensorrt":
            raise ClassifierError(
                f"model.backend=tensorrt cannot run here: {support.reason}; "
                + (f"{support.fix}; " if support.fix else "")
                + "or use onnxruntime or auto"
            )
        elif support.installed:
            log.warning(
                "classifier backend auto: TensorRT not used (%s); using ONNX Runtime. Fix: %s",
                support.reason,
                support.fix,
            )
            reason = f"TensorRT not used: {support.reason}"
        else:
            log.info("classifier backend auto: TensorRT not used (%s); using ONNX Runtime", support.reason)
            reason = "TensorRT is not installed"
    classifier = OnnxRuntimeClassifier(model_path, threads=threads)
    if reason:
        classifier.reason = f"{reason}; {classifier.reason}"
    if backend == "auto":
        log.info("classifier backend auto: using onnxruntime (%s)", ", ".join(classifier.providers))
    return classifier


def _describe_failure(exc: BaseException) -> tuple[str, str]:
    """What went wrong loading TensorRT, in one line, and what to do about it."""
    from edge.tensorrt.support import DOCTOR

    name = type(exc).__name__
    module = type(exc).__module__ or ""
    if name == "EngineMismatch":
        return str(exc), "model.rebuild_engine = true rebuilds it on start"
    if name == "EngineBuildError":
        return str(exc), f"see the engine's .log beside it; {DOCTOR}"
    if name == "EngineLoadError":
        return str(exc), f"{DOCTOR} (the engine cache among them)"
    if module.startswith("pycuda"):
        return f"CUDA error ({name}: {exc})", (
            "check the GPU's device nodes are reachable (under systemd: the Jetson drop-in) and GPU memory is free; "
            + DOCTOR
        )
    if isinstance(exc, OSError):
        return (
            f"{name}: {exc}",
            "check model.engine_dir is writable by this user (the service's is /var/lib/emotion-edge)",
        )
    return f"{name}: {exc}", DOCTOR


def _load_tensorrt(model_path: Path, options: EngineOptions) -> Classifier:
    from edge.model_meta import read_onnx_metadata
    from edge.tensorrt.backend import TensorRTClassifier
    from edge.tensorrt.engine_manager import default_engine_path, ensure_engine

    info = read_onnx_metadata(str(model_path))
    engine = options.engine or default_engine_path(model_path, options.precision, options.engine_dir)
    ensure_engine(
        model_path,
        info,
        engine,
        options.precision,
        options.max_batch,
        options.rebuild,
        while_building=options.while_building,
    )
    classifier = TensorRTClassifier(engine, info, options.max_batch)
    log.info("classifier backend: %s", classifier.reason)
    return classifier
