"""The benchmark clip: 640x480 video with 1 or 4 real faces per frame, made from the wild photos.

Each face is a photo from ``media/wild`` drifting slowly over a plain background (so the tracker
sees continuous motion) and replaced by the next photo every ``hold`` frames. When a detector
model is given, only photos in which it finds exactly one face at the clip's scale are used, so
"1 face per frame" holds. Clips are cached outside the repository and reused.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.detect import Frame, YuNetDetector

log = logging.getLogger(__name__)

CLIP_VERSION = 1  # bump when the clip's recipe changes, so stale cached clips are not reused
WIDTH, HEIGHT = 640, 480
VARIANT_STEP = 7  # photo slots between one variant's start and the next's (a camera each)
LAYOUTS = {1: ((WIDTH, HEIGHT), 280, 40.0), 4: ((WIDTH // 2, HEIGHT // 2), 200, 15.0)}  # cell, photo height, drift


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "emotion-edge"


def clip_path(faces: int, cache_dir: Path | None = None, variant: int = 0) -> Path:
    """``variant``: another clip of the same kind (other photos in another order), one per camera of
    ``bench --cameras``; 0 is the clip every other benchmark uses."""
    other = f"-{variant}" if variant else ""
    return (
        (cache_dir or default_cache_dir()) / "bench" / f"wild-{WIDTH}x{HEIGHT}-{faces}face{other}-v{CLIP_VERSION}.avi"
    )


def wild_photos(wild_dir: Path) -> list[Path]:
    labels = wild_dir / "labels.csv"
    if labels.is_file():
        with labels.open(newline="") as fh:
            paths = [wild_dir / "images" / row["file"] for row in csv.DictReader(fh)]
    else:
        paths = sorted((wild_dir / "images").glob("*.jpg"))
    paths = [p for p in paths if p.is_file()]
    if not paths:
        raise FileNotFoundError(f"no photos in {wild_dir}/images: the benchmark clip is made from ../shared/media/wild")
    return paths


def _background(rng: np.random.Generator) -> Frame:
    ramp = np.linspace(70, 130, WIDTH, dtype=np.float32)[None, :] + np.linspace(-15, 15, HEIGHT)[:, None]
    noise = rng.normal(0, 3, (HEIGHT, WIDTH)).astype(np.float32)
    gray = np.clip(ramp + noise, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def _fit(photo: Frame, height: int) -> Frame:
    h, w = photo.shape[:2]
    return np.asarray(cv2.resize(photo, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA))


def paste(canvas: Frame, photo: Frame, cx: float, cy: float) -> None:
    """Copy ``photo`` onto ``canvas`` centred at (cx, cy), clipped at the canvas edges."""
    h, w = photo.shape[:2]
    x0, y0 = round(cx - w / 2), round(cy - h / 2)
    x1, y1 = max(0, x0), max(0, y0)
    x2, y2 = min(canvas.shape[1], x0 + w), min(canvas.shape[0], y0 + h)
    if x2 > x1 and y2 > y1:
        canvas[y1:y2, x1:x2] = photo[y1 - y0 : y2 - y0, x1 - x0 : x2 - x0]


def _usable(photos: list[Frame], detector_model: Path | None, background: Frame) -> list[int]:
    """Indices of photos with exactly one face found at the clip's scale (all of them without a detector)."""
    if detector_model is None:
        return list(range(len(photos)))
    detector = YuNetDetector(detector_model, max_side=320)
    keep = []
    for i, photo in enumerate(photos):
        frame = background.copy()
        paste(frame, photo, WIDTH / 2, HEIGHT / 2)
        if len(detector.detect(frame)) == 1:
            keep.append(i)
    return keep


def make_bench_clip(
    wild_dir: Path,
    faces: int,
    out: Path,
    frames: int = 300,
    fps: float = 30.0,
    hold: int = 10,
    detector_model: Path | None = None,
    seed: int = 0,
    variant: int = 0,
) -> Path:
    """Write the clip to ``out`` (an .avi, MJPG) and its facts to ``out`` with .json; returns ``out``.
    ``variant`` starts the photos elsewhere (and the background's noise), so cameras differ."""
    if faces not in LAYOUTS:
        raise ValueError(f"a benchmark clip has {' or '.join(map(str, LAYOUTS))} faces per frame, not {faces}")
    (cell_w, cell_h), photo_h, drift = LAYOUTS[faces]
    rng = np.random.default_rng(seed + variant)
    background = _background(rng)
    paths = wild_photos(wild_dir)
    loaded = [cv2.imread(str(p)) for p in paths]
    unreadable = [p.name for p, im in zip(paths, loaded) if im is None]
    if unreadable:
        raise FileNotFoundError(f"unreadable photos in {wild_dir}: {', '.join(unreadable[:5])}")
    photos = [_fit(np.asarray(im, dtype=np.uint8), photo_h) for im in loaded]
    usable = _usable(photos, detector_model, background)
    if len(usable) < faces:
        raise ValueError(f"only {len(usable)} photos in {wild_dir} have one detectable face; need at least {faces}")
    cells = [(cell_w * (k % 2) + cell_w / 2, cell_h * (k // 2) + cell_h / 2) for k in range(faces)]
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.stem + ".part" + out.suffix)
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter.fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {partial} (MJPG in AVI)")
    used: set[int] = set()
    try:
        for t in range(frames):
            frame = background.copy()
            for k, (cx, cy) in enumerate(cells):
                # Each cell moves through the photos at its own offset, so the four faces differ.
                slot = t // hold + k * (len(usable) // faces) + variant * VARIANT_STEP
                index = usable[slot % len(usable)]
                used.add(index)
                dx = drift * math.sin(2 * math.pi * t / 90 + k)
                dy = drift * 0.4 * math.sin(2 * math.pi * t / 70 + 2 * k)
                paste(frame, photos[index], cx + dx, cy + dy)
            writer.write(frame)
    finally:
        writer.release()
    os.replace(partial, out)
    facts = {
        "faces_per_frame": faces,
        "frames": frames,
        "fps": fps,
        "size": [WIDTH, HEIGHT],
        "hold": hold,
        "photos": [paths[i].name for i in sorted(used)],
        "photos_checked_by_detector": detector_model is not None,
        "wild_dir": str(wild_dir),
        "version": CLIP_VERSION,
        "variant": variant,
    }
    out.with_suffix(".json").write_text(json.dumps(facts, indent=2) + "\n")
    log.info("wrote benchmark clip %s: %d frames, %d face(s) each, %d photos", out, frames, faces, len(used))
    return out


def cached_bench_clip(
    wild_dir: Path, faces: int, cache_dir: Path | None = None, detector_model: Path | None = None, variant: int = 0
) -> Path:
    """The cached clip for ``faces``, made first if it is not there yet."""
    path = clip_path(faces, cache_dir, variant)
    if path.is_file() and path.with_suffix(".json").is_file():
        return path
    return make_bench_clip(wild_dir, faces, path, detector_model=detector_model, variant=variant)


def cached_bench_clip_apart(
    wild_dir: Path, faces: int, cache_dir: Path | None = None, detector_model: Path | None = None, variant: int = 0
) -> Path:
    """``cached_bench_clip``, made in a child process when it is not cached yet: decoding the photos
    and encoding the video take hundreds of MB that would otherwise stay in the benchmark's peak
    RSS, which must be the loop's own (first run and cached run alike)."""
    path = clip_path(faces, cache_dir, variant)
    if path.is_file() and path.with_suffix(".json").is_file():
        return path
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        made: Path = pool.apply(cached_bench_clip, (wild_dir, faces, cache_dir, detector_model, variant))
    return made


# --- the settings comparison's scenes (emotion-edge bench --compare) -------------------------------

SCENES = ("empty", "moving")
SCENE_VERSION = 1


def scene_path(scene: str, cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / "bench" / f"scene-{scene}-{WIDTH}x{HEIGHT}-v{SCENE_VERSION}.avi"


def _room(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """A still room: the bench's grey gradient with a few darker and lighter blocks (furniture, a
    window), as float grey levels."""
    room = _background(rng)[:, :, 0].astype(np.float32)
    for x, y, w, h, level in ((40, 260, 180, 200, 60), (420, 60, 160, 120, 190), (300, 330, 120, 150, 95)):
        room[y : y + h, x : x + w] = level + rng.normal(0, 4, (h, w))
    return room


def make_empty_room(out: Path, frames: int = 300, fps: float = 30.0, seed: int = 0) -> Path:
    """An empty room: a still background, fresh sensor noise on every frame (sigma 3 grey levels)
    and a slow brightness ramp (down to 70 % and back over the clip, as daylight or an auto
    exposure drifts)."""
    rng = np.random.default_rng(seed)
    room = _room(rng)
    writer, partial = _open_writer(out, fps)
    try:
        for t in range(frames):
            gain = 1.0 - 0.3 * math.sin(math.pi * t / max(1, frames - 1))
            grey = np.clip(room * gain + rng.normal(0, 3, room.shape), 0, 255).astype(np.uint8)
            writer.write(np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2)))
    finally:
        writer.release()
    os.replace(partial, out)
    facts = {"scene": "empty", "frames": frames, "fps": fps, "size": [WIDTH, HEIGHT], "faces": [], "seed": seed}
    out.with_suffix(".json").write_text(json.dumps(facts, indent=2) + "\n")
    return out


def _open_writer(out: Path, fps: float) -> tuple[cv2.VideoWriter, Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.stem + ".part" + out.suffix)
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter.fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {partial} (MJPG in AVI)")
    return writer, partial


# Who is in the moving scene: (first frame, last frame, path). Paths give the photo's centre per
# frame; "pop" actors appear at once (someone turns to the camera), "walk" actors slide in from the
# edge. Frames are at 30 fps: 2 s in, a second face at 3 s, the first leaves at 7 s, a third pops in.
_ACTORS = (
    (0, 209, "walk-left"),
    (90, 299, "pop-right"),
    (150, 299, "pop-middle"),
    (240, 299, "walk-right"),
)
_MOVING_PHOTO_H = 160


def _actor_centre(path: str, t: int, start: int) -> tuple[float, float]:
    age = t - start
    if path == "walk-left":  # walks in from the left edge, crosses to the middle, wanders, walks out right
        x = -80 + 6.0 * age if age < 50 else 220 + 60 * math.sin(2 * math.pi * (age - 50) / 120)
        if t > 180:
            x += 14.0 * (t - 180)
        return x, 130 + 20 * math.sin(2 * math.pi * age / 80)
    if path == "pop-right":
        return 540 + 25 * math.sin(2 * math.pi * age / 100), 330 + 10 * math.sin(2 * math.pi * age / 60)
    if path == "pop-middle":
        return 320 + 8 * math.sin(2 * math.pi * age / 70), 375
    # walk-right: walks in from the right edge towards the middle and stays
    return max(470.0, WIDTH + 80 - 8.0 * age), 105 + 5 * math.sin(2 * math.pi * age / 50)


def make_moving_scene(
    wild_dir: Path, out: Path, frames: int = 300, fps: float = 30.0, detector_model: Path | None = None, seed: int = 0
) -> Path:
    """Faces that move, enter and leave over the room: four people (real photos) at their own
    times and paths. The facts list, per person, the frames they are in view and the frame they
    are first wholly in view (``appears``), with their photo's rectangle per frame."""
    rng = np.random.default_rng(seed)
    room = _room(rng)
    paths = wild_photos(wild_dir)
    photos = []
    for p in paths:
        image = cv2.imread(str(p))
        if image is None:
            raise FileNotFoundError(f"unreadable photo {p}")
        photos.append(_fit(np.asarray(image, dtype=np.uint8), _MOVING_PHOTO_H))
    background = np.ascontiguousarray(np.repeat(room.astype(np.uint8)[:, :, None], 3, axis=2))
    usable = _usable(photos, detector_model, background)
    if len(usable) < len(_ACTORS):
        raise ValueError(f"only {len(usable)} photos in {wild_dir} have one detectable face; need {len(_ACTORS)}")
    chosen = [usable[(k * 7) % len(usable)] for k in range(len(_ACTORS))]
    rects: list[list[list[int] | None]] = [[None] * frames for _ in _ACTORS]
    writer, partial = _open_writer(out, fps)
    try:
        for t in range(frames):
            frame = np.clip(room + rng.normal(0, 2, room.shape), 0, 255).astype(np.uint8)
            frame = np.ascontiguousarray(np.repeat(frame[:, :, None], 3, axis=2))
            for k, (start, end, path) in enumerate(_ACTORS):
                if not start <= t <= min(end, frames - 1):
                    continue
                photo = photos[chosen[k]]
                cx, cy = _actor_centre(path, t, start)
                paste(frame, photo, cx, cy)
                h, w = photo.shape[:2]
                x0, y0 = round(cx - w / 2), round(cy - h / 2)
                rects[k][t] = [x0, y0, w, h]
            writer.write(frame)
    finally:
        writer.release()
    os.replace(partial, out)
    people = []
    for k, (start, end, path) in enumerate(_ACTORS):
        inside = [
            t for t, r in enumerate(rects[k])
            if r is not None and r[0] >= 0 and r[1] >= 0 and r[0] + r[2] <= WIDTH and r[1] + r[3] <= HEIGHT
        ]  # fmt: skip
        people.append(
            {
                "photo": paths[chosen[k]].name,
                "path": path,
                "from": start,
                "to": min(end, frames - 1),
                "appears": inside[0] if inside else None,
                "rects": rects[k],
            }
        )
    facts = {"scene": "moving", "frames": frames, "fps": fps, "size": [WIDTH, HEIGHT], "faces": people, "seed": seed}
    out.with_suffix(".json").write_text(json.dumps(facts) + "\n")
    log.info("wrote scene %s: %d frames, %d people", out, frames, len(people))
    return out


def cached_scene(scene: str, wild_dir: Path, cache_dir: Path | None = None, detector_model: Path | None = None) -> Path:
    if scene not in SCENES:
        raise ValueError(f"no scene {scene!r}; scenes are: {', '.join(SCENES)}")
    path = scene_path(scene, cache_dir)
    if path.is_file() and path.with_suffix(".json").is_file():
        return path
    if scene == "empty":
        return make_empty_room(path)
    return make_moving_scene(wild_dir, path, detector_model=detector_model)
