"""How the device's crop frames a face, against FER2013's framing: ``python -m train.crop_stats``.

The device crops the YuNet box (margin and rotation from the model's crop policy); FER2013's faces
were cropped by another detector. This runs YuNet, as the device does (longer side 320 px), on

- FER2013 faces, padded (replicated border) and upscaled so YuNet sees a whole head: where would
  the device's box be, in FER2013's 48x48 frame? (its side and centre, per face);
- the labelled real photos (``../shared/media/wild``): where do the eyes fall in the device's crop?

and prints both in the same units (fractions of the crop side), so the training jitter that turns
a FER2013 face into a device-like crop (``augment.AugmentConfig(device_crop=True)``) is a measured
one. The figures behind the shipped jitter are in models/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.contract import CropPolicy
from edge.detect import Face, YuNetDetector

PAD = 1.0  # each side, in face widths: FER2013's 48 px become a 144 px canvas
UPSCALE = 3


def eye_geometry(face: Face, cx: float, cy: float, side: float) -> dict[str, float]:
    """Eye midpoint (relative to the crop centre), eye distance and roll, in fractions of ``side``."""
    assert face.landmarks is not None
    (rx, ry), (lx, ly) = face.landmarks[0], face.landmarks[1]
    return {
        "eye_mid_x": float(((rx + lx) / 2 - cx) / side),
        "eye_mid_y": float(((ry + ly) / 2 - cy) / side),
        "eye_dist": float(math.hypot(lx - rx, ly - ry) / side),
        "roll_deg": float(math.degrees(math.atan2(ly - ry, lx - rx))),
    }


def device_face(img: npt.NDArray[np.uint8], detector: YuNetDetector) -> Face | None:
    """The device's detection on one FER2013 face (padded and upscaled), in its 48-px frame."""
    n = img.shape[0]
    pad = int(PAD * n)
    canvas = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    canvas = cv2.resize(canvas, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_CUBIC)
    faces = detector.detect(np.asarray(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR), dtype=np.uint8))
    if not faces:
        return None
    f = faces[0]
    bx, by, bw, bh = f.box
    box = (bx / UPSCALE - pad, by / UPSCALE - pad, bw / UPSCALE, bh / UPSCALE)
    marks = None if f.landmarks is None else (f.landmarks / UPSCALE - pad).astype(np.float32)
    return Face(box, f.score, marks)


def device_boxes(images: npt.NDArray[np.uint8], detector: YuNetDetector) -> npt.NDArray[np.float32]:
    """N x 3: the device's square box on each face (side, centre x and y offset from the image
    centre, as fractions of the image side); NaN where YuNet finds no face."""
    out = np.full((len(images), 3), np.nan, dtype=np.float32)
    n = images.shape[1]
    for i, img in enumerate(images):
        f = device_face(img, detector)
        if f is not None:
            x, y, w, h = f.box
            out[i] = (max(w, h) / n, (x + w / 2 - n / 2) / n, (y + h / 2 - n / 2) / n)
    return out


def fer_boxes(images: npt.NDArray[np.uint8], detector: YuNetDetector) -> list[dict[str, float]]:
    """The device's box on each FER2013 face, in the 48-px frame: side and centre offset as
    fractions of 48, plus the eye geometry inside that box and inside the whole 48-px frame."""
    out = []
    n = images.shape[1]
    for img in images:
        f = device_face(img, detector)
        if f is None:
            continue
        x, y, w, h = f.box
        side = max(w, h)
        cx, cy = x + w / 2, y + h / 2
        row = {"side": side / n, "center_x": (cx - n / 2) / n, "center_y": (cy - n / 2) / n}
        row.update({f"box_{k}": v for k, v in eye_geometry(f, cx, cy, side).items()})
        row.update({f"frame_{k}": v for k, v in eye_geometry(f, n / 2, n / 2, n).items()})
        out.append(row)
    return out


def cached_per_image(
    images: npt.NDArray[np.uint8], kind: str, compute: Callable[[], npt.NDArray[np.float32]], cache_dir: Path | None
) -> npt.NDArray[np.float32]:
    """What ``compute`` finds on each image (YuNet's boxes, its landmarks), computed once and cached
    under the data cache, keyed by the images' bytes; written under its own name, then renamed."""
    import hashlib

    from train.dataset import default_cache_dir

    key = hashlib.sha256(images.tobytes()).hexdigest()[:24]
    path = (cache_dir or default_cache_dir()) / f"{kind}-{key}-p{PAD}-u{UPSCALE}.npy"
    if path.exists():
        return np.asarray(np.load(path), dtype=np.float32)
    found = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{np.random.default_rng().integers(1 << 30)}.tmp.npy")
    np.save(tmp, found)
    tmp.replace(path)
    return found


def cached_device_boxes(
    images: npt.NDArray[np.uint8], yunet: Path, cache_dir: Path | None = None
) -> npt.NDArray[np.float32]:
    """``device_boxes`` of a training set, computed once (a few minutes on 2 cores) and cached."""

    def compute() -> npt.NDArray[np.float32]:
        if not yunet.is_file():
            raise FileNotFoundError(f"--device-crop needs the YuNet model at {yunet} (the device's detector)")
        return device_boxes(images, YuNetDetector(yunet, max_side=320))

    return cached_per_image(images, "device-boxes", compute, cache_dir)


def wild_crops(root: Path, detector: YuNetDetector, policy: CropPolicy) -> list[dict[str, float]]:
    out = []
    for path in sorted((root / "images").iterdir()):
        read = cv2.imread(str(path))
        if read is None:
            continue
        faces = detector.detect(np.asarray(read, dtype=np.uint8))
        if not faces:
            continue
        f = faces[0]
        x, y, w, h = f.box
        side = max(w, h) * (1 + 2 * policy.margin)
        out.append({f"box_{k}": v for k, v in eye_geometry(f, x + w / 2, y + h / 2, side).items()})
    return out


def summarise(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = rows[0].keys() if rows else []
    return {
        k: {
            "mean": float(np.mean([r[k] for r in rows])),
            "std": float(np.std([r[k] for r in rows])),
            "p05": float(np.percentile([r[k] for r in rows], 5)),
            "p95": float(np.percentile([r[k] for r in rows], 95)),
        }
        for k in keys
    }


def main(argv: list[str] | None = None) -> int:
    from train.dataset import load_dataset

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/datasets/fer2013.tar.gz")
    p.add_argument("--wild", type=Path, default=Path("../shared/media/wild"))
    p.add_argument("--yunet", type=Path, default=Path("../shared/models/face_detection_yunet.onnx"))
    p.add_argument("--faces", type=int, default=1000, help="FER2013 Training faces to measure")
    p.add_argument("--margin", type=float, default=0.0, help="the device crop's margin (release: 0)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    data = load_dataset(args.data)
    train = data.images[data.splits == "train"]
    pick = np.random.default_rng(0).choice(len(train), min(args.faces, len(train)), replace=False)
    detector = YuNetDetector(args.yunet, max_side=320)
    fer = fer_boxes(train[np.sort(pick)], detector)
    wild = wild_crops(args.wild, detector, CropPolicy(margin=args.margin, align=False))
    result = {
        "fer2013": {"faces": len(pick), "found": len(fer), **summarise(fer)},
        "wild": {"found": len(wild), **summarise(wild)},
    }
    print(f"FER2013 Training: YuNet found {len(fer)} of {len(pick)} faces; wild photos: {len(wild)} faces")
    print(f"{'':28}{'mean':>8}{'std':>8}{'p05':>8}{'p95':>8}")
    for name, stats in result.items():
        for key, s in stats.items():
            if isinstance(s, dict):
                print(f"{name + ' ' + key:28}{s['mean']:>8.3f}{s['std']:>8.3f}{s['p05']:>8.3f}{s['p95']:>8.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
