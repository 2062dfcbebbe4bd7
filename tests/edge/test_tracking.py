"""The IoU tracker: stable ids for moving faces, a grace period for missed ones, never a reused id."""

from __future__ import annotations

import pytest

from edge.tracking import IouTracker, iou

DT = 1 / 30


def test_iou_of_boxes() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0  # touching edges share no area


def test_a_face_moving_steadily_keeps_its_id() -> None:
    tracker = IouTracker()
    ids = [tracker.update([(100 + 3 * t, 80 + t, 60, 60)], t * DT)[0] for t in range(60)]
    assert set(ids) == {1}


def test_two_faces_keep_their_own_ids_whatever_the_detection_order() -> None:
    tracker = IouTracker()
    left, right = (50, 100, 80, 80), (400, 100, 80, 80)
    assert tracker.update([left, right], 0.0) == [1, 2]
    # Detectors order faces by size, which changes from frame to frame.
    assert tracker.update([(402, 101, 80, 80), (52, 100, 80, 80)], DT) == [2, 1]


def test_a_new_face_gets_a_new_id_and_the_others_keep_theirs() -> None:
    tracker = IouTracker()
    tracker.update([(50, 50, 60, 60)], 0.0)
    assert tracker.update([(52, 50, 60, 60), (300, 200, 60, 60)], DT) == [1, 2]


def test_a_face_missed_briefly_keeps_its_id_within_the_grace_period() -> None:
    tracker = IouTracker(grace_s=0.5)
    box = (200, 150, 70, 70)
    tracker.update([box], 0.0)
    for t in range(1, 10):  # 0.3 s without the face: a detector miss, a hand in front
        tracker.update([], t * DT)
    assert tracker.update([box], 10 * DT) == [1]


def test_a_face_gone_longer_than_the_grace_period_comes_back_as_a_new_face() -> None:
    tracker = IouTracker(grace_s=0.5)
    box = (200, 150, 70, 70)
    tracker.update([box], 0.0)
    tracker.update([], 0.4)
    assert tracker.active_ids == {1}
    assert tracker.update([box], 0.6) == [2]
    assert tracker.active_ids == {2}


def test_a_jump_across_the_frame_is_another_face() -> None:
    tracker = IouTracker(iou_threshold=0.3)
    tracker.update([(0, 0, 50, 50)], 0.0)
    assert tracker.update([(400, 300, 50, 50)], DT) == [2]


def test_one_detection_is_never_given_two_tracks() -> None:
    tracker = IouTracker()
    tracker.update([(100, 100, 60, 60), (130, 100, 60, 60)], 0.0)  # two overlapping faces
    ids = tracker.update([(115, 100, 60, 60)], DT)  # now only one is detected, between them
    assert len(ids) == 1 and ids[0] in (1, 2)


def test_bad_settings_are_refused_with_the_key() -> None:
    with pytest.raises(ValueError, match=r"tracker\.iou_threshold"):
        IouTracker(iou_threshold=0.0)
    with pytest.raises(ValueError, match=r"tracker\.grace_s"):
        IouTracker(grace_s=-1)


def test_between_detections_a_face_is_carried_along_its_velocity() -> None:
    tracker = IouTracker()
    tracker.update([(100, 100, 60, 60)], 0.0)
    tracker.update([(106, 103, 60, 60)], 3 * DT)  # 2 px and 1 px a frame
    ((face_id, box),) = tracker.visible(5 * DT)
    assert face_id == 1 and box == pytest.approx((110, 105, 60, 60))


def test_boxes_held_still_when_asked() -> None:
    tracker = IouTracker(carry_velocity=False)
    tracker.update([(100, 100, 60, 60)], 0.0)
    tracker.update([(106, 103, 60, 60)], 3 * DT)
    assert tracker.visible(5 * DT) == [(1, (106, 103, 60, 60))]


def test_a_jump_gives_no_velocity_and_a_face_missed_at_the_last_detection_is_not_carried() -> None:
    tracker = IouTracker()
    tracker.update([(100, 100, 60, 60), (400, 100, 60, 60)], 0.0)
    tracker.update([(125, 100, 60, 60)], 3 * DT)  # the first moved a lot; the second was missed
    assert tracker.visible(5 * DT) == [(1, (125, 100, 60, 60))]
    assert tracker.active_ids == {1, 2}  # the missed one keeps its id for its grace period
