"""YuNet through the backend layer finds the faces OpenCV's FaceDetectorYN finds; each kind is chosen
by name and says which backend runs and why.

The comparison runs both on the same real images (the 130 photos of ../shared/media/wild, the demo's
two photos and their mirror images, frames of the benchmark's four-face clip) with real ONNX Runtime
and OpenCV sessions. TensorRT cannot run on these machines: here ``yunet-auto`` must fall back to
FaceDetectorYN saying why, and ``yunet-tensorrt`` must refuse to start saying why
(`make jetson-acceptance` checks the TensorRT detector on a Jetson).
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detect import DetectorError, Face, YuNetDetector, create_detector
from edge.yunet_net import OnnxRuntimeYuNet, YuNetNetDetector, plan_backend

BOX_PX = 1.0  # the issue allows a pixel or two; the two backends agree far closer than that
LANDMARK_PX = 1.0
SCORE = 1e-3


def all_wild_photos(wild_dir: Path) -> list[np.ndarray]:
    with (wild_dir / "labels.csv").open() as fh:
        return [cv2.imread(str(wild_dir / "images" / row["file"])) for row in csv.DictReader(fh)]


def demo_photos() -> list[np.ndarray]:
    pytest.importorskip("skimage", reason="the demo's photos come from scikit-image (the demo extra)")
    from edge.tools.demo_clip import load_photos

    photos = list(load_photos().values())
    return photos + [np.ascontiguousarray(p[:, ::-1]) for p in photos]


def assert_same_faces(expected: list[Face], found: list[Face], where: str) -> None:
    assert len(found) == len(expected), f"{where}: FaceDetectorYN found {len(expected)}, ONNX Runtime {len(found)}"
    for a, b in zip(expected, found):
        assert np.abs(np.subtract(a.box, b.box)).max() <= BOX_PX, (where, a.box, b.box)
        assert a.landmarks is not None and b.landmarks is not None
        assert np.abs(a.landmarks - b.landmarks).max() <= LANDMARK_PX, (where, a.landmarks, b.landmarks)
        assert abs(a.score - b.score) <= SCORE, (where, a.score, b.score)


@pytest.fixture(scope="module")
def detectors(yunet_model: Path):  # type: ignore[no-untyped-def]
    """FaceDetectorYN and the ONNX Runtime detector at 320 and 640 px, keeping every face they find."""
    made = {}
    for side in (320, 640):
        made[side] = (
            YuNetDetector(yunet_model, max_side=side, min_face=1, max_faces=100),
            create_detector("yunet-onnxruntime", yunet_model, max_side=side, min_face=1, max_faces=100),
        )
    return made


@pytest.mark.shared
@pytest.mark.parametrize("side", [320, 640])
def test_onnxruntime_finds_the_faces_facedetectoryn_finds_in_the_wild_photos(
    detectors, wild_dir: Path, side: int
) -> None:  # type: ignore[no-untyped-def]
    opencv, ours = detectors[side]
    photos = all_wild_photos(wild_dir)
    assert len(photos) == 130
    found = 0
    for i, photo in enumerate(photos):
        expected = opencv.detect(photo)
        assert_same_faces(expected, ours.detect(photo), f"wild photo {i} at {side} px")
        found += bool(expected)
    assert found >= 120  # the photos are of faces: the comparison is not of empty lists


@pytest.mark.shared
def test_onnxruntime_finds_the_faces_facedetectoryn_finds_in_the_demo_photos(detectors) -> None:  # type: ignore[no-untyped-def]
    for side, (opencv, ours) in detectors.items():
        for i, photo in enumerate(demo_photos()):
            expected = opencv.detect(photo)
            assert expected, f"demo photo {i}: FaceDetectorYN found no face"
            assert_same_faces(expected, ours.detect(photo), f"demo photo {i} at {side} px")


@pytest.mark.shared
def test_onnxruntime_finds_the_four_faces_of_a_downscaled_camera_frame(detectors, four_face_clip: Path) -> None:  # type: ignore[no-untyped-def]
    # 640 x 480 frames downscaled to 320 x 240 and padded to 320 x 256: the camera's path.
    opencv, ours = detectors[320]
    capture = cv2.VideoCapture(str(four_face_clip))
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames += 1
        expected = opencv.detect(frame)
        assert len(expected) >= 3
        assert_same_faces(expected, ours.detect(frame), f"four-face frame {frames}")
    capture.release()
    assert frames >= 10


@pytest.mark.shared
def test_onnxruntime_keeps_the_detector_settings(yunet_model: Path, wild_dir: Path) -> None:
    photo = all_wild_photos(wild_dir)[0]
    many = create_detector("yunet-onnxruntime", yunet_model, score_threshold=0.3, min_face=1, max_faces=100)
    faces = many.detect(photo)
    assert faces and [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)
    assert len(create_detector("yunet-onnxruntime", yunet_model, score_threshold=0.3, max_faces=1).detect(photo)) == 1
    big = min(min(f.box[2], f.box[3]) for f in faces) + 1
    assert all(
        min(f.box[2:]) >= big
        for f in create_detector("yunet-onnxruntime", yunet_model, min_face=int(big)).detect(photo)
    )
    assert create_detector("yunet-onnxruntime", yunet_model, score_threshold=0.999).detect(photo) == []


@pytest.mark.shared
def test_a_grey_frame_and_a_sliver_are_handled_as_facedetectoryn_handles_them(
    yunet_model: Path, wild_dir: Path
) -> None:
    ours = create_detector("yunet-onnxruntime", yunet_model, max_side=320)
    grey = cv2.cvtColor(all_wild_photos(wild_dir)[3], cv2.COLOR_BGR2GRAY)
    assert_same_faces(YuNetDetector(yunet_model).detect(grey), ours.detect(grey), "grey photo")
    assert ours.detect(np.zeros((4000, 3, 3), np.uint8)) == []
    assert ours.detect(np.zeros((1, 1, 3), np.uint8)) == []


@pytest.mark.shared
def test_yunet_onnxruntime_is_chosen_by_name_and_says_what_runs(yunet_model: Path) -> None:
    detector = create_detector("yunet-onnxruntime", yunet_model, max_side=256, max_faces=2)
    assert isinstance(detector, YuNetNetDetector) and isinstance(detector.runner, OnnxRuntimeYuNet)
    assert detector.name == "yunet-onnxruntime" and detector.backend == "onnxruntime"
    assert detector.max_side == 256 and detector.max_faces == 2
    assert detector.reason.startswith("ONNX Runtime ") and "CPUExecutionProvider" in detector.reason


@pytest.mark.shared
def test_yunet_auto_without_tensorrt_runs_facedetectoryn_and_says_why(yunet_model: Path) -> None:
    detector = create_detector("yunet-auto", yunet_model, max_side=256)
    assert isinstance(detector, YuNetDetector) and detector.backend == "opencv"
    assert detector.reason.startswith("TensorRT is not installed; OpenCV ") and "FaceDetectorYN" in detector.reason


@pytest.mark.shared
def test_yunet_tensorrt_without_tensorrt_refuses_to_start_saying_why(yunet_model: Path) -> None:
    with pytest.raises(DetectorError) as err:
        create_detector("yunet-tensorrt", yunet_model)
    message = str(err.value)
    assert message.startswith("detector.kind = 'yunet-tensorrt' cannot run here: TensorRT is not installed")
    assert "make setup-device" in message and "detector.kind = 'yunet'" in message


def test_doctor_plan_says_which_backend_runs_and_why() -> None:
    assert plan_backend("yunet").backend == "opencv"
    assert plan_backend("haar").backend == "opencv"
    onnx = plan_backend("yunet-onnxruntime")
    assert onnx.backend == "onnxruntime" and onnx.reason.startswith("ONNX Runtime ")
    auto = plan_backend("yunet-auto")
    assert auto.backend == "opencv" and auto.reason.startswith("TensorRT not used (TensorRT is not installed")
    trt = plan_backend("yunet-tensorrt")
    assert trt.backend == "" and "TensorRT is not installed" in trt.reason and "make setup-device" in trt.fix


@pytest.mark.shared
def test_the_emotion_model_as_detector_model_is_refused_naming_it(shipped_model: Path) -> None:
    with pytest.raises(DetectorError, match=r"detector.model .*emotion-edge-fp32.onnx is not the YuNet face detector"):
        create_detector("yunet-onnxruntime", shipped_model)


@pytest.mark.parametrize("kind", ["yunet-onnxruntime", "yunet-tensorrt", "yunet-auto"])
def test_a_missing_or_broken_model_file_is_named_with_the_fix(kind: str, tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match=r"YuNet model not found at .*nope.onnx: run `emotion-edge models fetch`"):
        create_detector(kind, tmp_path / "nope.onnx")
    broken = tmp_path / "yunet.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match=r"yunet.onnx: ONNX Runtime cannot load it .*models fetch"):
        create_detector("yunet-onnxruntime", broken)
