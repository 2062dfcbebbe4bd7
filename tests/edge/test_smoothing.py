"""The smoother: an exponential moving average per face, and hysteresis against flicker."""

from __future__ import annotations

import numpy as np
import pytest

from edge.smoothing import EmotionSmoother

CLASSES = ["angry", "happy", "neutral", "sad"]


def probs(**values: float) -> np.ndarray:
    p = np.array([values.get(c, 0.0) for c in CLASSES], dtype=np.float32)
    return p / p.sum()


def test_the_first_frame_of_a_face_is_taken_as_it_is() -> None:
    smoother = EmotionSmoother(CLASSES)
    out = smoother.update(1, probs(happy=0.7, neutral=0.3))
    assert out.label == "happy" and out.score == pytest.approx(0.7)


def test_probabilities_follow_an_exponential_moving_average() -> None:
    smoother = EmotionSmoother(CLASSES, alpha=0.25, hysteresis=0.0)
    a, b = probs(happy=1.0), probs(sad=1.0)
    smoother.update(1, a)
    out = smoother.update(1, b)
    assert np.allclose(out.probs, 0.75 * a + 0.25 * b)
    out = smoother.update(1, b)
    assert np.allclose(out.probs, 0.75 * (0.75 * a + 0.25 * b) + 0.25 * b)


def test_a_face_between_two_close_emotions_does_not_flicker() -> None:
    smoother = EmotionSmoother(CLASSES, alpha=0.5, hysteresis=0.1)
    frames = [probs(happy=0.46, neutral=0.54) if i % 2 else probs(happy=0.54, neutral=0.46) for i in range(40)]
    labels = [smoother.update(7, p).label for p in frames]
    raw = [CLASSES[int(p.argmax())] for p in frames]
    assert len(set(raw)) == 2  # the model's own answer alternates every frame...
    assert set(labels) == {"happy"}  # ...the smoothed one holds


def test_a_real_change_of_expression_comes_through_within_a_few_frames() -> None:
    smoother = EmotionSmoother(CLASSES, alpha=0.4, hysteresis=0.1)
    for _ in range(10):
        smoother.update(1, probs(neutral=0.8, happy=0.2))
    labels = [smoother.update(1, probs(happy=0.85, neutral=0.15)).label for _ in range(6)]
    assert labels[0] == "neutral"
    assert labels[-1] == "happy"
    assert labels.index("happy") <= 3


def test_without_hysteresis_the_label_is_the_smoothed_argmax() -> None:
    smoother = EmotionSmoother(CLASSES, alpha=1.0, hysteresis=0.0)
    for name in ("sad", "angry", "happy"):
        assert smoother.update(1, probs(**{name: 0.9, "neutral": 0.1})).label == name


def test_each_face_is_smoothed_on_its_own_and_forgotten_when_its_track_ends() -> None:
    smoother = EmotionSmoother(CLASSES, alpha=0.5)
    assert smoother.update(1, probs(happy=1.0)).label == "happy"
    assert smoother.update(2, probs(sad=1.0)).label == "sad"
    assert len(smoother) == 2
    smoother.retain([2])
    assert len(smoother) == 1
    assert smoother.update(1, probs(angry=1.0)).label == "angry"  # a new face 1 starts afresh


def test_bad_settings_are_refused_with_the_key() -> None:
    with pytest.raises(ValueError, match=r"smoother\.alpha"):
        EmotionSmoother(CLASSES, alpha=0.0)
    with pytest.raises(ValueError, match=r"smoother\.hysteresis"):
        EmotionSmoother(CLASSES, hysteresis=1.0)
