"""Device-crop re-framing and camera degradations of the training augmentation."""

from __future__ import annotations

import cv2
import numpy as np

from train.augment import AugmentConfig, augment_uint8

STILL = {
    "flip": 0.0,
    "rotate_deg": 0.0,
    "scale": (1.0, 1.0),
    "shift": 0.0,
    "photometric": 0.0,
    "blur": 0.0,
    "noise": 0.0,
}


def gradient_faces(n: int = 4) -> np.ndarray:
    yy, xx = np.mgrid[0:48, 0:48]
    return np.stack([((xx * 3 + yy * 2 + 7 * i) % 256).astype(np.uint8) for i in range(n)])


def test_the_whole_image_as_box_changes_nothing_and_a_half_box_zooms_in() -> None:
    faces = gradient_faces()
    cfg = AugmentConfig(**STILL, device_crop=True, device_crop_p=1.0)
    whole = np.tile(np.array([[1.0, 0.0, 0.0]], np.float32), (4, 1))
    out = augment_uint8(faces, cfg, np.random.default_rng(0), whole)
    assert np.abs(out.astype(int) - faces).max() <= 1
    half = np.tile(np.array([[0.5, 0.0, 0.0]], np.float32), (4, 1))
    out = augment_uint8(faces, cfg, np.random.default_rng(0), half)
    expected = cv2.resize(faces[0][12:36, 12:36], (48, 48), interpolation=cv2.INTER_LINEAR)
    assert np.abs(out[0].astype(int) - expected).mean() < 3
    # A face without a box (NaN) is left as it is; without device_crop the boxes are ignored.
    none = np.full((4, 3), np.nan, np.float32)
    assert np.abs(augment_uint8(faces, cfg, np.random.default_rng(0), none).astype(int) - faces).max() <= 1
    plain = AugmentConfig(**STILL)
    assert np.abs(augment_uint8(faces, plain, np.random.default_rng(0), half).astype(int) - faces).max() <= 1


def test_camera_degradations_blur_fine_detail_and_keep_the_shape() -> None:
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (16, 48, 48), dtype=np.uint8)
    cfg = AugmentConfig(**STILL, camera=True, downscale_p=1.0, jpeg_p=1.0)
    out = augment_uint8(faces, cfg, np.random.default_rng(1))
    assert out.shape == faces.shape and out.dtype == np.uint8
    # Noise has most of its energy in fine detail, which down-and-up scaling and JPEG remove.
    lap_in = np.abs(cv2.Laplacian(faces[0].astype(np.float32), cv2.CV_32F)).mean()
    lap_out = np.abs(cv2.Laplacian(out[0].astype(np.float32), cv2.CV_32F)).mean()
    assert lap_out < 0.6 * lap_in
    off = augment_uint8(faces, AugmentConfig(**STILL), np.random.default_rng(1))
    assert np.array_equal(off, faces)
