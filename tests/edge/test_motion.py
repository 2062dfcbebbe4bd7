"""The motion gate: still rooms stay still through noise and slow light changes; a face that comes does not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.motion import MotionGate, face_signature, look_change, small_grey
from edge.tools.bench_clip import _fit, _room, make_empty_room, paste, wild_photos
from tests.edge.conftest import read_clip

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def empty_room(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    return read_clip(make_empty_room(tmp_path_factory.mktemp("scene") / "empty.avi", frames=150))


@pytest.fixture(scope="module")
def face_photo(wild_dir: Path) -> np.ndarray:
    image = cv2.imread(str(wild_photos(wild_dir)[0]))
    assert image is not None
    return _fit(np.asarray(image, np.uint8), 160)


def room_frame(level: float = 1.0, seed: int = 0) -> np.ndarray:
    room = _room(np.random.default_rng(0)) * level + np.random.default_rng(seed).normal(0, 3, (480, 640))
    grey = np.clip(room, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def test_the_first_frame_counts_as_motion_and_a_still_room_then_does_not() -> None:
    gate = MotionGate()
    assert gate.update(room_frame(seed=1)) is True  # no background yet: look once
    assert not any(gate.update(room_frame(seed=s)) for s in range(2, 40))


def test_sensor_noise_and_a_slow_brightness_ramp_are_not_motion(empty_room: list[np.ndarray]) -> None:
    gate = MotionGate()
    moved = [gate.update(frame) for frame in empty_room]
    assert moved[0] is True
    assert sum(moved[1:]) <= 0.02 * len(empty_room), f"{sum(moved[1:])} of {len(empty_room)} frames moved"


def test_a_sudden_change_of_the_whole_pictures_brightness_is_not_motion() -> None:
    gate = MotionGate()
    for seed in range(10):
        gate.update(room_frame(seed=seed))
    assert gate.update(room_frame(level=0.75, seed=11)) is False  # auto exposure, a cloud


def test_a_face_that_appears_is_motion(face_photo: np.ndarray) -> None:
    gate = MotionGate()
    for seed in range(10):
        gate.update(room_frame(seed=seed))
    frame = room_frame(seed=10)
    paste(frame, face_photo, 320, 240)
    assert gate.update(frame) is True
    assert gate.changed >= gate.min_area


def test_a_small_face_far_away_is_still_motion(face_photo: np.ndarray) -> None:
    gate = MotionGate()
    for seed in range(10):
        gate.update(room_frame(seed=seed))
    frame = room_frame(seed=10)
    paste(frame, _fit(face_photo, 40), 500, 100)  # a face of about 30 px
    assert gate.update(frame) is True


@pytest.mark.parametrize(
    ("where", "beside_the_body", "beside_the_face"),
    [("on the face", False, False), ("below it, where its body is", False, True), ("across the room", True, True)],
)
def test_motion_away_from_a_face_is_told_apart_from_its_own_and_its_bodys(
    face_photo: np.ndarray, where: str, beside_the_body: bool, beside_the_face: bool
) -> None:
    face = (280.0, 60.0, 80.0, 100.0)  # a tracked face's box, frame pixels
    at = {"on the face": (320, 110), "below it, where its body is": (320, 290), "across the room": (560, 380)}[where]
    gate = MotionGate()
    for seed in range(10):
        gate.update(room_frame(seed=seed))
    frame = room_frame(seed=10)
    paste(frame, _fit(face_photo, 90), *at)
    gate.update(frame)
    assert gate.moved_elsewhere([face], 640) is beside_the_body  # what calls the detector at once
    assert gate.moved_elsewhere([face], 640, body=False) is beside_the_face  # what keeps it at its full rate


def test_the_settings_are_checked() -> None:
    with pytest.raises(ValueError, match=r"motion\.threshold"):
        MotionGate(threshold=0)
    with pytest.raises(ValueError, match=r"motion\.min_area"):
        MotionGate(min_area=2)
    with pytest.raises(ValueError, match=r"motion\.alpha"):
        MotionGate(alpha=0)


def test_a_faces_look_changes_little_as_it_drifts_and_much_when_another_face_is_there(
    wild_dir: Path, face_photo: np.ndarray
) -> None:
    other = _fit(np.asarray(cv2.imread(str(wild_photos(wild_dir)[5])), np.uint8), 160)
    box = (320 - face_photo.shape[1] / 2, 160.0, float(face_photo.shape[1]), 160.0)
    looks = []
    for dx, photo in ((0, face_photo), (4, face_photo), (0, other)):
        frame = room_frame(seed=dx)
        paste(frame, photo, 320 + dx, 240)
        looks.append(face_signature(small_grey(frame), box, 640))
    drift, swap = look_change(looks[0], looks[1]), look_change(looks[0], looks[2])
    assert drift < 12 < 24 < swap, (drift, swap)
