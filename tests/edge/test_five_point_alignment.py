"""Five-point alignment (``CropPolicy.template``): the crop is the similarity transform that puts
the detector's five landmarks on the template; without usable landmarks the box crop is made."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edge.align import crop_face, similarity
from edge.contract import CropPolicy
from edge.detect import Face

TEMPLATE = ((0.32, 0.38), (0.68, 0.38), (0.5, 0.55), (0.36, 0.74), (0.64, 0.74))


def rotation(degrees: float) -> np.ndarray:
    t = math.radians(degrees)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


def test_the_fit_recovers_a_rotation_scale_and_shift_exactly() -> None:
    src = np.random.default_rng(0).uniform(0, 100, (5, 2))
    dst = 2.5 * src @ rotation(17).T + [3.0, -4.0]
    m = similarity(src, dst)
    assert np.allclose(m[:, :2], 2.5 * rotation(17)) and np.allclose(m[:, 2], [3.0, -4.0])


def test_the_fit_never_mirrors_a_face() -> None:
    src = np.random.default_rng(1).uniform(0, 100, (5, 2))
    m = similarity(src, src * [-1.0, 1.0])  # a mirror image is the best affine fit, not a similarity
    assert np.linalg.det(m[:, :2]) > 0


def test_coinciding_points_are_refused() -> None:
    with pytest.raises(ValueError, match="coincide"):
        similarity(np.ones((5, 2)), np.zeros((5, 2)))


def dotted_frame(points: np.ndarray) -> np.ndarray:
    """A dark 640x480 frame with a bright dot at each landmark."""
    frame = np.full((480, 640), 20, np.uint8)
    for x, y in points:
        cv2.circle(frame, (round(x), round(y)), 6, 255, -1)
    return frame


def dot_centres(crop: np.ndarray) -> np.ndarray:
    _, _labels, _stats, centroids = cv2.connectedComponentsWithStats((crop > 100).astype(np.uint8))
    return np.array(sorted(centroids[1:].tolist()))


def test_a_tilted_shifted_face_lands_on_the_template() -> None:
    size = 96
    policy = CropPolicy(margin=0.0, align=False, size=size, template=TEMPLATE)
    # The template's face, 200 px wide, rotated by 20 degrees and placed off-centre in the frame.
    marks = (np.asarray(TEMPLATE) - 0.5) * 200 @ rotation(20).T + [400.0, 250.0]
    face = Face((300.0, 150.0, 200.0, 200.0), 0.9, marks.astype(np.float32))
    crop = crop_face(dotted_frame(marks), face, policy)
    assert crop.shape == (size, size)
    expected = np.array(sorted((np.asarray(TEMPLATE) * size).tolist()))
    assert np.abs(dot_centres(crop) - expected).max() < 1.5  # pixels of the 96-px crop


def test_without_landmarks_or_with_degenerate_ones_the_box_is_cropped() -> None:
    policy = CropPolicy(margin=0.0, align=False, template=TEMPLATE)
    box_only = CropPolicy(margin=0.0, align=False)
    frame = np.random.default_rng(2).integers(0, 255, (480, 640), dtype=np.uint8)
    box = (200.0, 100.0, 150.0, 150.0)
    expected = crop_face(frame, Face(box, 0.9, None), box_only)
    assert np.array_equal(crop_face(frame, Face(box, 0.9, None), policy), expected)
    collapsed = np.full((5, 2), 250.0, np.float32)
    assert np.array_equal(crop_face(frame, Face(box, 0.9, collapsed), policy), expected)
