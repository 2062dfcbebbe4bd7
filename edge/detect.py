"""Face detectors behind one interface: ``detect(frame) -> list[Face]``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

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


class YuNetDetector:
    """OpenCV's ``FaceDetectorYN`` run on a frame downscaled so its longer side is ``max_side``."""

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
        self._net = cv2.FaceDetectorYN.create(str(path), "", (max_side, max_side), score_threshold, nms_threshold, 5000)
        self.max_side = max_side
        self.min_face = min_face
        self.max_faces = max_faces
        self._size: tuple[int, int] | None = None

    def detect(self, frame: Frame) -> list[Face]:
        h, w = frame.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = (
            frame
            if scale == 1.0
            else cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        if small.ndim == 2:
            small = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
        size = (small.shape[1], small.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, raw = self._net.detect(small)
        if raw is None:
            return []
        faces = []
        for row in raw:
            x, y, bw, bh = (float(v) / scale for v in row[:4])
            if min(bw, bh) < self.min_face:
                continue
            landmarks = (row[4:14].reshape(5, 2) / scale).astype(np.float32)
            faces.append(Face((x, y, bw, bh), float(row[14]), landmarks))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces[: self.max_faces]
