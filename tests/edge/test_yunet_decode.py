"""YuNet's outputs decoded as OpenCV's FaceDetectorYN decodes them: priors, scores, boxes, landmarks, NMS.

These build the twelve outputs by hand, so each rule is seen alone; tests/edge/test_yunet_net.py
checks the whole against FaceDetectorYN on real photos.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.yunet_decode import OUTPUT_NAMES, STRIDES, anchors, decode, nms, padded_size, to_blob

W, H = 64, 32  # a padded input: stride 8 is 8 x 4 cells, 16 is 4 x 2, 32 is 2 x 1


def blank(width: int = W, height: int = H) -> dict[str, np.ndarray]:
    """Outputs where nothing scores: every anchor's cls and obj 0."""
    out = {}
    for name in OUTPUT_NAMES:
        part, stride = name.split("_")
        cells = (width // int(stride)) * (height // int(stride))
        out[name] = np.zeros((1, cells, {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}[part]), np.float32)
    return out


def put(
    out: dict[str, np.ndarray], stride: int, col: int, row: int, cls: float, obj: float, bbox=(0, 0, 0, 0), kps=None
):  # type: ignore[no-untyped-def]
    idx = row * (W // stride) + col  # row-major, as the network lays its grid out
    out[f"cls_{stride}"][0, idx, 0] = cls
    out[f"obj_{stride}"][0, idx, 0] = obj
    out[f"bbox_{stride}"][0, idx] = bbox
    out[f"kps_{stride}"][0, idx] = np.zeros(10) if kps is None else kps


def test_the_input_is_padded_to_a_multiple_of_32_as_set_input_size_does() -> None:
    assert padded_size(320, 240) == (320, 256)
    assert padded_size(1, 1) == (32, 32)
    assert padded_size(33, 64) == (64, 64)
    assert anchors(320, 256) == 40 * 32 + 20 * 16 + 10 * 8


def test_the_blob_is_bgr_float_nchw_with_zeros_bottom_and_right() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    blob = to_blob(image, 32, 32)
    assert blob.shape == (1, 3, 32, 32) and blob.dtype == np.float32
    assert np.array_equal(blob[0, :, :2, :3], image.transpose(2, 0, 1))  # channels kept in BGR order
    assert not blob[0, :, 2:, :].any() and not blob[0, :, :, 3:].any()


def test_nothing_above_the_threshold_is_no_face() -> None:
    out = blank()
    put(out, 8, 1, 1, cls=0.5, obj=0.5)  # score 0.5
    assert decode(out, W, H, 0.7, 0.3).shape == (0, 15)


def test_a_face_is_decoded_from_its_cell_box_and_landmarks() -> None:
    out = blank()
    kps = [0.1, 0.2, 0.9, 0.2, 0.5, 0.6, 0.2, 1.0, 0.8, 1.0]
    put(out, 16, 3, 1, cls=0.9, obj=0.9, bbox=(0.5, 0.25, np.log(2), np.log(3)), kps=kps)
    (row,) = decode(out, W, H, 0.7, 0.3)
    # Centre (3.5, 1.25) cells of 16 px = (56, 20); size 2 x 3 cells = 32 x 48; top left (40, -4).
    assert row[:4] == pytest.approx([40, -4, 32, 48], abs=1e-4)
    expected = (np.array(kps).reshape(5, 2) + np.array([3, 1])) * 16
    assert row[4:14] == pytest.approx(expected.ravel(), abs=1e-4)
    assert row[14] == pytest.approx(0.9)


def test_the_score_is_the_root_of_cls_times_obj_each_clipped_to_0_1() -> None:
    out = blank()
    put(out, 8, 0, 0, cls=1.7, obj=0.64)  # cls counts as 1
    put(out, 32, 1, 0, cls=0.9, obj=-0.2)  # obj counts as 0
    rows = decode(out, W, H, 0.5, 0.3)
    assert len(rows) == 1 and rows[0, 14] == pytest.approx(0.8)


def test_overlapping_boxes_keep_the_best_and_distant_ones_stay_best_first() -> None:
    out = blank()
    put(out, 8, 2, 1, cls=0.8, obj=0.8, bbox=(0, 0, np.log(3), np.log(3)))
    put(out, 8, 3, 1, cls=0.95, obj=0.95, bbox=(-0.5, 0, np.log(3), np.log(3)))  # 4 px beside it
    put(out, 8, 7, 3, cls=0.85, obj=0.85, bbox=(0, 0, np.log(1), np.log(1)))  # far away
    rows = decode(out, W, H, 0.7, 0.3)
    assert rows[:, 14] == pytest.approx([0.95, 0.85])
    assert rows[0, 0] == pytest.approx((3 - 0.5) * 8 - 12)


def test_nms_compares_boxes_truncated_toward_zero_and_keeps_an_overlap_at_the_threshold() -> None:
    scores = np.array([0.9, 0.8, 0.75], np.float32)
    # Box 1 truncates to (0, 0, 10, 10): IoU with box 0 (0, 0, 10, 20) is exactly 0.5: kept at 0.5.
    # Box 2 truncates to (-1, 0, 10, 20) (C's int(-1.7) is -1): IoU 9 * 20 / (400 - 180) > 0.5: dropped.
    boxes = np.array([[0.4, 0.9, 10.2, 20.9], [0.9, 0.2, 10.9, 10.5], [-1.7, 0.0, 10.3, 20.0]], np.float32)
    assert list(nms(boxes, scores, 0.5, 0.5)) == [0, 1]
    assert list(nms(boxes, scores, 0.5, 0.49)) == [0]


def test_nms_takes_only_the_top_k_candidates_and_keeps_grid_order_on_ties() -> None:
    boxes = np.array([[0, 0, 5, 5], [20, 0, 5, 5], [40, 0, 5, 5], [60, 0, 5, 5]], np.float32)
    scores = np.array([0.8, 0.9, 0.8, 0.7], np.float32)
    assert list(nms(boxes, scores, 0.5, 0.3)) == [1, 0, 2, 3]
    assert list(nms(boxes, scores, 0.5, 0.3, top_k=2)) == [1, 0]
    assert list(nms(boxes, scores, 0.75, 0.3)) == [1, 0, 2]  # strictly above the threshold


def test_outputs_for_another_input_size_are_refused_naming_the_output() -> None:
    out = blank(W, 64)
    with pytest.raises(ValueError, match=r"output cls_8 has 64 anchors, a 64x32 input has 32"):
        decode(out, W, H, 0.7, 0.3)


def test_every_stride_is_read() -> None:
    for stride in STRIDES:
        out = blank()
        put(out, stride, 0, 0, cls=0.9, obj=0.9)
        (row,) = decode(out, W, H, 0.7, 0.3)
        assert row[2] == pytest.approx(stride)  # exp(0) cells of this stride
