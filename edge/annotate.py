"""Drawing results onto frames, and the two places they go: a window (--show) and a video file (--record)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import cv2

from edge.detect import Frame
from edge.results import FrameResult

log = logging.getLogger(__name__)

# BGR colours, one per FER2013 class; any other class name gets the fallback.
COLOURS = {
    "angry": (40, 40, 220),
    "disgust": (40, 140, 40),
    "fear": (160, 60, 160),
    "happy": (40, 200, 240),
    "neutral": (200, 200, 200),
    "sad": (200, 120, 40),
    "surprise": (40, 160, 255),
}
FALLBACK = (255, 255, 255)


class DisplayError(RuntimeError):
    """A window or a recording cannot be opened; the message says why and what to do."""


def draw(image: Frame, result: FrameResult, fps: float | None = None) -> Frame:
    """Boxes, ids, emotion and score drawn onto ``image`` in place (it is returned for chaining)."""
    for face in result.faces:
        x, y, w, h = face.box
        colour = COLOURS.get(face.emotion, FALLBACK)
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, 2)
        label = f"#{face.face_id} {face.emotion} {face.score:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        top = max(0, y - th - base - 4)
        # Above the box, from its left edge; moved left (never past the frame's own left edge) when
        # the box is at the right edge, so the label is read whole.
        left = max(0, min(x, image.shape[1] - 1 - (tw + 4)))
        cv2.rectangle(image, (left, top), (left + tw + 4, top + th + base + 4), colour, -1)
        cv2.putText(image, label, (left + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if fps:  # unknown (0) until two frames are done
        cv2.putText(image, f"{fps:.1f} fps", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 0), 2, cv2.LINE_AA)
    return image


class Window:
    """An OpenCV window; ``show`` returns False once the user pressed q or Esc."""

    name = "emotion-edge"

    def __init__(self) -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise DisplayError("--show needs a display (DISPLAY is not set); use --record out.mp4 on a headless device")
        try:
            cv2.namedWindow(self.name, cv2.WINDOW_AUTOSIZE)
        except cv2.error as exc:
            raise DisplayError(
                f"--show needs an OpenCV with GUI support: this one ({cv2.__version__}) cannot open a window; "
                "install opencv-python instead of opencv-python-headless, or use --record out.mp4"
            ) from exc

    def show(self, image: Frame) -> bool:
        cv2.imshow(self.name, image)
        return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    def close(self) -> None:
        cv2.destroyWindow(self.name)


class Recorder:
    """Writes frames to a video file, opened at the first frame (its size is not known before)."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        if not self.path.parent.is_dir():
            raise DisplayError(f"--record {self.path}: directory {self.path.parent} does not exist")

    def write(self, image: Frame) -> None:
        if self._writer is None:
            fourcc = "MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"
            h, w = image.shape[:2]
            writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*fourcc), self.fps, (w, h))
            if not writer.isOpened():
                raise DisplayError(f"--record {self.path}: OpenCV cannot write this file; use .mp4 or .avi")
            self._writer = writer
            log.info("recording to %s (%dx%d at %.1f fps)", self.path, w, h, self.fps)
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("recorded %d frames to %s", self.frames, self.path)
