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


def similarity(src: npt.NDArray[np.floating], dst: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """The 2x3 similarity (rotation, uniform scale, shift; no reflection) that maps the points
    ``src`` onto ``dst`` with the least squared error (Umeyama, 1991)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var = (s**2).sum() / len(src)
    if var < 1e-12:
        raise ValueError("the source points coincide: no similarity transform fits them")
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(sigma) @ sign)) / var
    m = np.empty((2, 3))
    m[:, :2] = scale * rotation
    m[:, 2] = mu_d - scale * rotation @ mu_s
    return m


def crop_face(gray: Frame, face: Face, policy: CropPolicy) -> npt.NDArray[np.uint8]:
    """One square crop, resized to ``policy.size``: with a ``template`` and landmarks, the face's
    five landmarks mapped onto it; otherwise the box widened by ``margin`` on every side, rotated
    upright when ``align`` is set and landmarks are known."""
    if policy.template is not None and face.landmarks is not None:
        try:
            return _aligned_crop(gray, face.landmarks, policy)
        except ValueError:
            pass  # five landmarks on one point carry no geometry: the box still frames the face
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


def _aligned_crop(gray: Frame, landmarks: npt.NDArray[np.float32], policy: CropPolicy) -> npt.NDArray[np.uint8]:
    assert policy.template is not None
    template = np.asarray(policy.template, np.float64)
    # The crop's side in frame pixels, judged by the eyes: warp to about that (at most
    # _MAX_INTERMEDIATE) and area-resize, as the box crop does.
    eyes = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    side = eyes / max(float(np.linalg.norm(template[1] - template[0])), 1e-6)
    out = int(min(max(policy.size, round(side)), _MAX_INTERMEDIATE))
    m = similarity(landmarks, template * out)
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
