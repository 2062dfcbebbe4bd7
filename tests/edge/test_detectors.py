"""Choosing a detector by name; the Haar fallback where OpenCV still has it, a clear refusal where not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detect import DetectorError, HaarDetector, YuNetDetector, create_detector
from edge.registry import DETECTORS
from tests.edge.test_detect_align import wild_photos

HAS_HAAR = hasattr(cv2, "CascadeClassifier")


@pytest.mark.shared
def test_yunet_is_chosen_by_name_with_its_settings(yunet_model: Path) -> None:
    detector = create_detector("yunet", yunet_model, max_side=256, max_faces=2)
    assert isinstance(detector, YuNetDetector) and detector.name == "yunet"
    assert detector.max_side == 256 and detector.max_faces == 2


def test_an_unknown_detector_is_refused_with_the_choices() -> None:
    with pytest.raises(DetectorError, match=r"detector.kind='hog' is not known; choose one of yunet, haar"):
        create_detector("hog")


def test_every_registered_detector_has_a_factory() -> None:
    # A kind in the registry without a factory would pass the config's check and fail at start.
    for kind in DETECTORS:
        try:
            create_detector(kind, model="/nonexistent.onnx")
        except DetectorError as exc:
            assert "is not known" not in str(exc)


@pytest.mark.skipif(HAS_HAAR, reason="this OpenCV still has Haar cascades")
def test_haar_on_an_opencv_without_cascades_says_what_to_use_instead() -> None:
    with pytest.raises(DetectorError) as err:
        create_detector("haar")
    message = str(err.value)
    assert f"OpenCV {cv2.__version__} has no Haar cascades" in message
    assert "detector.kind = 'yunet'" in message and "emotion-edge models fetch" in message
    assert "opencv-python-headless<5" in message


@pytest.mark.shared
@pytest.mark.skipif(not HAS_HAAR, reason=f"OpenCV {cv2.__version__} has no Haar cascades (removed in 5.0)")
def test_haar_finds_the_main_face_in_real_photos_without_landmarks(wild_dir: Path) -> None:
    detector = create_detector("haar", max_side=640, min_face=20)
    assert isinstance(detector, HaarDetector)
    photos = wild_photos(wild_dir, 20)
    found = [detector.detect(p) for p in photos]
    assert sum(bool(f) for f in found) >= 14  # Haar misses more than YuNet
    for photo, faces in zip(photos, found):
        if faces:
            x, y, w, h = faces[0].box
            assert abs(x + w / 2 - photo.shape[1] / 2) < photo.shape[1] / 4
            assert abs(y + h / 2 - photo.shape[0] / 2) < photo.shape[0] / 4
            assert faces[0].landmarks is None


@pytest.mark.skipif(not HAS_HAAR, reason=f"OpenCV {cv2.__version__} has no Haar cascades (removed in 5.0)")
def test_a_missing_haar_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match=r"nope.xml not found"):
        HaarDetector(cascade=tmp_path / "nope.xml")


@pytest.mark.shared
def test_the_detector_sees_the_faces_of_the_benchmark_clips(face_clip: Path, four_face_clip: Path, yunet_model: Path):
    detector = YuNetDetector(yunet_model, max_side=320)
    for clip, expected in ((face_clip, 1), (four_face_clip, 4)):
        capture = cv2.VideoCapture(str(clip))
        counts = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            assert frame.shape == (480, 640, 3)
            counts.append(len(detector.detect(frame)))
        capture.release()
        assert sum(c == expected for c in counts) >= 0.9 * len(counts), (clip.name, counts)


@pytest.mark.shared
def test_a_sliver_of_a_frame_yields_no_faces_rather_than_an_error(yunet_model: Path) -> None:
    detector = YuNetDetector(yunet_model, max_side=320)
    assert detector.detect(np.zeros((4000, 3, 3), np.uint8)) == []
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []
