"""One frame's work: motion gate, detect, align, classify (one batch), track, smooth; with per-stage times.

Paying only for what changed (``Cadence``): the detector runs every ``detector.interval`` frames (or
ten times a second at ``auto``, or at ``detector.fps``: at half that while every face in view is
still and its label clear, with nothing else moving), and not at all while the motion gate sees
nothing move and no face is tracked; between detections the tracker carries each face's box; with no
face tracked the gate itself looks at every other frame (``EMPTY_ROOM_GATE_HZ``). Each face is
classified at most ``model.max_hz`` times a second (a still face whose label is clear at half that),
all due faces in one batch; a new face is classified on the frame it is found and a face whose box
moved or grew a lot at once; between classifications the smoother is fed the face's last
probabilities, so its average moves at the same pace per frame as before (DeepStream's detector
``interval`` and ``secondary-reinfer-interval``, Frigate's motion gate).
With ``interval = 1`` and ``max_hz = 0`` every frame pays for everything, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from edge import paths
from edge.align import crop_faces
from edge.classify import Classifier, EngineOptions, load_classifier
from edge.config import AUTO_CLASSIFY_HZ, AUTO_DETECT_HZ, MAIN_FACE_MARGIN, DeviceConfig
from edge.contract import CropPolicy
from edge.detect import Detector, Face, create_detector
from edge.jpeg_frame import Picture, pixels
from edge.motion import MotionGate, face_signature, look_change, small_grey
from edge.results import FaceResult, largest_face
from edge.smoothing import EmotionSmoother, Probs
from edge.tracking import IouTracker, carried, iou

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
    """Milliseconds spent in each stage of one frame, and what ran: the detector or not (and if
    not, whether the motion gate kept it from running), and how many faces were classified."""

    detect: float = 0.0
    align: float = 0.0
    infer: float = 0.0
    track: float = 0.0
    motion: float = 0.0
    detected: bool = True
    gated: bool = False
    classified: int = 0
    looked: bool = True  # the motion gate looked at this frame (in an empty room it skips every other one)


# A face whose box overlaps the box it was last classified in by less than this moved or grew a lot
# (a turn, a step closer, another person in its place): it is classified again at once.
RECLASSIFY_IOU = 0.7
# A face whose look (its box in the gate's small grey copy) changed by more than this many grey
# levels on average since it was last classified is looked for and classified again at once: a
# drifting face changes by under 12, another face in its place by over 24 (the bench clips).
RECLASSIFY_LOOK = 18.0
# A face whose smoothed emotion leads the runner-up by less than this is near a change of label
# (the smoother's hysteresis is 0.1 by default): it is classified at every detection until it is
# clear, since a sampled average would tip over on other frames than the every-frame one. (Classified
# on every frame from its carried box instead, it agreed less with the every-frame pipeline on two
# of three other 1-face and 4-face bench clips, and cost a fifth more classifications.)
UNSURE_MARGIN = 0.1
# A face whose smoothed emotion leads the runner-up by at least this, and whose box still overlaps
# the one it was last classified in by CLEAR_STILL_IOU, is clear and still: no sample's worth of
# jitter tips it, so it is classified at half of ``model.max_hz`` (a change of look, a jump or a new
# face still classifies it at once). On the bench's 1- and 4-face clips this took a quarter of the
# classifications away (1.47 to 1.12 a frame with four faces) with the main emotion agreeing as
# often, within a point either way (one held-out 4-face clip, 4#3, fell from 91.3 % to 81.7 %, its
# faces' own emotions agreeing as before: README). Faces that walk keep the full rate: without the
# stillness condition the INT8 model's main emotion on the moving clip fell from 99.3 % to 94.7 %.
CLEAR_MARGIN = 0.3
CLEAR_STILL_IOU = 0.9
# A period is due a little early, so camera jitter does not push every other one a frame late.
EARLY = 0.9
# With no face tracked the motion gate looks this often (every other frame of a 30 fps camera): the
# JPEG decode of its small grey copy is most of what an empty room costs, and someone who walks in
# is found at most one frame later (the first emotion target is six frames).
EMPTY_ROOM_GATE_HZ = 15.0


@dataclass(frozen=True)
class Cadence:
    """How often each stage runs. ``detect_every`` frames, or (when 0) every ``detect_period_s``
    seconds; ``classify_period_s`` per face (0: every frame); ``gate`` None: no motion gate;
    ``recheck_s``: with the gate, the detector still runs this often (0: never) so a still face
    present at start or missed once is found."""

    detect_every: int = 1
    detect_period_s: float = 0.0
    classify_period_s: float = 0.0
    gate: MotionGate | None = None
    recheck_s: float = 0.0

    @property
    def every_frame(self) -> bool:
        return self.detect_every == 1 and self.classify_period_s == 0 and self.gate is None

    def describe(self) -> str:
        detect = f"every {self.detect_every} frame(s)" if self.detect_every else f"at {1 / self.detect_period_s:g}/s"
        classify = f"at most {1 / self.classify_period_s:g}/s per face" if self.classify_period_s else "every frame"
        gate = "motion gate on" if self.gate is not None else "no motion gate"
        return f"detection {detect}, classification {classify}, {gate}"


@dataclass
class _Classified:
    probs: Probs
    box: tuple[float, float, float, float]
    at: float
    look: npt.NDArray[np.float32] | None = None


@dataclass
class _State:
    frames_since_detect: int = 0
    last_detect_at: float | None = None
    last_gate_at: float | None = None
    look_again: bool = False  # the latest detection missed a tracked face: detect on the next frame
    looked_again: bool = False  # a face is missing since before the latest detection: looked for once
    stirred: bool = False  # something moved beside the tracked faces since the latest detection
    faces: dict[int, Face] = field(default_factory=dict)  # each tracked face as last detected
    classified: dict[int, _Classified] = field(default_factory=dict)
    margins: dict[int, float] = field(default_factory=dict)  # each face's smoothed label's lead
    main_id: int | None = None  # the main face of the latest frame


class FacePipeline:
    def __init__(
        self,
        detector: Detector,
        classifier: Classifier,
        policy: CropPolicy,
        tracker: IouTracker,
        smoother: EmotionSmoother,
        cadence: Cadence | None = None,
        main_face_margin: float = MAIN_FACE_MARGIN,
    ) -> None:
        """``cadence`` None: every frame pays for everything (detection, every face classified);
        ``main_face_margin``: see ``main_face_id``."""
        self.detector = detector
        self.classifier = classifier
        self.policy = policy
        self.tracker = tracker
        self.smoother = smoother
        self.cadence = cadence or Cadence()
        self.main_face_margin = main_face_margin
        c = self.cadence
        # Whether a settled scene may be detected at half the rate (``_settled``): a time-based
        # detection rate, per-face classification rates, the gate to vouch that nothing else moved,
        # and twice the gap within the tracker's grace period (so no face loses its id).
        within_grace = 2 * c.detect_period_s <= tracker.grace_s
        self._may_settle = bool(not c.detect_every and c.classify_period_s and c.gate is not None and within_grace)
        self._state = _State()
        self.classes = list(classifier.info.classes)
        path = getattr(detector, "path", None)
        self.detector_what = f"the face detector ({detector.name}{f', {path}' if path else ''})"
        model = getattr(classifier, "path", None) or getattr(classifier.info, "source", "")
        self.classifier_what = f"the classifier ({classifier.backend}{f', {model}' if model else ''})"

    def process(self, image: Picture, now: float) -> tuple[list[FaceResult], StageTimes]:
        """The tracked, smoothed faces of one frame; ``now`` (seconds) drives the tracker's grace
        period and the cadence. A JPEG frame is decoded only when the detector or a crop needs it
        (a ``FrameDecodeError`` when it cannot be)."""
        cadence, state = self.cadence, self._state
        if self._empty_room_rest(now):
            state.frames_since_detect, state.main_id = state.frames_since_detect + 1, None
            return [], StageTimes(detected=False, gated=True, looked=False)
        times = StageTimes()
        t0 = time.perf_counter()
        moved = cadence.gate.update(image) if cadence.gate is not None else True
        state.last_gate_at = now
        grey = None
        if cadence.classify_period_s:
            grey = cadence.gate.grey if cadence.gate is not None else small_grey(image)
        t1 = time.perf_counter()
        width = image.shape[1]
        state.frames_since_detect += 1
        # Each tracked face carried to this frame: what a frame without a detection shows.
        carried_boxes = self.tracker.visible(now) if self.tracker.tracks else []
        if self._may_settle and cadence.gate is not None and self.tracker.tracks and not state.stirred:
            # Anything that moved beside the faces since the detection (a newcomer, a gesture) keeps
            # the detector at its rate: a newcomer the gate did not call it for is found at the period.
            around = [box for _, box in carried_boxes] + [t.box for t in self.tracker.tracks.values()]
            state.stirred = cadence.gate.moved_elsewhere(around, width, body=False)
        times.detected, times.gated = self._detect_due(now, moved, carried_boxes)
        visible = [] if times.detected else carried_boxes
        carried_looks: list[npt.NDArray[np.float32] | None] = [None] * len(visible)
        if not times.detected and grey is not None:
            carried_looks = [face_signature(grey, box, width) for _, box in visible]
            # A tracked face changed: find it again before classifying it.
            times.detected = self._looks_changed(visible, carried_looks)
        if not times.detected and cadence.gate is not None and self.tracker.tracks:
            # Something moved away from every tracked face (someone came into view): look now,
            # not at the next period. (With no face tracked the gate's own answer decides.)
            # A face that just left is excluded too: its going is motion where it was.
            boxes = [t.box for t in self.tracker.tracks.values()] + [box for _, box in visible]
            times.detected = cadence.gate.moved_elsewhere(boxes, width)
        if times.detected:
            frame = pixels(image)
            try:
                found = self.detector.detect(frame)
            except Exception as exc:
                raise FrameError("detector", self.detector_what, DETECTOR_FIX, exc) from exc
            state.frames_since_detect, state.last_detect_at, state.stirred = 0, now, False
        t2 = time.perf_counter()
        if times.detected:
            ids = self.tracker.update([f.box for f in found], now)
            # A tracked face this detection missed (a blink of the detector, a turn) is looked for
            # once more on the next frame: held until the next period, one miss would last that
            # long. A face missed twice has likely left, and waits for the period like the rest.
            missed = any(not t.seen for t in self.tracker.tracks.values())
            state.look_again = missed and not state.looked_again
            state.looked_again = missed
            active = self.tracker.active_ids
            self.smoother.retain(active)
            # A face missed at this detection but still within its grace period keeps its last sighting.
            state.faces = {**{i: f for i, f in state.faces.items() if i in active}, **dict(zip(ids, found))}
            state.classified = {i: c for i, c in state.classified.items() if i in active}
            state.margins = {i: m for i, m in state.margins.items() if i in active}
            faces = found
            looks = [face_signature(grey, f.box, width) if grey is not None else None for f in faces]
        else:
            ids = [i for i, _ in visible]
            faces = [carried(state.faces[i], box) for i, box in visible]
            looks = carried_looks
        t3 = time.perf_counter()
        due = [
            k for k, (i, f) in enumerate(zip(ids, faces)) if self._classify_due(i, f.box, now, looks[k], times.detected)
        ]
        run = bool(due) or cadence.every_frame
        crops = crop_faces(pixels(image), [faces[k] for k in due], self.policy) if run else None
        t4 = time.perf_counter()
        if crops is not None:
            try:
                probs = self.classifier.predict(crops)
            except Exception as exc:
                raise FrameError("classifier", self.classifier_what, CLASSIFIER_FIX, exc) from exc
            for k, p in zip(due, probs):
                state.classified[ids[k]] = _Classified(p, faces[k].box, now, looks[k])
        t5 = time.perf_counter()
        height, width = image.shape[:2]
        results = []
        for face, face_id in zip(faces, ids):
            p = state.classified[face_id].probs
            smoothed = self.smoother.update(face_id, p)
            if cadence.classify_period_s:
                ranked = np.sort(smoothed.probs)
                top = float(smoothed.probs[self.classes.index(smoothed.label)])
                runner_up = float(ranked[-2]) if top >= float(ranked[-1]) else float(ranked[-1])
                state.margins[face_id] = top - runner_up
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
        state.main_id = main_face_id(results, state.main_id, times.detected, self.main_face_margin)
        t6 = time.perf_counter()
        times.motion = (t1 - t0) * 1e3
        times.detect = (t2 - t1) * 1e3
        times.align = (t4 - t3) * 1e3
        times.infer = (t5 - t4) * 1e3
        times.track = ((t3 - t2) + (t6 - t5)) * 1e3
        times.classified = len(due)
        return results, times

    @property
    def main_id(self) -> int | None:
        """The track id of the latest frame's main face (the one the ``emotion`` topic follows)."""
        return self._state.main_id

    def _empty_room_rest(self, now: float) -> bool:
        """Whether this frame is skipped whole: the gate is on, no face is tracked, and it looked
        at a frame less than an ``EMPTY_ROOM_GATE_HZ`` period ago (and a detection ran once)."""
        state = self._state
        if self.cadence.gate is None or self.tracker.tracks or state.last_detect_at is None:
            return False
        return state.last_gate_at is not None and now - state.last_gate_at < EARLY / EMPTY_ROOM_GATE_HZ

    def _detect_due(
        self, now: float, moved: bool, carried: list[tuple[int, tuple[float, float, float, float]]]
    ) -> tuple[bool, bool]:
        """(run the detector, the motion gate kept it from running) for this frame."""
        cadence, state = self.cadence, self._state
        last = state.last_detect_at
        if last is None:
            return True, False
        if cadence.detect_every:
            due = state.frames_since_detect >= cadence.detect_every
        else:
            period = cadence.detect_period_s
            due = now - last >= period * EARLY
            # Faces that are all clear and still are classified at half rate: the detection that crops
            # them waits as long.
            if due and self._may_settle and now - last < 2 * period * EARLY:
                due = not self._settled(carried)
        due = due or state.look_again
        if not due or moved or self.tracker.tracks:
            return due, False
        # Nothing moved and no face is tracked: skip, but look now and then for a face that sat still.
        if cadence.recheck_s and now - last >= cadence.recheck_s:
            return True, False
        return False, True

    def _settled(self, carried: list[tuple[int, tuple[float, float, float, float]]]) -> bool:
        """Whether every tracked face is in view, clear and still (``CLEAR_MARGIN``, and its box
        ``carried`` to this frame overlaps the one it was last classified in by ``CLEAR_STILL_IOU``),
        with nothing moving beside them since the latest detection (the motion gate's word, so a
        newcomer the gate did not call the detector for waits no longer than before). A change of
        look, a missed face or something moving away from the faces still calls the detector at once."""
        state = self._state
        if not self.tracker.tracks or state.stirred or len(carried) != len(self.tracker.tracks):
            return False
        return all(
            (last := state.classified.get(face_id)) is not None
            and clear_and_still(state.margins.get(face_id), iou(last.box, box))
            for face_id, box in carried
        )

    def _classify_due(
        self,
        face_id: int,
        box: tuple[float, float, float, float],
        now: float,
        look: npt.NDArray[np.float32] | None,
        detected: bool,
    ) -> bool:
        last = self._state.classified.get(face_id)
        period = self.cadence.classify_period_s
        if last is None or period == 0:
            return True
        overlap = iou(last.box, box)
        if overlap < RECLASSIFY_IOU:
            return True
        margin = self._state.margins.get(face_id)  # None until the face's label has been smoothed once
        if clear_and_still(margin, overlap):
            period *= 2
        # Due faces wait for the next detection (up to one more period): a crop from the detector's
        # own box and landmarks is the one the every-frame pipeline would classify.
        if now - last.at >= period * (EARLY if detected else 2):
            return True
        if detected and margin is not None and margin < UNSURE_MARGIN:
            return True
        return look is not None and last.look is not None and look_change(look, last.look) > RECLASSIFY_LOOK

    def _looks_changed(
        self, visible: list[tuple[int, tuple[float, float, float, float]]], looks: list[npt.NDArray[np.float32] | None]
    ) -> bool:
        """Whether a face carried to this frame (``looks``: each one's signature there) looks
        changed since it was classified."""
        for (face_id, _), look in zip(visible, looks):
            last = self._state.classified.get(face_id)
            before = None if last is None else last.look
            if look is not None and before is not None and look_change(look, before) > RECLASSIFY_LOOK:
                return True
        return False


def clear_and_still(margin: float | None, overlap: float) -> bool:
    """Whether a face whose smoothed label leads by ``margin`` (None: not smoothed yet) and whose box
    overlaps the one it was last classified in by ``overlap`` is clear and still (``CLEAR_MARGIN``,
    ``CLEAR_STILL_IOU``)."""
    return margin is not None and margin >= CLEAR_MARGIN and overlap >= CLEAR_STILL_IOU


def main_face_id(
    faces: Sequence[FaceResult], previous: int | None, measured: bool, margin: float = MAIN_FACE_MARGIN
) -> int | None:
    """The main face: the one chosen before while it is in view, until a detection (``measured``)
    finds another face larger by ``margin`` of its area (``tracker.main_face_margin``); without it
    (none chosen, or it left), the largest. Between detections nothing changes it: a carried box's
    size is the tracker's extrapolation."""
    current = next((f for f in faces if f.face_id == previous), None)
    if current is not None and not measured:
        return previous
    main = largest_face(faces)
    if main is None:
        return None
    if current is not None and main.area <= current.area * (1 + margin):
        return previous
    return main.face_id


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


def build_pipeline(
    config: DeviceConfig, while_building: BuildWatch | None = None, classifier: Classifier | None = None
) -> FacePipeline:
    """Load the detector and the classifier once; every frame reuses them. ``while_building`` is
    entered around a TensorRT engine build (the service tells systemd the start is progressing).
    ``classifier``: one already loaded, shared with other cameras' pipelines (``edge.cameras``)."""
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
    if classifier is None:
        classifier = load_classifier(m.path, m.backend, threads=m.threads, engine=engine)
    policy = crop_policy(classifier.info.crop, m.crop_margin, m.crop_align)
    if policy != classifier.info.crop:
        log.info("crop policy %s overrides the model's %s", policy, classifier.info.crop)
    if d.kind == "haar" and policy.template is not None:
        log.warning(
            "the model was trained on five-point aligned crops but the haar detector gives no landmarks: faces "
            "are cropped by their box, which the model reads less well; use detector.kind = 'yunet'"
        )
    elif d.kind == "haar" and policy.align:
        log.info("the haar detector gives no landmarks: crops are not rotated upright")
    info = classifier.info
    log.info(
        "model %s %s (%d classes) on %s; detector %s at %d px", info.name, info.version, len(info.classes),
        classifier.backend, detector.name, d.max_side,
    )  # fmt: skip
    cadence = make_cadence(config)
    log.info("cadence: %s", cadence.describe())
    return FacePipeline(
        detector,
        classifier,
        policy,
        # Boxes are carried by velocity between detections, chosen by `emotion-edge bench --compare`
        # (README): with faces that move a held box falls behind, the face's look in it changes and
        # the detector is called early (0.47 detections a frame against 0.42 by velocity);
        # on the near-still bench clips the two cost the same and agree alike.
        IouTracker(config.tracker.iou_threshold, config.tracker.grace_s, carry_velocity=True),
        EmotionSmoother(info.classes, config.smoother.alpha, config.smoother.hysteresis),
        cadence,
        config.tracker.main_face_margin,
    )


def make_cadence(config: DeviceConfig) -> Cadence:
    """The configuration's ``auto`` made concrete: detection and classification ten times a second
    and the motion gate on; ``detector.interval = 1`` with ``model.max_hz = 0`` is every frame."""
    d, m, g = config.detector, config.model, config.motion
    if d.fps is not None:
        every, period = 0, 1 / d.fps
    elif d.interval == "auto":
        every, period = 0, 1 / AUTO_DETECT_HZ
    else:
        every, period = d.interval, 0.0
    hz = AUTO_CLASSIFY_HZ if m.max_hz == "auto" else m.max_hz
    gated = g.enabled if g.enabled != "auto" else every != 1
    gate = MotionGate(g.threshold, g.min_area, g.alpha) if gated else None
    return Cadence(every, period, 1 / hz if hz else 0.0, gate, g.recheck_s if gated else 0.0)
