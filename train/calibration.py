"""Scores that mean what they say: one temperature, fitted on PublicTest against the FER+ votes.

Home Assistant automations threshold on ``score``, so a 0.8 should be right about 80 % of the time.
A network trained with label smoothing, class weights and soft targets is not calibrated by
construction; temperature scaling (Guo et al., ICML 2017) divides the logits by one number T fitted
on held-out data, which leaves every argmax (every published emotion) unchanged. The target here is
the ten taggers' vote distribution (what people see in a face), fitted by minimising the
cross-entropy on PublicTest; the expected calibration error is then reported on PrivateTest against
the FER+ majority label, before and after. The device applies T from the model's metadata
(``output.temperature``) in every backend.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge import paths
from edge.contract import apply_temperature
from train.dataset import LoadOptions, load_dataset

ECE_BINS = 15
T_RANGE = (0.2, 10.0)


def soft_cross_entropy(probs: npt.NDArray[np.floating[Any]], targets: npt.NDArray[np.floating[Any]]) -> float:
    return float(-(targets * np.log(np.clip(probs, 1e-12, 1.0))).sum(axis=1).mean())


def fit_temperature(probs: npt.NDArray[np.floating[Any]], targets: npt.NDArray[np.floating[Any]]) -> float:
    """The T in T_RANGE minimising the cross-entropy against ``targets`` (golden-section search on
    log T; the loss is convex in 1/T for a fixed set of logits)."""
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    golden = (math.sqrt(5) - 1) / 2

    def loss(log_t: float) -> float:
        return soft_cross_entropy(apply_temperature(probs, math.exp(log_t)), targets)

    a, b = lo + (1 - golden) * (hi - lo), lo + golden * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - golden) * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + golden * (hi - lo)
            fb = loss(b)
    return round(math.exp((lo + hi) / 2), 4)


def expected_calibration_error(
    probs: npt.NDArray[np.floating[Any]], labels: npt.NDArray[np.int64], bins: int = ECE_BINS
) -> float:
    """Top-1 confidence against top-1 correctness in equal-width bins, weighted by the bins' sizes."""
    pred = probs.argmax(axis=1)
    return _binned_gap(probs.max(axis=1), (pred == labels).astype(np.float64), bins)


def vote_calibration_error(
    probs: npt.NDArray[np.floating[Any]], targets: npt.NDArray[np.floating[Any]], bins: int = ECE_BINS
) -> float:
    """The same with the share of taggers who chose the predicted class in place of correctness:
    a score of 0.6 should mean that six people in ten see that emotion."""
    pred = probs.argmax(axis=1)
    return _binned_gap(probs.max(axis=1), targets[np.arange(len(pred)), pred].astype(np.float64), bins)


def _binned_gap(conf: npt.NDArray[np.floating[Any]], correct: npt.NDArray[np.float64], bins: int) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return float(ece)


@dataclass
class Calibration:
    temperature: float
    fitted_on: str
    val_rows: int
    val_nll_before: float
    val_nll_after: float
    test_rows: int
    test_ece_before: float
    test_ece_after: float
    test_vote_ece_before: float
    test_vote_ece_after: float
    test_nll_before: float
    test_nll_after: float

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}

    def format(self) -> str:
        return (
            f"temperature {self.temperature:.4f}, fitted on {self.fitted_on} ({self.val_rows} rows; cross-entropy "
            f"against the FER+ votes {self.val_nll_before:.4f} -> {self.val_nll_after:.4f})\n"
            f"PrivateTest, FER+ majority label ({self.test_rows} rows): expected calibration error "
            f"{100 * self.test_ece_before:.2f} % -> {100 * self.test_ece_after:.2f} % ({ECE_BINS} bins); against "
            f"the share of taggers who chose the predicted class {100 * self.test_vote_ece_before:.2f} % -> "
            f"{100 * self.test_vote_ece_after:.2f} %; "
            f"cross-entropy against the votes {self.test_nll_before:.4f} -> {self.test_nll_after:.4f}"
        )


def raw_probabilities(model: Path, images: npt.NDArray[np.uint8]) -> tuple[list[str], npt.NDArray[np.float64]]:
    """The network's own probabilities, before any temperature its metadata already carries, so
    fitting again starts from the same output."""
    from edge.classify import OnnxRuntimeClassifier

    classifier = OnnxRuntimeClassifier(model, providers=["CPUExecutionProvider"])
    info = classifier.info
    out = []
    for i in range(0, len(images), 512):
        (probs,) = classifier.session.run(
            [info.output_name], {info.input_name: info.preprocessing.apply(images[i : i + 512])}
        )
        out.append(np.asarray(probs, dtype=np.float64))
    return list(info.classes), np.concatenate(out)


def calibrate(model: Path, data: str, votes: str) -> Calibration:
    """Fit T on PublicTest against the vote distributions; report ECE on PrivateTest before and after."""
    from edge.model_meta import read_onnx_metadata
    from train.ferplus import majority_labels, read_votes, soft_targets, votes_for
    from train.landmarks import for_crop

    info = read_onnx_metadata(str(model))
    classes = info.classes
    dataset = for_crop(load_dataset(data, LoadOptions()).for_model(classes), info.crop, Path(paths.DEV_YUNET))
    table = read_votes(votes)
    index = votes_for(dataset, table)
    _, probs = raw_probabilities(model, dataset.images)
    targets, keep, _ = soft_targets(table.counts[index], table.dropped[index], classes)
    val = (dataset.splits == "val") & keep
    t = fit_temperature(probs[val], targets[val])
    test = dataset.splits == "test"
    labels, _ = majority_labels(table.counts[index][test], table.dropped[index][test], classes)
    scored = labels >= 0
    test_probs, test_labels = probs[test][scored], labels[scored]
    test_targets = targets[test][scored]
    after_val, after_test = apply_temperature(probs[val], t), apply_temperature(test_probs, t)
    return Calibration(
        temperature=t,
        fitted_on="PublicTest",
        val_rows=int(val.sum()),
        val_nll_before=soft_cross_entropy(probs[val], targets[val]),
        val_nll_after=soft_cross_entropy(after_val, targets[val]),
        test_rows=int(scored.sum()),
        test_ece_before=expected_calibration_error(test_probs, test_labels),
        test_ece_after=expected_calibration_error(after_test, test_labels),
        test_vote_ece_before=vote_calibration_error(test_probs, test_targets),
        test_vote_ece_after=vote_calibration_error(after_test, test_targets),
        test_nll_before=soft_cross_entropy(test_probs, test_targets),
        test_nll_after=soft_cross_entropy(after_test, test_targets),
    )
