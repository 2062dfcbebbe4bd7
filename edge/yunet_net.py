"""YuNet through the project's backend layer: ONNX Runtime anywhere, a TensorRT engine on a Jetson.

OpenCV's ``FaceDetectorYN`` (``edge.detect.YuNetDetector``) runs YuNet on OpenCV's own DNN module
on the CPU. The same ONNX file runs here on the backends the classifier uses, with the decoding
written in numpy (``edge.yunet_decode``), so a Jetson can put the detector on its GPU. The kinds:

- ``yunet-onnxruntime``: ONNX Runtime (CPU; CUDA where the installed build has it);
- ``yunet-tensorrt``: an FP16 engine built on the device and cached beside the model (or in
  ``model.engine_dir``), like the classifier's; refuses to start where it cannot load, saying why;
- ``yunet-auto``: TensorRT where its engine loads or builds, else OpenCV's ``FaceDetectorYN`` (the
  CPU default); why it chose is logged and kept in ``reason`` (as ``model.backend = "auto"`` does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.detect import Detector, DetectorError, Face, Frame, YuNetDetector, as_bgr, downscaled, faces_from_rows
from edge.ort import default_providers, onnxruntime, session_options
from edge.yunet_decode import INPUT_NAME, OUTPUT_NAMES, decode, padded_size, to_blob

log = logging.getLogger(__name__)

TOP_K = 5000  # what edge.detect gives FaceDetectorYN
FETCH = "`emotion-edge models fetch` downloads the official file"


class YuNetRunner(Protocol):
    """Runs YuNet on one padded NCHW blob and returns its twelve outputs by name."""

    backend: str
    reason: str

    def __call__(self, blob: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]: ...

    def close(self) -> None: ...


class OnnxRuntimeYuNet:
    """YuNet in an ONNX Runtime session with the options every session of the device has."""

    backend = "onnxruntime"

    def __init__(self, model_path: Path, threads: int = 0) -> None:
        try:
            ort = onnxruntime()  # telemetry off
        except ImportError as exc:
            raise DetectorError(
                f"detector.kind = 'yunet-onnxruntime' needs ONNX Runtime: pip install onnxruntime ({exc})"
            ) from exc
        try:
            self.session = ort.InferenceSession(
                str(model_path), session_options(ort, threads), providers=default_providers(ort)
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise DetectorError(
                f"detector.model {model_path}: ONNX Runtime cannot load it ({exc}); {FETCH}, or set detector.model "
                "to a good copy"
            ) from exc
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = {o.name for o in self.session.get_outputs()}
        if inputs != [INPUT_NAME] or not set(OUTPUT_NAMES) <= outputs:
            raise DetectorError(
                f"detector.model {model_path} is not the YuNet face detector: its inputs are {inputs} and it lacks "
                f"the outputs {sorted(set(OUTPUT_NAMES) - outputs)}; {FETCH}"
            )
        self.reason = f"ONNX Runtime {ort.__version__} ({', '.join(self.session.get_providers())})"

    def __call__(self, blob: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
        values = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: blob})
        return dict(zip(OUTPUT_NAMES, values))

    def close(self) -> None:
        self.__dict__.pop("session", None)


class YuNetNetDetector:
    """YuNet run by a ``YuNetRunner`` on a frame downscaled so its longer side is ``max_side``,
    decoded as ``FaceDetectorYN`` decodes it: the same faces, on another backend."""

    def __init__(
        self,
        runner: YuNetRunner,
        path: Path,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        max_side: int = 320,
        min_face: int = 24,
        max_faces: int = 8,
        reason: str = "",
    ) -> None:
        self.runner = runner
        self.path = path
        self.name = f"yunet-{runner.backend}"
        self.backend = runner.backend
        self.reason = reason or runner.reason
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side
        self.min_face = min_face
        self.max_faces = max_faces
        # A file that loads may still not be YuNet: one detection on a blank image finds out before
        # the camera opens (as edge.detect.YuNetDetector does).
        try:
            self.raw(np.zeros((max_side, max_side, 3), np.uint8))
        except Exception as exc:
            runner.close()
            raise DetectorError(
                f"YuNet {path} on {runner.reason} loads but cannot detect ({type(exc).__name__}: {exc}); "
                f"if the file is damaged, {FETCH}; else use detector.kind = 'yunet' (OpenCV)"
            ) from exc

    def raw(self, image: Frame) -> npt.NDArray[np.float32]:
        """N x 15 rows, as ``FaceDetectorYN.detect`` gives them, for an image the size the net sees."""
        h, w = image.shape[:2]
        pad_w, pad_h = padded_size(w, h)
        outputs = self.runner(to_blob(image, pad_w, pad_h))
        return decode(outputs, pad_w, pad_h, self.score_threshold, self.nms_threshold, TOP_K)

    def detect(self, frame: Frame) -> list[Face]:
        small, scale = downscaled(frame, self.max_side)
        return faces_from_rows(self.raw(as_bgr(small)), scale, self.min_face, self.max_faces)

    def close(self) -> None:
        self.runner.close()


@dataclass(frozen=True)
class DetectorEngine:
    """Where ``yunet-tensorrt`` and ``yunet-auto`` keep the detector's engine and whether a missing
    or stale one is built on start (the classifier's ``model.engine_dir`` and ``model.rebuild_engine``)."""

    engine_dir: Path | None = None
    rebuild: bool = True
    while_building: Callable[[Path], AbstractContextManager[object]] | None = None


def load_yunet_net(
    kind: str,
    model: Path,
    score_threshold: float,
    nms_threshold: float,
    max_side: int,
    min_face: int,
    max_faces: int,
    threads: int = 0,
    engine: DetectorEngine | None = None,
) -> Detector:
    """The detector for ``yunet-onnxruntime``, ``yunet-tensorrt`` or ``yunet-auto`` (see the module)."""
    if not model.is_file():
        raise DetectorError(
            f"YuNet model not found at {model}: run `emotion-edge models fetch` (online) or copy "
            "face_detection_yunet.onnx there and set detector.model in the configuration"
        )
    settings = (score_threshold, nms_threshold, max_side, min_face, max_faces)
    if kind == "yunet-onnxruntime":
        return YuNetNetDetector(OnnxRuntimeYuNet(model, threads), model, *settings)
    from edge.tensorrt.support import probe

    support = probe()
    if support.reason is None:
        try:
            return _tensorrt_detector(model, settings, engine or DetectorEngine())
        except Exception as exc:  # any: EngineMismatch, EngineBuildError, pycuda's Error, OSError, ...
            from edge.classify import _describe_failure  # the classifier's words for the same failures

            why, fix = _describe_failure(exc)
            if kind == "yunet-tensorrt":
                raise DetectorError(f"detector.kind = 'yunet-tensorrt': {why}; {fix}") from exc
            log.warning("detector yunet-auto: TensorRT failed (%s); using OpenCV's FaceDetectorYN. Fix: %s", why, fix)
            reason = f"TensorRT failed: {why}"
    elif kind == "yunet-tensorrt":
        raise DetectorError(
            f"detector.kind = 'yunet-tensorrt' cannot run here: {support.reason}; "
            + (f"{support.fix}; " if support.fix else "")
            + "or use detector.kind = 'yunet' (OpenCV, the CPU default) or 'yunet-auto'"
        )
    else:
        level = logging.WARNING if support.installed else logging.INFO
        log.log(level, "detector yunet-auto: TensorRT not used (%s); using OpenCV's FaceDetectorYN", support.reason)
        reason = f"TensorRT not used: {support.reason}" if support.installed else "TensorRT is not installed"
    detector = YuNetDetector(model, *settings)
    detector.reason = f"{reason}; {detector.reason}"
    return detector


def _tensorrt_detector(
    model: Path, settings: tuple[float, float, int, int, int], engine: DetectorEngine
) -> YuNetNetDetector:
    from edge.tensorrt.yunet import TensorRTYuNet, ensure_detector_engine

    max_side = int(settings[2])
    path, precision = ensure_detector_engine(model, max_side, engine.engine_dir, engine.rebuild, engine.while_building)
    runner = TensorRTYuNet(path, max_side)
    log.info("detector backend: %s (%s)", runner.reason, precision)
    return YuNetNetDetector(runner, model, *settings)


@dataclass(frozen=True)
class BackendPlan:
    """Which backend a detector kind runs on here and why, found without loading it (for doctor):
    ``backend`` is opencv, onnxruntime or tensorrt, or empty where the kind cannot start here."""

    backend: str
    reason: str
    fix: str = ""


def plan_backend(kind: str) -> BackendPlan:
    if kind == "haar":
        return BackendPlan("opencv", "OpenCV's Haar cascade on the CPU")
    if kind == "yunet":
        return BackendPlan(
            "opencv", "OpenCV's FaceDetectorYN on the CPU (yunet-auto puts YuNet on TensorRT where it runs)"
        )
    if kind == "yunet-onnxruntime":
        try:
            ort = onnxruntime()
        except ImportError as exc:
            return BackendPlan("", f"ONNX Runtime is not installed ({exc})", "pip install onnxruntime")
        return BackendPlan("onnxruntime", f"ONNX Runtime {ort.__version__} ({', '.join(default_providers(ort))})")
    from edge.tensorrt.support import probe

    support = probe()
    if support.reason is None:
        return BackendPlan(
            "tensorrt",
            "TensorRT, pycuda and a GPU are usable: YuNet runs on its engine, built on the first start when missing "
            "(minutes) and cached beside the model or in model.engine_dir",
        )
    if kind == "yunet-tensorrt":
        return BackendPlan(
            "", f"TensorRT cannot run here: {support.reason}", support.fix or "use detector.kind = 'yunet-auto'"
        )
    return BackendPlan("opencv", f"TensorRT not used ({support.reason}): OpenCV's FaceDetectorYN on the CPU")
