"""The demo's input: a short clip of real faces, made by the project from scikit-image's own photos.

scikit-image ships two photos of people in its wheel, both free of copyright: ``astronaut``
(Eileen Collins, NASA, public domain) and ``camera`` (a photographer, by Lav Varshney, CC0). The
clip moves them across a plain background like people walking past a camera: one face, then two,
then none (so subscribers see the ``faces: []`` message and the emotion fall back to ``none``),
then a face again, which the tracker gives a new id. Nothing from ``../shared`` is used, and the
clip is made on the machine, never committed. scikit-image is imported only here, lazily: the
device itself does not need it (``pip install 'emotion-edge[demo]'``).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.detect import Frame
from edge.tools.bench_clip import default_cache_dir, paste

log = logging.getLogger(__name__)

CLIP_VERSION = 1  # bump when the recipe changes, so a cached clip is made again
WIDTH, HEIGHT = 640, 480
FPS = 15.0
SECONDS = 12.0
PHOTO_HEIGHT = 300
# Head-and-shoulders crops (x0, y0, x1, y1 in the 512x512 photos), so the faces are a camera's size.
CROPS = {"astronaut": (70, 0, 370, 330), "camera": (90, 30, 390, 340)}
CREDITS = {
    "astronaut": "Eileen Collins, NASA; public domain (scikit-image: skimage.data.astronaut)",
    "camera": "photographer by Lav Varshney; CC0 (scikit-image: skimage.data.camera)",
}


class DemoClipError(RuntimeError):
    """The clip cannot be made here; the message says what to install."""


def default_clip_path(cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / "demo" / f"people-{WIDTH}x{HEIGHT}-v{CLIP_VERSION}.avi"


def load_photos() -> dict[str, Frame]:
    """The two photos as BGR images ``PHOTO_HEIGHT`` pixels high."""
    try:
        from skimage import data
    except ImportError as exc:
        raise DemoClipError(
            "the demo makes its input from scikit-image's photos: pip install 'emotion-edge[demo]' "
            "(or run `make demo`, which installs it)"
        ) from exc
    photos = {}
    for name in CREDITS:
        x0, y0, x1, y1 = CROPS[name]
        image = np.asarray(getattr(data, name)(), dtype=np.uint8)[y0:y1, x0:x1]
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        h, w = bgr.shape[:2]
        size = (round(w * PHOTO_HEIGHT / h), PHOTO_HEIGHT)
        photos[name] = np.asarray(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return photos


@dataclass(frozen=True)
class Appearance:
    """One photo's walk through the clip: where its centre is (or None: out of view) at time t."""

    photo: str
    mirrored: bool
    path: Callable[[float], tuple[float, float] | None]
    scale: Callable[[float], float]


def _ease(t: float, start: float, end: float, a: float, b: float) -> float:
    """From ``a`` at ``start`` to ``b`` at ``end``, smoothly (cosine ease), constant outside."""
    if t <= start:
        return a
    if t >= end:
        return b
    u = (t - start) / (end - start)
    return a + (b - a) * (1 - math.cos(math.pi * u)) / 2


def _script() -> list[Appearance]:
    half = 140.0  # about half a scaled photo's width: "just out of view"

    def astronaut(t: float) -> tuple[float, float] | None:
        if t >= 9.5:
            return None
        x = _ease(t, 0.0, 2.5, -half, 230.0) if t < 8.0 else _ease(t, 8.0, 9.5, 230.0, -half)
        return x + 12 * math.sin(t * 1.7), 250 + 10 * math.sin(t * 1.1)

    def photographer(t: float) -> tuple[float, float] | None:
        if t < 3.0 or t >= 9.5:
            return None
        x = _ease(t, 3.0, 5.0, WIDTH + half, 470.0) if t < 8.0 else _ease(t, 8.0, 9.5, 470.0, WIDTH + half)
        return x + 8 * math.sin(t * 2.3), 240 + 8 * math.cos(t * 1.3)

    def returning(t: float) -> tuple[float, float] | None:
        if t < 10.3:
            return None
        return _ease(t, 10.3, 11.5, WIDTH + half, 330.0), 245.0

    return [
        Appearance("astronaut", False, astronaut, lambda t: _ease(t, 2.0, 7.0, 0.95, 1.15)),
        Appearance("camera", False, photographer, lambda t: 1.0),
        Appearance("astronaut", True, returning, lambda t: 1.05),
    ]


def _background() -> Frame:
    ramp = np.linspace(90, 150, WIDTH, dtype=np.float32)[None, :] + np.linspace(-20, 20, HEIGHT)[:, None]
    grey = np.clip(ramp, 0, 255).astype(np.uint8)
    tint = np.stack([grey * 1.05, grey, grey * 0.92], axis=2)  # a slightly cool wall
    return np.clip(tint, 0, 255).astype(np.uint8)


def render_frame(t: float, photos: dict[str, Frame], background: Frame) -> Frame:
    frame = background.copy()
    for appearance in _script():
        centre = appearance.path(t)
        if centre is None:
            continue
        photo = photos[appearance.photo]
        if appearance.mirrored:
            photo = photo[:, ::-1]
        scale = appearance.scale(t)
        if abs(scale - 1.0) > 1e-3:
            h, w = photo.shape[:2]
            photo = np.asarray(cv2.resize(photo, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA))
        paste(frame, np.ascontiguousarray(photo), *centre)
    # A little sensor noise, so consecutive frames differ like a camera's.
    noise = np.random.default_rng(round(t * 1000)).normal(0, 2.0, frame.shape)
    return np.asarray(np.clip(frame + noise, 0, 255), dtype=np.uint8)


def make_demo_clip(out: Path, detector_model: Path | None = None) -> Path:
    """Write the clip (MJPG in AVI) and ``<out>.json`` with its facts and credits; returns ``out``.

    With ``detector_model`` (YuNet) the clip is checked: a frame with one photo in view must show
    one face and a frame with two photos two faces, or the clip is not written."""
    photos = load_photos()
    background = _background()
    if detector_model is not None:
        _check_faces(photos, background, detector_model)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.stem + ".part" + out.suffix)
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise DemoClipError(f"OpenCV cannot write {partial} (MJPG in AVI)")
    frames = round(FPS * SECONDS)
    try:
        for i in range(frames):
            writer.write(render_frame(i / FPS, photos, background))
    finally:
        writer.release()
    os.replace(partial, out)
    facts = {
        "frames": frames,
        "fps": FPS,
        "size": [WIDTH, HEIGHT],
        "timeline": "1-4 s one face; 4-9 s two; 9-10.7 s none; then one again, with a new id",
        "photos": CREDITS,
        "checked_by_detector": detector_model is not None,
        "version": CLIP_VERSION,
    }
    out.with_suffix(".json").write_text(json.dumps(facts, indent=2) + "\n")
    log.info("wrote the demo clip %s: %d frames at %g fps", out, frames, FPS)
    return out


def _check_faces(photos: dict[str, Frame], background: Frame, detector_model: Path) -> None:
    from edge.detect import YuNetDetector

    detector = YuNetDetector(detector_model, max_side=320)
    for t, expected in ((2.8, 1), (6.0, 2), (10.0, 0), (11.8, 1)):
        found = len(detector.detect(render_frame(t, photos, background)))
        if found != expected:
            raise DemoClipError(
                f"the demo clip at {t} s shows {found} face(s) to {detector_model}, not {expected}: "
                "this scikit-image's photos differ from those the clip was designed with"
            )


def cached_demo_clip(cache_dir: Path | None = None, detector_model: Path | None = None) -> Path:
    """The clip in the cache, made first when it is not there yet."""
    path = default_clip_path(cache_dir)
    if path.is_file() and path.with_suffix(".json").is_file():
        return path
    return make_demo_clip(path, detector_model)
