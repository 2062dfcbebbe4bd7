"""Temperature scaling: the fit finds the temperature that generated the targets, never moves an
argmax, and the calibration errors measure what they say."""

from __future__ import annotations

import numpy as np

from edge.contract import apply_temperature
from train.calibration import expected_calibration_error, fit_temperature, vote_calibration_error


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_the_fit_recovers_the_temperature_behind_the_targets() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(4000, 7))
    for true_t in (0.7, 1.0, 1.8):
        targets = softmax(logits / true_t)
        fitted = fit_temperature(softmax(logits), targets)
        assert abs(fitted - true_t) < 0.01 * true_t


def test_the_temperature_never_changes_the_predicted_class() -> None:
    probs = softmax(np.random.default_rng(1).normal(0, 2, size=(500, 7))).astype(np.float32)
    for t in (0.5, 1.3, 4.0):
        assert (apply_temperature(probs, t).argmax(1) == probs.argmax(1)).all()


def test_calibrated_confidences_have_a_small_error_and_overconfident_ones_a_large_one() -> None:
    rng = np.random.default_rng(2)
    n = 20000
    conf = rng.uniform(0.3, 1.0, n)
    correct = rng.uniform(0, 1, n) < conf  # right exactly as often as the confidence says
    probs = np.zeros((n, 2))
    probs[:, 0], probs[:, 1] = conf, 1 - conf
    labels = np.where(correct, 0, 1)
    assert expected_calibration_error(probs, labels) < 0.02
    sharp = probs.copy()
    sharp[:, 0], sharp[:, 1] = 0.99, 0.01  # claims 99 % everywhere
    assert expected_calibration_error(sharp, labels) > 0.2


def test_against_votes_a_score_should_be_the_share_of_taggers_who_agree() -> None:
    targets = np.tile([0.6, 0.4, 0.0], (100, 1))
    assert vote_calibration_error(targets, targets) < 1e-9
    assert abs(vote_calibration_error(np.tile([0.9, 0.1, 0.0], (100, 1)), targets) - 0.3) < 1e-9
