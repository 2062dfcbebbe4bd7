"""What the loop hands on: the main face of a frame."""

from __future__ import annotations

from edge.results import FaceResult, FrameResult


def face(face_id: int, size: int) -> FaceResult:
    return FaceResult(face_id, (0, 0, size, size), "neutral", 0.8, {"neutral": 0.8})


def frame(*faces: FaceResult, main_id: int | None = None) -> FrameResult:
    return FrameResult(0, 0.0, 640, 480, faces, main_id=main_id)


def test_the_main_face_is_the_one_the_pipeline_chose() -> None:
    assert frame(face(1, 100), face(2, 120), main_id=1).main_face == face(1, 100)


def test_without_a_choice_the_main_face_is_the_largest() -> None:
    assert frame(face(1, 100), face(2, 120)).main_face == face(2, 120)


def test_a_chosen_face_not_in_the_frame_falls_back_to_the_largest() -> None:
    assert frame(face(1, 100), face(2, 120), main_id=7).main_face == face(2, 120)
    assert frame(main_id=7).main_face is None
