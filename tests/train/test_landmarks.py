"""Five-point alignment of the data set (``train --align-landmarks``): landmarks found once and
cached, the template measured from Training faces, faces warped onto it, and a box-crop model's
data left exactly as it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.contract import CropPolicy
from train.landmarks import align_images, fer_landmarks, for_crop, template_of

TEMPLATE = ((0.32, 0.38), (0.68, 0.38), (0.5, 0.55), (0.36, 0.74), (0.64, 0.74))


def test_the_template_is_the_mean_of_the_found_faces_in_crop_fractions() -> None:
    a = np.asarray(TEMPLATE, np.float32) * 48
    marks = np.stack([a - 1, a + 1, np.full_like(a, np.nan)])
    assert template_of(marks, 48) == TEMPLATE
    with pytest.raises(ValueError, match="no face among the training images"):
        template_of(marks[2:], 48)


def test_faces_are_warped_onto_the_template_and_faces_without_landmarks_kept() -> None:
    images = np.random.default_rng(0).integers(0, 255, (2, 48, 48), dtype=np.uint8)
    on_template = np.asarray(TEMPLATE, np.float32) * 48
    marks = np.stack([on_template * 0.9 + 2.4, np.full_like(on_template, np.nan)])
    out = align_images(images, marks, TEMPLATE)
    assert np.array_equal(out[1], images[1])
    assert not np.array_equal(out[0], images[0])
    # Already on the template: the warp is the identity.
    same = align_images(images[:1], on_template[None], TEMPLATE)
    assert np.abs(same.astype(int) - images[:1]).max() <= 1


def test_a_box_crop_model_sees_the_data_set_untouched(fer) -> None:
    assert for_crop(fer, CropPolicy(), Path("no-yunet.onnx")) is fer


@pytest.mark.shared
def test_yunet_finds_landmarks_on_real_faces_once_then_reads_the_cache(fer, yunet_model: Path, tmp_path: Path) -> None:
    faces = fer.images[fer.splits == "train"][:40]
    marks = fer_landmarks(faces, yunet_model, tmp_path)
    found = ~np.isnan(marks).any(axis=(1, 2))
    assert found.mean() > 0.6  # YuNet finds most FER2013 faces (84 % of the Training set)
    right_eye, left_eye = marks[found, 0], marks[found, 1]
    assert (left_eye[:, 0] > right_eye[:, 0]).mean() > 0.95  # the person's left eye is on the image's right
    assert list(tmp_path.glob("landmarks-*.npy"))
    again = fer_landmarks(faces, Path("gone.onnx"), tmp_path)  # from the cache: no detector needed
    assert np.array_equal(again, marks, equal_nan=True)
    with pytest.raises(FileNotFoundError, match=r"five-point alignment needs the YuNet model at nowhere\.onnx"):
        fer_landmarks(faces[:3], Path("nowhere.onnx"), tmp_path / "other")


def write_face_tree(root: Path, fer, per_split: int = 6) -> Path:  # type: ignore[no-untyped-def]
    """Real FER2013 faces as an image tree (<split>/<class>/<Usage>_<n>.png); the classes are dealt
    in turn, since only the faces matter here."""
    import cv2

    for split, usage, name in (
        ("train", "Training", "train"),
        ("test", "PublicTest", "val"),
        ("test", "PrivateTest", "test"),
    ):
        images, _ = fer.split(name)
        for n in range(per_split):
            folder = root / split / ("angry", "happy", "sad")[n % 3]
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{usage}_{n}.png"), images[n])
    return root


@pytest.mark.shared
def test_an_aligned_run_trains_on_aligned_faces_and_records_the_template(
    fer, yunet_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from train.config import TrainConfig
    from train.trainer import prepare_data

    monkeypatch.setenv("EMOTION_EDGE_CACHE", str(tmp_path / "cache"))
    tree = write_face_tree(tmp_path / "tree", fer)
    _, plain, box = prepare_data(TrainConfig(data=str(tree)))
    _, aligned, crop = prepare_data(TrainConfig(data=str(tree), align_landmarks=True, yunet=str(yunet_model)))
    assert box.template is None and crop.template is not None and len(crop.template) == 5
    (rx, ry), (lx, ly) = crop.template[:2]
    assert 0.25 < lx - rx < 0.45 and abs(ly - ry) < 0.05  # two level eyes about a third of the crop apart
    assert not np.array_equal(aligned.train_x, plain.train_x)
    assert aligned.train_x.shape == plain.train_x.shape and aligned.test_x.shape == plain.test_x.shape
