"""The input contract shared by training and the device: classes, crop size, preprocessing.

Training imports this module; the exported model carries the same facts in its metadata so
the device (or anyone without this code) can rebuild the exact input from a face crop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge import registry

FER2013_CLASSES: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "neutral",
    "sad",
    "surprise",
)
INPUT_SIZE = 48
EQUALIZE_METHODS = registry.EQUALIZE_METHODS  # the names live with the other choices (light to import)

Uint8Array = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


class ContractError(ValueError):
    """A preprocessing or crop parameter is outside what the contract allows."""


@dataclass(frozen=True)
class Preprocessing:
    """Turns 48x48 grayscale uint8 crops into the model's float input.

    Steps, in order: per-image equalisation (``equalize``), then ``(x * scale - mean) / std``.
    ``clahe_clip`` and ``clahe_grid`` only matter when ``equalize == "clahe"``.
    """

    equalize: str = "hist"
    scale: float = 1.0 / 255.0
    mean: float = 0.5
    std: float = 0.5
    clahe_clip: float = 2.0
    clahe_grid: int = 4

    def __post_init__(self) -> None:
        if self.equalize not in EQUALIZE_METHODS:
            raise ContractError(f"preprocessing.equalize={self.equalize!r} is not one of {', '.join(EQUALIZE_METHODS)}")
        # Every number is applied to every pixel of every crop: a NaN or an absurd value would turn
        # each input into garbage (and each score into NaN) without a word, so refuse it here.
        _number("preprocessing.scale", self.scale, 1e-6, 1.0)  # 1/255 maps uint8 to [0, 1]; 1 keeps 0-255
        _number("preprocessing.mean", self.mean, -1e3, 1e3)
        _number("preprocessing.std", self.std, 1e-3, 1e3)
        _number("preprocessing.clahe_clip", self.clahe_clip, 0.1, 100.0)
        _number("preprocessing.clahe_grid", self.clahe_grid, 1, 16, integer=True)

    def equalized(self, crops: Uint8Array) -> Uint8Array:
        """Apply the equalisation step to N x H x W uint8 crops (returns a new array)."""
        crops = _as_batch(crops)
        if self.equalize == "none":
            return np.array(crops, dtype=np.uint8, copy=True)
        out: Uint8Array = np.empty_like(crops)
        if self.equalize == "hist":
            for i, crop in enumerate(crops):
                out[i] = cv2.equalizeHist(crop)
        else:
            clahe = cv2.createCLAHE(clipLimit=self.clahe_clip, tileGridSize=(self.clahe_grid, self.clahe_grid))
            for i, crop in enumerate(crops):
                out[i] = clahe.apply(crop)
        return out

    def normalize(self, crops: Uint8Array) -> FloatArray:
        """Scale and standardise already-equalised crops to N x 1 x H x W float32."""
        x: FloatArray = crops.astype(np.float32) * np.float32(self.scale)
        x = (x - np.float32(self.mean)) / np.float32(self.std)
        return np.ascontiguousarray(x[:, None, :, :])

    def apply(self, crops: Uint8Array) -> FloatArray:
        """The whole step: uint8 crops (N x 48 x 48 or 48 x 48) to the model's N x 1 x 48 x 48 input."""
        return self.normalize(self.equalized(crops))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(**_known_keys(cls, data, "preprocessing"))


@dataclass(frozen=True)
class CropPolicy:
    """How a detected face becomes a square crop.

    ``margin`` widens the detector's box by that fraction of its size on every side (a negative
    margin tightens it: FER2013's crops are tighter than YuNet's boxes);
    ``align`` rotates the face so the eye line is horizontal when landmarks are known.
    ``template`` (five-point alignment): where the right eye, left eye, nose tip and right and left
    mouth corners go, in fractions of the crop side. With it, a face with landmarks is cropped by
    the similarity transform (rotation, scale, shift) that best maps its five landmarks onto the
    template; ``margin`` and ``align`` then apply only to faces without landmarks.
    """

    margin: float = 0.15
    align: bool = True
    size: int = INPUT_SIZE
    color: str = "gray"
    template: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        _number("crop.margin", self.margin, -0.3, 1.0)
        _number("crop.size", self.size, 8, 512, integer=True)
        if not isinstance(self.align, bool):
            raise ContractError(f"crop.align must be true or false, got {self.align!r}")
        if self.color != "gray":
            raise ContractError(f"crop.color={self.color!r}: only 'gray' is supported")
        if self.template is not None:
            object.__setattr__(self, "template", _template(self.template))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.template is None:
            del data["template"]  # a box-crop model's metadata stays as older devices read it
        else:
            data["template"] = [list(point) for point in self.template]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CropPolicy:
        return cls(**_known_keys(cls, data, "crop"))


def _template(value: object) -> tuple[tuple[float, float], ...]:
    """Five (x, y) points within [-0.5, 1.5] of the crop side, the eyes apart: what a similarity
    transform can be fitted to."""
    if not isinstance(value, (list, tuple)) or len(value) != 5:
        raise ContractError(f"crop.template must be five [x, y] points, got {str(value)[:60]}")
    points = []
    for i, point in enumerate(value):
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise ContractError(f"crop.template[{i}] must be an [x, y] pair, got {str(point)[:40]}")
        for axis, v in zip("xy", point):
            _number(f"crop.template[{i}].{axis}", v, -0.5, 1.5)
        points.append((float(point[0]), float(point[1])))
    (rx, ry), (lx, ly) = points[0], points[1]
    if (lx - rx) ** 2 + (ly - ry) ** 2 < 0.01:
        raise ContractError("crop.template: the two eyes (points 0 and 1) must be at least 0.1 of the crop apart")
    return tuple(points)


def _number(key: str, value: object, low: float, high: float, integer: bool = False) -> None:
    """``value`` is a finite number (an integer where ``integer``) within [low, high]."""
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    # bool is an int to Python; NaN fails every comparison, so the range check refuses it too.
    number = value if isinstance(value, kinds) and not isinstance(value, bool) else None
    if not isinstance(number, (int, float)) or not low <= number <= high:
        what = "an integer" if integer else "a finite number"
        raise ContractError(f"{key} must be within [{low:g}, {high:g}] ({what}), got {value!r:.40}")


def apply_temperature(probs: FloatArray, temperature: float) -> FloatArray:
    """N x classes probabilities softened (T > 1) or sharpened (T < 1): ``softmax(log(p) / T)``,
    which is exactly ``softmax(logits / T)`` for a softmax output. The one place every backend (and
    training, when it fits T) computes it. T = 1 returns ``probs`` itself, bit for bit."""
    if temperature == 1.0:
        return probs
    # A probability that underflowed to 0 gets the smallest normal float32 instead of log(0) = -inf.
    z = np.log(np.maximum(probs.astype(np.float64), np.finfo(np.float32).tiny)) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return out


def _known_keys(cls: type, data: dict[str, Any], section: str) -> dict[str, Any]:
    known = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ContractError(f"unknown {section} keys {unknown}; known: {sorted(known)}")
    return data


def _as_batch(crops: Uint8Array) -> Uint8Array:
    if crops.dtype != np.uint8:
        raise ContractError(f"face crops must be uint8, got {crops.dtype}")
    if crops.ndim == 2:
        crops = crops[None]
    if crops.ndim != 3:
        raise ContractError(f"face crops must be N x H x W grayscale, got shape {crops.shape}")
    return np.ascontiguousarray(crops)
