"""Augmentation for 48x48 grayscale faces, done on uint8 crops before the shared preprocessing.

Geometric jitter mimics detector boxes that are off by a few pixels, a bit too wide or tight,
or a head that is tilted; photometric jitter, blur and noise mimic camera frames, which differ
from FER2013's web photos in exposure, contrast and sharpness. Random erasing (on the float
input) mimics hands, glasses and hair in front of the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt


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


def augment_uint8(images: npt.NDArray[np.uint8], cfg: AugmentConfig, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """Geometric and photometric jitter of N x H x W uint8 faces; returns a new array."""
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
    for i in range(n):
        img = images[i]
        if flips[i]:
            img = img[:, ::-1]
        m = cv2.getRotationMatrix2D(center, float(angles[i]), float(scales[i]))
        m[:, 2] += shifts[i]
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
        out[i] = img
    return out


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
