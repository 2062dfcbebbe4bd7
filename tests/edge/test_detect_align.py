"""Detection and cropping on real photos: a face is found and the crop honours the contract."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.align import crop_face, crop_faces, eye_angle
from edge.contract import CropPolicy
from edge.detect import DetectorError, Face, YuNetDetector

pytestmark = pytest.mark.shared


def wild_photos(wild_dir: Path, n: int) -> list[np.ndarray]:
    with (wild_dir / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))[:: max(1, 130 // n)][:n]
    return [cv2.imread(str(wild_dir / "images" / r["file"])) for r in rows]


def test_yunet_finds_the_main_face_with_landmarks_in_real_photos(wild_dir: Path, yunet_model: Path) -> None:
    detector = YuNetDetector(yunet_model, max_side=320)
    photos = wild_photos(wild_dir, 20)
    found = [detector.detect(p) for p in photos]
    assert sum(bool(f) for f in found) >= 18
    for photo, faces in zip(photos, found):
        if not faces:
            continue
        face = faces[0]
        x, y, w, h = face.box
        cx, cy = x + w / 2, y + h / 2
        # The photos are centred on one main face, about a third of the frame wide.
        assert abs(cx - photo.shape[1] / 2) < photo.shape[1] / 4
        assert abs(cy - photo.shape[0] / 2) < photo.shape[0] / 4
        assert face.landmarks is not None and face.landmarks.shape == (5, 2)
        right_eye, left_eye = face.landmarks[0], face.landmarks[1]
        assert right_eye[0] < left_eye[0]  # the subject's right eye appears on the image's left


def test_alignment_turns_a_tilted_face_upright(wild_dir: Path, yunet_model: Path) -> None:
    detector = YuNetDetector(yunet_model, max_side=640)
    photo = wild_photos(wild_dir, 1)[0]
    h, w = photo.shape[:2]
    level = eye_angle(detector.detect(photo)[0])
    # OpenCV's positive angle turns the image counter-clockwise: the eye line falls by 20 degrees.
    tilted = cv2.warpAffine(photo, cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0), (w, h))
    face = detector.detect(tilted)[0]
    assert abs((level - eye_angle(face)) - 20) < 5
    crop = crop_face(cv2.cvtColor(tilted, cv2.COLOR_BGR2GRAY), face, CropPolicy(margin=0.15, align=True))
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    # Detect again on the upright crop (upscaled): the eye line is now level.
    big = cv2.cvtColor(cv2.resize(crop, (240, 240)), cv2.COLOR_GRAY2BGR)
    again = YuNetDetector(yunet_model, max_side=240, min_face=10).detect(big)
    assert again and abs(eye_angle(again[0])) < 6


def test_crops_are_a_batch_of_the_policy_size() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    faces = [Face((10, 10, 60, 70), 0.9), Face((200, 100, 100, 100), 0.8)]
    batch = crop_faces(frame, faces, CropPolicy(margin=0.1))
    assert batch.shape == (2, 48, 48) and batch.dtype == np.uint8
    assert crop_faces(frame, [], CropPolicy()).shape == (0, 48, 48)


def test_a_missing_detector_model_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match=r"YuNet model not found at .*models fetch"):
        YuNetDetector(tmp_path / "yunet.onnx")
