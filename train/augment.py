"""Augmentation for 48x48 grayscale faces, done on uint8 crops before the shared preprocessing.

Geometric jitter mimics detector boxes that are off by a few pixels, a bit too wide or tight,
or a head that is tilted; photometric jitter, blur and noise mimic camera frames, which differ
from FER2013's web photos in exposure, contrast and sharpness. Random erasing (on the float
input) mimics hands, glasses and hair in front of the face.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from train.config import Ablatable


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5
    rotate_deg: float = 15.0
    scale: tuple[float, float] = (0.85, 1.15)
    shift: float = 0.1
    photometric: float = 0.8
    contrast: tuple[float, float] = (0.6, 1.4)
    brightness: float = 0.25
    gamma: tuple[float, float] = (0.7, 1.5)
    blur: float = 0.15
    noise: float = 0.15
    erase: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.15)
    # Device-like framing: each face is first re-framed to the box YuNet finds on it (the device's
    # crop at margin 0; train/crop_stats.py measures it), with probability ``device_crop_p``.
    device_crop: bool = False
    device_crop_p: float = 0.5
    # What cameras do to a face on top of the jitter above: taken at low resolution and upscaled
    # (the face's side drawn from ``downscale`` x 48 px), and JPEG-compressed.
    camera: bool = False
    downscale_p: float = 0.3
    downscale: tuple[float, float] = (0.35, 0.8)
    jpeg_p: float = 0.3
    jpeg_quality: tuple[int, int] = (25, 90)


# Parts of the jitter above that a run can leave out (TrainConfig.augment_off), to measure what each
# adds: each is kept only where a run says it helps. Off means never applied: probability 0, gamma 1.
ABLATIONS: dict[str, dict[str, object]] = {
    "blur": {"blur": 0.0},
    "noise": {"noise": 0.0},
    "gamma": {"gamma": (1.0, 1.0)},
}


def without(cfg: AugmentConfig, parts: list[Ablatable] | tuple[Ablatable, ...]) -> AugmentConfig:
    """``cfg`` with the named parts turned off."""
    changes: dict[str, object] = {}
    for part in parts:
        changes.update(ABLATIONS[part])
    return replace(cfg, **changes)  # type: ignore[arg-type]


def augment_uint8(
    images: npt.NDArray[np.uint8],
    cfg: AugmentConfig,
    rng: np.random.Generator,
    boxes: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.uint8]:
    """Geometric and photometric jitter of N x H x W uint8 faces; returns a new array. ``boxes``
    (N x 3: side, centre x and y offsets, fractions of the image side; NaN where none was found)
    are the device's boxes on these faces, used when ``cfg.device_crop``."""
    n, h, w = (int(v) for v in images.shape)
    out = np.empty_like(images)
    center = (w / 2.0, h / 2.0)
    angles = rng.uniform(-cfg.rotate_deg, cfg.rotate_deg, n)
    scales = rng.uniform(*cfg.scale, n)
    shifts = rng.uniform(-cfg.shift, cfg.shift, (n, 2)) * np.array([w, h])
    flips = rng.random(n) < cfg.flip
    photo = rng.random(n) < cfg.photometric
    contrasts = rng.uniform(*cfg.contrast, n)
    brightness = rng.uniform(-cfg.brightness, cfg.brightness, n) * 255.0
    gammas = np.exp(rng.uniform(np.log(cfg.gamma[0]), np.log(cfg.gamma[1]), n))
    blurs = rng.random(n) < cfg.blur
    sigmas = rng.uniform(0.5, 1.2, n)
    noisy = rng.random(n) < cfg.noise
    noise_std = rng.uniform(2.0, 8.0, n)
    reframe = rng.random(n) < cfg.device_crop_p if cfg.device_crop and boxes is not None else np.zeros(n, bool)
    down = rng.random(n) < cfg.downscale_p if cfg.camera else np.zeros(n, bool)
    down_side = rng.uniform(*cfg.downscale, n) * w
    jpeg = rng.random(n) < cfg.jpeg_p if cfg.camera else np.zeros(n, bool)
    quality = rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1, n)
    for i in range(n):
        img = images[i]
        if flips[i]:
            img = img[:, ::-1]
        m = cv2.getRotationMatrix2D(center, float(angles[i]), float(scales[i]))
        m[:, 2] += shifts[i]
        if reframe[i] and boxes is not None and not np.isnan(boxes[i]).any():
            m = m @ _box_to_frame(boxes[i], w, h, mirrored=bool(flips[i]))
        img = cv2.warpAffine(
            np.ascontiguousarray(img), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        if photo[i] or blurs[i] or noisy[i]:
            f = img.astype(np.float32)
            if photo[i]:
                mean = f.mean()
                f = (f - mean) * contrasts[i] + mean + brightness[i]
                f = 255.0 * (np.clip(f, 0, 255) / 255.0) ** gammas[i]
            if blurs[i]:
                f = np.asarray(cv2.GaussianBlur(f, (0, 0), float(sigmas[i])), dtype=np.float32)
            if noisy[i]:
                f = (f + rng.normal(0.0, noise_std[i], f.shape)).astype(np.float32)
            img = np.clip(f, 0, 255).astype(np.uint8)
        if down[i]:
            side = max(8, round(float(down_side[i])))
            small = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
            img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        if jpeg[i]:
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality[i])])
            if ok:
                img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        out[i] = img
    return out


def _box_to_frame(box: npt.NDArray[np.float32], w: int, h: int, mirrored: bool) -> npt.NDArray[np.float64]:
    """3 x 3 affine map that takes the device's box (side, centre offsets as fractions of the image)
    onto the whole image: what cropping the box and resizing it to the image size does."""
    side, dx, dy = (float(v) for v in box)
    if mirrored:
        dx = -dx
    cx, cy = w / 2.0 + dx * w, h / 2.0 + dy * h
    k = 1.0 / max(side, 1e-3)
    return np.array([[k, 0.0, w / 2.0 - k * cx], [0.0, k, h / 2.0 - k * cy], [0.0, 0.0, 1.0]])


def random_erase(x: npt.NDArray[np.float32], cfg: AugmentConfig, rng: np.random.Generator) -> None:
    """Erase one random rectangle per selected N x 1 x H x W input, in place, with noise."""
    n, _, h, w = (int(v) for v in x.shape)
    for i in np.flatnonzero(rng.random(n) < cfg.erase):
        area = rng.uniform(*cfg.erase_area) * h * w
        aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
        eh = min(h, max(1, round(np.sqrt(area * aspect))))
        ew = min(w, max(1, round(np.sqrt(area / aspect))))
        top = int(rng.integers(0, h - eh + 1))
        left = int(rng.integers(0, w - ew + 1))
        x[i, 0, top : top + eh, left : left + ew] = rng.normal(0.0, 1.0, (eh, ew))
