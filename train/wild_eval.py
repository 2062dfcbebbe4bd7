"""Whole-pipeline accuracy on real photos: detect, crop by policy, preprocess, classify.

The photos (``../shared/media/wild``: ``labels.csv`` with ``file,emotion`` and ``images/``)
are camera-like, unlike FER2013's crops, so this measures what the test split cannot: how the
crop policy and preprocessing carry over to the device. Labels are noisy; use it to compare
choices, not as a benchmark.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.align import crop_faces
from edge.contract import CropPolicy
from edge.detect import YuNetDetector

Predict = Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.float32]]


@dataclass
class WildResult:
    images: int
    faces_found: int
    correct: int
    skipped_labels: int

    @property
    def top1(self) -> float:
        """Accuracy over all labelled photos: a photo without a detected face counts as wrong."""
        return self.correct / max(1, self.images)


def load_wild(
    root: Path, class_names: tuple[str, ...] | list[str]
) -> tuple[list[npt.NDArray[np.uint8]], list[int], int]:
    labels_file = root / "labels.csv"
    if not labels_file.is_file():
        raise FileNotFoundError(f"{labels_file} not found: the wild photo set needs labels.csv (file,emotion)")
    images: list[npt.NDArray[np.uint8]] = []
    labels: list[int] = []
    skipped = 0
    with labels_file.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["emotion"] not in class_names:
                skipped += 1  # a class this model does not have
                continue
            path = root / "images" / row["file"]
            image = cv2.imread(str(path))
            if image is None:
                raise FileNotFoundError(f"{path}: missing or unreadable photo listed in {labels_file}")
            images.append(np.asarray(image, dtype=np.uint8))
            labels.append(list(class_names).index(row["emotion"]))
    return images, labels, skipped


def evaluate_wild(
    root: Path,
    detector_model: Path,
    predict: Predict,
    class_names: tuple[str, ...] | list[str],
    policy: CropPolicy,
    max_side: int = 320,
) -> WildResult:
    """``max_side`` is the detector's working size: 320 px, as on the device by default."""
    labels, predicted, skipped = wild_predictions(root, detector_model, predict, class_names, policy, max_side)
    found = int((predicted >= 0).sum())
    correct = int((predicted == labels).sum())
    return WildResult(len(labels), found, correct, skipped)


def wild_predictions(
    root: Path,
    detector_model: Path,
    predict: Predict,
    class_names: tuple[str, ...] | list[str],
    policy: CropPolicy,
    max_side: int = 320,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """Per photo: the label and the whole pipeline's prediction (-1 where no face was found), and
    how many photos were skipped for a class the model does not have."""
    images, labels, skipped = load_wild(root, class_names)
    detector = YuNetDetector(detector_model, max_side=max_side)
    predicted = np.full(len(labels), -1, dtype=np.int64)
    for i, image in enumerate(images):
        faces = detector.detect(image)[:1]  # one main face per photo: the largest
        if faces:
            predicted[i] = int(predict(crop_faces(image, faces, policy))[0].argmax())
    return np.array(labels, dtype=np.int64), predicted, skipped
