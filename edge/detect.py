"""Face detectors behind one interface: ``detect(frame) -> list[Face]``.

``yunet`` (OpenCV's FaceDetectorYN: boxes, scores, 5 landmarks) is the default; ``haar`` is the
no-download fallback where the installed OpenCV still has Haar cascades (4.x, not 5.x). The same
YuNet file also runs through the classifier's backends (``yunet-onnxruntime``, ``yunet-tensorrt``,
``yunet-auto``: ``edge.yunet_net``), decoded in numpy as FaceDetectorYN decodes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge import paths
from edge.registry import DETECTORS, unknown_choice

if TYPE_CHECKING:
    from edge.yunet_net import DetectorEngine

Frame = npt.NDArray[np.uint8]


class DetectorError(RuntimeError):
    """A detector cannot be created; the message says which file or feature is missing."""


@dataclass(frozen=True)
class Face:
    """A face in frame pixels: box (x, y, w, h), detector score, and optionally 5 landmarks
    (subject's right eye, left eye, nose tip, right and left mouth corner) as a 5 x 2 array."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: npt.NDArray[np.float32] | None = None

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


class Detector(Protocol):
    name: str

    def detect(self, frame: Frame) -> list[Face]:
        """Faces in frame pixels, largest first, at most the detector's ``max_faces``."""
        ...


def downscaled(frame: Frame, max_side: int) -> tuple[Frame, float]:
    h, w = frame.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return frame, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # a sliver of a frame must not vanish
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8), scale


def as_bgr(image: Frame) -> Frame:
    """A grey image as three equal channels (YuNet takes BGR); a colour one as it is."""
    if image.ndim == 2:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    return image


def faces_from_rows(raw: npt.NDArray[np.float32], scale: float, min_face: int, max_faces: int) -> list[Face]:
    """FaceDetectorYN's N x 15 rows (box, 5 landmarks, score) found on a frame downscaled by
    ``scale``, as faces in frame pixels: the smaller than ``min_face`` dropped, the largest first."""
    faces = []
    for row in raw:
        x, y, bw, bh = (float(v) / scale for v in row[:4])
        if min(bw, bh) < min_face:
            continue
        landmarks = (row[4:14].reshape(5, 2) / scale).astype(np.float32)
        faces.append(Face((x, y, bw, bh), float(row[14]), landmarks))
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces[:max_faces]


class YuNetDetector:
    """OpenCV's ``FaceDetectorYN`` run on a frame downscaled so its longer side is ``max_side``."""

    name = "yunet"
    backend = "opencv"

    def __init__(
        self,
        model_path: str | Path,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        max_side: int = 320,
        min_face: int = 24,
        max_faces: int = 8,
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise DetectorError(
                f"YuNet model not found at {path}: run `emotion-edge models fetch` (online) or copy "
                "face_detection_yunet.onnx there and set detector.model in the configuration"
            )
        if not hasattr(cv2, "FaceDetectorYN"):
            raise DetectorError(f"OpenCV {cv2.__version__} has no FaceDetectorYN: install OpenCV >= 4.8")
        self.path = path
        fix = (
            "`emotion-edge models fetch` downloads the official one (SHA-256 checked) to "
            f"{paths.DETECTOR}; or set detector.model to a good copy"
        )
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(path), "", (max_side, max_side), score_threshold, nms_threshold, 5000
            )
        except cv2.error as exc:
            raise DetectorError(
                f"detector.model {path}: OpenCV cannot load it ({_cv_error(exc)}): the file is truncated, corrupt "
                f"or not an ONNX model; {fix}"
            ) from exc
        # A file that loads may still not be YuNet (the emotion model, say): it would fail on every
        # frame. One detection on a blank image finds out before the camera opens.
        try:
            self._net.setInputSize((max_side, max_side))
            self._net.detect(np.zeros((max_side, max_side, 3), np.uint8))
        except cv2.error as exc:
            raise DetectorError(
                f"detector.model {path} is not the YuNet face detector: it loads but cannot detect "
                f"({_cv_error(exc)}); {fix}"
            ) from exc
        self.max_side = max_side
        self.min_face = min_face
        self.max_faces = max_faces
        self._size: tuple[int, int] | None = (max_side, max_side)
        self.reason = f"OpenCV {cv2.__version__} FaceDetectorYN on the CPU"

    def raw(self, image: Frame) -> npt.NDArray[np.float32]:
        """FaceDetectorYN's N x 15 rows for an image the size the net sees (no downscaling)."""
        size = (image.shape[1], image.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, rows = self._net.detect(image)
        return np.empty((0, 15), np.float32) if rows is None else np.asarray(rows, dtype=np.float32)

    def detect(self, frame: Frame) -> list[Face]:
        small, scale = downscaled(frame, self.max_side)
        return faces_from_rows(self.raw(as_bgr(small)), scale, self.min_face, self.max_faces)


def _cv_error(exc: BaseException) -> str:
    """OpenCV's error in one short line (its messages span lines and name C++ source files)."""
    text = str(getattr(exc, "err", "") or exc)
    return " ".join(" ".join(line.lstrip("> ").split()) for line in text.splitlines() if line.strip())[:200]


# Where OpenCV builds without the pip wheel's ``cv2.data`` (JetPack's, distro packages) keep them.
HAAR_DIRS = (
    "/usr/share/opencv4/haarcascades",
    "/usr/local/share/opencv4/haarcascades",
    "/usr/share/opencv/haarcascades",
)
HAAR_FILE = "haarcascade_frontalface_default.xml"


def find_haar_cascade() -> Path | None:
    data = getattr(cv2, "data", None)
    dirs = ([data.haarcascades] if data is not None and hasattr(data, "haarcascades") else []) + list(HAAR_DIRS)
    for folder in dirs:
        path = Path(folder) / HAAR_FILE
        if path.is_file():
            return path
    return None


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: needs no download, but gives no landmarks (so crops are
    not rotated upright), no calibrated score (every face scores 1.0) and misses more faces than
    YuNet. OpenCV 5 removed it."""

    name = "haar"
    backend = "opencv"
    reason = "OpenCV's Haar cascade on the CPU"

    def __init__(
        self,
        max_side: int = 320,
        min_face: int = 24,
        max_faces: int = 8,
        cascade: str | Path | None = None,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
    ) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise DetectorError(
                f"detector.kind = 'haar' needs OpenCV 4.x, and OpenCV {cv2.__version__} has no Haar cascades "
                "(removed in 5.0): use detector.kind = 'yunet' (`emotion-edge models fetch` downloads its model) "
                "or install opencv-python-headless<5"
            )
        path = Path(cascade) if cascade is not None else find_haar_cascade()
        if path is None or not path.is_file():
            raise DetectorError(
                f"Haar cascade {path or HAAR_FILE} not found (looked in cv2.data and {', '.join(HAAR_DIRS)}): "
                "install OpenCV's data files or use detector.kind = 'yunet'"
            )
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise DetectorError(f"{path}: OpenCV cannot load this Haar cascade")
        self.max_side = max_side
        self.min_face = min_face
        self.max_faces = max_faces
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors

    def detect(self, frame: Frame) -> list[Face]:
        small, scale = downscaled(frame, self.max_side)
        gray = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        gray = cv2.equalizeHist(gray)
        smallest = max(1, round(self.min_face * scale))
        rects = self._cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(smallest, smallest)
        )
        # OpenCV returns an empty tuple, not an empty array, when it finds nothing.
        boxes = np.asarray(rects, dtype=np.float64).reshape(-1, 4).tolist()
        faces = [Face((x / scale, y / scale, w / scale, h / scale), 1.0) for x, y, w, h in boxes]
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces[: self.max_faces]


def create_detector(
    kind: str,
    model: str | Path = paths.DETECTOR,
    max_side: int = 320,
    score_threshold: float = 0.7,
    nms_threshold: float = 0.3,
    min_face: int = 24,
    max_faces: int = 8,
    threads: int = 0,
    engine: DetectorEngine | None = None,
) -> Detector:
    """The detector of this ``kind`` (edge.registry.DETECTORS). ``threads``: ONNX Runtime's intra-op
    threads for ``yunet-onnxruntime`` (0: all cores); ``engine``: where ``yunet-tensorrt`` and
    ``yunet-auto`` keep their engine and whether they may build it."""

    def net(kind: str) -> Callable[[], Detector]:
        def make() -> Detector:
            from edge.yunet_net import load_yunet_net

            settings = (score_threshold, nms_threshold, max_side, min_face, max_faces)
            return load_yunet_net(kind, Path(model), *settings, threads=threads, engine=engine)

        return make

    factories: dict[str, Callable[[], Detector]] = {
        "yunet": lambda: YuNetDetector(model, score_threshold, nms_threshold, max_side, min_face, max_faces),
        "haar": lambda: HaarDetector(max_side, min_face, max_faces),
        "yunet-onnxruntime": net("yunet-onnxruntime"),
        "yunet-tensorrt": net("yunet-tensorrt"),
        "yunet-auto": net("yunet-auto"),
    }
    assert set(factories) == set(DETECTORS), "edge.registry.DETECTORS and the factories must name the same kinds"
    if kind not in factories:
        raise DetectorError(unknown_choice("detector.kind", kind, DETECTORS))
    return factories[kind]()
