"""One frame's work: detect, align, classify (one batch), track, smooth; with per-stage times."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge import paths
from edge.align import crop_faces
from edge.classify import Classifier, EngineOptions, load_classifier
from edge.config import DeviceConfig
from edge.contract import CropPolicy
from edge.detect import Detector, Frame, create_detector
from edge.results import FaceResult
from edge.smoothing import EmotionSmoother
from edge.tracking import IouTracker

if TYPE_CHECKING:
    from edge.tensorrt.engine_manager import BuildWatch

log = logging.getLogger(__name__)

DETECTOR_FIX = (
    "is detector.model the YuNet face detector (face_detection_yunet_2023mar.onnx)? "
    "`emotion-edge models fetch` downloads it (SHA-256 checked); `emotion-edge doctor` checks it"
)
CLASSIFIER_FIX = (
    "is model.path an emotion model exported by `emotion-edge export onnx` (the shipped one is "
    "models/emotion-edge-fp32.onnx)? `emotion-edge doctor` checks it"
)


class FrameError(RuntimeError):
    """One frame failed in the detector or the classifier: says which, with its file, and the fix
    for when it keeps failing (a wrong or broken model file)."""

    def __init__(self, stage: str, what: str, fix: str, cause: BaseException) -> None:
        self.stage, self.what, self.fix = stage, what, fix
        self.cause = f"{type(cause).__name__}: {' '.join(str(cause).split())[:300]}"
        super().__init__(f"{what} failed ({self.cause})")


@dataclass
class StageTimes:
    """Milliseconds spent in each stage of one frame."""

    detect: float = 0.0
    align: float = 0.0
    infer: float = 0.0
    track: float = 0.0


class FacePipeline:
    def __init__(
        self,
        detector: Detector,
        classifier: Classifier,
        policy: CropPolicy,
        tracker: IouTracker,
        smoother: EmotionSmoother,
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.policy = policy
        self.tracker = tracker
        self.smoother = smoother
        self.classes = list(classifier.info.classes)
        path = getattr(detector, "path", None)
        self.detector_what = f"the face detector ({detector.name}{f', {path}' if path else ''})"
        model = getattr(classifier, "path", None) or getattr(classifier.info, "source", "")
        self.classifier_what = f"the classifier ({classifier.backend}{f', {model}' if model else ''})"

    def process(self, image: Frame, now: float) -> tuple[list[FaceResult], StageTimes]:
        """The tracked, smoothed faces of one frame; ``now`` (seconds) drives the tracker's grace period."""
        t0 = time.perf_counter()
        try:
            faces = self.detector.detect(image)
        except Exception as exc:
            raise FrameError("detector", self.detector_what, DETECTOR_FIX, exc) from exc
        t1 = time.perf_counter()
        crops = crop_faces(image, faces, self.policy)
        t2 = time.perf_counter()
        try:
            probs = self.classifier.predict(crops)
        except Exception as exc:
            raise FrameError("classifier", self.classifier_what, CLASSIFIER_FIX, exc) from exc
        t3 = time.perf_counter()
        ids = self.tracker.update([f.box for f in faces], now)
        self.smoother.retain(self.tracker.active_ids)
        height, width = image.shape[:2]
        results = []
        for face, face_id, p in zip(faces, ids, probs):
            smoothed = self.smoother.update(face_id, p)
            results.append(
                FaceResult(
                    face_id=face_id,
                    box=_frame_box(face.box, width, height),
                    emotion=smoothed.label,
                    score=round(smoothed.score, 4),
                    scores={c: round(float(v), 4) for c, v in zip(self.classes, smoothed.probs)},
                    raw_scores={c: round(float(v), 4) for c, v in zip(self.classes, p)},
                )
            )
        t4 = time.perf_counter()
        return results, StageTimes(
            detect=(t1 - t0) * 1e3, align=(t2 - t1) * 1e3, infer=(t3 - t2) * 1e3, track=(t4 - t3) * 1e3
        )


def _frame_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """The box in whole pixels, clipped to the frame (detectors may reach past its edge)."""
    x, y, w, h = box
    x0, y0 = int(np.clip(round(x), 0, width)), int(np.clip(round(y), 0, height))
    x1, y1 = int(np.clip(round(x + w), 0, width)), int(np.clip(round(y + h), 0, height))
    return x0, y0, x1 - x0, y1 - y0


def crop_policy(model_policy: CropPolicy, margin: float | None, align: bool | None) -> CropPolicy:
    """The model's crop policy with the configuration's overrides, if any."""
    policy = model_policy
    if margin is not None:
        policy = replace(policy, margin=margin)
    if align is not None:
        policy = replace(policy, align=align)
    return policy


def build_pipeline(config: DeviceConfig, while_building: BuildWatch | None = None) -> FacePipeline:
    """Load the detector and the classifier once; every frame reuses them. ``while_building`` is
    entered around a TensorRT engine build (the service tells systemd the start is progressing)."""
    import cv2

    d, m = config.detector, config.model
    if d.threads:
        cv2.setNumThreads(d.threads)
    from edge.registry import runs_yunet
    from edge.yunet_net import DetectorEngine

    model = d.model
    if runs_yunet(d.kind):
        # Found the way `demo` finds it: the configured file, else models/, else ../shared beside a checkout.
        found = paths.locate_detector(d.model)
        if found is not None and found != d.model:
            log.warning("detector.model %s is not there: using %s", d.model, found)
            model = found
    # YuNet's TensorRT engine is cached where the classifier's is, and rebuilt under the same rule.
    detector_engine = DetectorEngine(Path(m.engine_dir) if m.engine_dir else None, m.rebuild_engine, while_building)
    detector = create_detector(
        d.kind, model, d.max_side, d.score_threshold, d.nms_threshold, d.min_face, d.max_faces,
        threads=d.threads, engine=detector_engine,
    )  # fmt: skip
    log.info("detector %s: %s", detector.name, getattr(detector, "reason", ""))
    engine = EngineOptions(
        Path(m.engine) if m.engine else None,
        Path(m.engine_dir) if m.engine_dir else None,
        m.precision,
        d.max_faces,
        m.rebuild_engine,
        while_building,
    )
    classifier = load_classifier(m.path, m.backend, threads=m.threads, engine=engine)
    policy = crop_policy(classifier.info.crop, m.crop_margin, m.crop_align)
    if policy != classifier.info.crop:
        log.info("crop policy %s overrides the model's %s", policy, classifier.info.crop)
    if d.kind == "haar" and policy.align:
        log.info("the haar detector gives no landmarks: crops are not rotated upright")
    info = classifier.info
    log.info(
        "model %s %s (%d classes) on %s; detector %s at %d px", info.name, info.version, len(info.classes),
        classifier.backend, detector.name, d.max_side,
    )  # fmt: skip
    return FacePipeline(
        detector,
        classifier,
        policy,
        IouTracker(config.tracker.iou_threshold, config.tracker.grace_s),
        EmotionSmoother(info.classes, config.smoother.alpha, config.smoother.hysteresis),
    )
