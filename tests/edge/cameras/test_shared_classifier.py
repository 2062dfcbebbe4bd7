"""One classifier for every camera: each camera gets the answers it would get alone, the cameras
that wait together are answered by one call, and one camera's bad request fails only itself."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from edge.cameras.shared_classifier import SharedClassifier
from edge.classify import OnnxRuntimeClassifier

pytestmark = pytest.mark.shared


class HeldFirstCall:
    """The real classifier, except that its first call waits until ``waiting`` more cameras have asked:
    the moment several cameras have faces ready while the model is busy, made certain."""

    def __init__(self, inner: OnnxRuntimeClassifier, shared: list[SharedClassifier], waiting: int) -> None:
        self.inner, self.shared, self.waiting = inner, shared, waiting
        self.info, self.backend, self.reason = inner.info, inner.backend, inner.reason
        self.batch_sizes: list[int] = []

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        if not self.batch_sizes:
            deadline = threading.Event()
            for _ in range(1000):  # up to 10 s: a bound for a loaded or emulated machine, not a speed
                if len(self.shared[0]._pending) >= self.waiting:
                    break
                deadline.wait(0.01)
        self.batch_sizes.append(len(crops))
        return self.inner.predict(crops)

    def close(self) -> None:
        self.inner.close()


def call_from_threads(shared: SharedClassifier, parts: list[np.ndarray]) -> list[np.ndarray | BaseException]:
    out: list[np.ndarray | BaseException] = [np.empty(0)] * len(parts)

    def camera(i: int) -> None:
        try:
            out[i] = shared.predict(parts[i])
        except BaseException as exc:
            out[i] = exc

    threads = [threading.Thread(target=camera, args=(i,)) for i in range(len(parts))]
    threads[0].start()
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_cameras_waiting_together_are_answered_by_one_call_each_with_its_own_faces(
    shipped_model: Path, real_face_crops: np.ndarray
) -> None:
    alone = OnnxRuntimeClassifier(shipped_model)
    holder: list[SharedClassifier] = []
    held = HeldFirstCall(OnnxRuntimeClassifier(shipped_model), holder, waiting=3)
    shared = SharedClassifier(held)
    holder.append(shared)
    parts = [real_face_crops[:2], real_face_crops[2:3], real_face_crops[3:6], real_face_crops[6:8]]
    answers = call_from_threads(shared, parts)
    for part, answer in zip(parts, answers):
        assert isinstance(answer, np.ndarray) and answer.shape == (len(part), len(alone.info.classes))
        assert np.allclose(answer, alone.predict(part), atol=1e-5)
    # The first camera's call ran alone; the three that waited behind it went through together.
    assert held.batch_sizes == [2, 6]
    assert shared.figures.requests == {1: 1, 3: 1} and shared.figures.calls == 2


def test_a_camera_alone_calls_the_model_at_once_and_a_large_batch_is_split_at_the_engines_limit(
    shipped_model: Path, real_face_crops: np.ndarray
) -> None:
    inner = OnnxRuntimeClassifier(shipped_model)
    shared = SharedClassifier(inner, max_batch=3)
    faces = real_face_crops[:8]
    assert np.allclose(shared.predict(faces), inner.predict(faces), atol=1e-5)
    assert shared.figures.calls == 3 and shared.figures.requests == {1: 1}  # 3 + 3 + 2 faces
    assert shared.info is inner.info and shared.backend == inner.backend and shared.path == inner.path


def test_one_cameras_bad_request_fails_only_that_camera(shipped_model: Path, real_face_crops: np.ndarray) -> None:
    holder: list[SharedClassifier] = []
    held = HeldFirstCall(OnnxRuntimeClassifier(shipped_model), holder, waiting=2)
    shared = SharedClassifier(held)
    holder.append(shared)
    wrong = np.zeros((2, 64, 64), np.uint8)  # not the model's 48x48 crop
    good = real_face_crops[:2]
    answers = call_from_threads(shared, [good, wrong, good])
    assert isinstance(answers[0], np.ndarray) and isinstance(answers[2], np.ndarray)
    assert np.allclose(answers[0], answers[2])
    assert isinstance(answers[1], Exception)
    # The model still answers afterwards.
    assert shared.predict(good).shape == (2, len(shared.info.classes))
