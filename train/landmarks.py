"""Five-point alignment of the data set's faces (``train --align-landmarks``, issue #21).

The device can crop a face by the similarity transform that maps YuNet's five landmarks onto a
fixed template (``CropPolicy.template``, ``edge.align``). A model trained for that crop must see its
training, validation and test faces cropped the same way, so this module finds the landmarks on
every FER2013 face (YuNet on the padded, upscaled 48x48 image, as ``train.crop_stats`` does),
takes the template from the Training faces' mean landmarks (so the aligned crop frames a face as
FER2013 does on average, only more consistently), and warps each face onto it. A face on which
YuNet finds nothing stays as it is, counted. Everything that scores a model on the data set reads
it through ``for_crop``, so a template model is always scored on the crops it was trained for.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.align import similarity
from edge.contract import CropPolicy
from train.dataset import FaceDataset

log = logging.getLogger(__name__)

Landmarks = npt.NDArray[np.float32]  # N x 5 x 2 in the 48-px frame; NaN where no face was found


def fer_landmarks(images: npt.NDArray[np.uint8], yunet: Path, cache_dir: Path | None = None) -> Landmarks:
    """YuNet's five landmarks on each face, computed once (minutes on 2 cores) and cached."""
    from edge.detect import YuNetDetector
    from train.crop_stats import cached_per_image, device_face

    def compute() -> Landmarks:
        if not yunet.is_file():
            raise FileNotFoundError(
                f"five-point alignment needs the YuNet model at {yunet} (the device's detector): give --yunet"
            )
        detector = YuNetDetector(yunet, max_side=320)
        out = np.full((len(images), 5, 2), np.nan, dtype=np.float32)
        for i, img in enumerate(images):
            face = device_face(img, detector)
            if face is not None and face.landmarks is not None:
                out[i] = face.landmarks
        return out

    return cached_per_image(images, "landmarks", compute, cache_dir)


def template_of(landmarks: Landmarks, size: int) -> tuple[tuple[float, float], ...]:
    """The mean landmarks of the faces where YuNet found them, in fractions of the crop side."""
    found = ~np.isnan(landmarks).any(axis=(1, 2))
    if not found.any():
        raise ValueError("YuNet found no face among the training images: no template can be measured")
    mean = landmarks[found].mean(axis=0) / size
    return tuple((round(float(x), 4), round(float(y), 4)) for x, y in mean)


def align_images(
    images: npt.NDArray[np.uint8], landmarks: Landmarks, template: tuple[tuple[float, float], ...]
) -> npt.NDArray[np.uint8]:
    """Each face warped so its landmarks fall on the template; faces without landmarks unchanged."""
    size = images.shape[1]
    target = np.asarray(template, np.float64) * size
    out: npt.NDArray[np.uint8] = images.copy()
    for i in np.flatnonzero(~np.isnan(landmarks).any(axis=(1, 2))):
        try:
            m = similarity(landmarks[i], target)
        except ValueError:
            continue
        out[i] = cv2.warpAffine(images[i], m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def for_crop(dataset: FaceDataset, crop: CropPolicy, yunet: Path) -> FaceDataset:
    """The data set as a model with this crop policy sees it: aligned onto the template where the
    policy has one, else unchanged."""
    if crop.template is None:
        return dataset
    landmarks = fer_landmarks(dataset.images, yunet)
    found = int((~np.isnan(landmarks).any(axis=(1, 2))).sum())
    log.info("five-point alignment: landmarks on %d of %d faces (the others stay as they are)", found, len(landmarks))
    return replace(dataset, images=align_images(dataset.images, landmarks, crop.template))
