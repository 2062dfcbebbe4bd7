"""Turns detected faces into the model's 48x48 grayscale crops, following the model's crop policy."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from edge.contract import CropPolicy
from edge.detect import Face, Frame

# Warping straight to 48 px from a large face aliases; warp to at most this, then area-resize.
_MAX_INTERMEDIATE = 192


def to_gray(frame: Frame) -> Frame:
    if frame.ndim == 2:
        return frame
    return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def eye_angle(face: Face) -> float:
    """Angle of the eye line in degrees (0 when the eyes are level), from the landmarks."""
    if face.landmarks is None:
        return 0.0
    (rx, ry), (lx, ly) = face.landmarks[0], face.landmarks[1]
    return math.degrees(math.atan2(ly - ry, lx - rx))


def crop_face(gray: Frame, face: Face, policy: CropPolicy) -> npt.NDArray[np.uint8]:
    """One square crop: the box widened by ``margin`` on every side, rotated upright when
    ``align`` is set and landmarks are known, resized to ``policy.size``."""
    x, y, w, h = face.box
    cx, cy = x + w / 2.0, y + h / 2.0
    side = max(w, h) * (1.0 + 2.0 * policy.margin)
    out = int(min(max(policy.size, round(side)), _MAX_INTERMEDIATE))
    angle = eye_angle(face) if policy.align else 0.0
    m = cv2.getRotationMatrix2D((cx, cy), angle, out / side)
    m[:, 2] += np.array([out / 2.0 - cx, out / 2.0 - cy])
    crop = cv2.warpAffine(gray, m, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if out != policy.size:
        crop = cv2.resize(crop, (policy.size, policy.size), interpolation=cv2.INTER_AREA)
    return np.asarray(crop, dtype=np.uint8)


def crop_faces(frame: Frame, faces: list[Face], policy: CropPolicy) -> npt.NDArray[np.uint8]:
    """All faces of a frame as one N x size x size uint8 batch."""
    gray = to_gray(frame)
    if not faces:
        return np.empty((0, policy.size, policy.size), dtype=np.uint8)
    return np.stack([crop_face(gray, f, policy) for f in faces])
