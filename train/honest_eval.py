"""The honest figures of a model (issue #16), printed by ``evaluate --votes FILE [--wild DIR]``.

For one FER2013 split (PrivateTest by default, PublicTest for selection):

1. top-1 against FER2013's own labels, single crop and with flip TTA;
2. the same without the images that have a pixel-identical twin in Training (train/duplicates.py);
3. top-1 against the FER+ majority label (train/ferplus.py's rules; excluded rows counted), and on
   the rows where that label and FER2013's agree (with how the rows where they disagree were
   answered: one prediction cannot be right on both there, which caps the sum of the two top-1s);
4. the whole device pipeline (YuNet, the model's crop policy, the model) on labelled real photos,
   with a 95 % Wilson confidence interval;

each with per-class recall.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge import paths
from edge.contract import CropPolicy
from train.dataset import VOTE_ONLY_CLASSES, LoadOptions, load_dataset


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % (z = 1.96) Wilson score interval of a proportion; (0, 1) for n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Figure:
    """One top-1 figure with its counts and per-class recall (None for a class with no image)."""

    name: str
    correct: int
    n: int
    recall: dict[str, float | None]
    support: dict[str, int]
    excluded: dict[str, int] = field(default_factory=dict)
    flip_top1: float | None = None
    ci95: tuple[float, float] | None = None

    @property
    def top1(self) -> float:
        return self.correct / max(1, self.n)

    def lines(self) -> list[str]:
        head = f"{self.name}: top-1 {100 * self.top1:.2f} % ({self.correct}/{self.n})"
        if self.flip_top1 is not None:
            head += f", flip TTA {100 * self.flip_top1:.2f} %"
        if self.ci95 is not None:
            head += f", 95 % CI {100 * self.ci95[0]:.1f}-{100 * self.ci95[1]:.1f} %"
        out = [head]
        if self.excluded:
            counts = "; ".join(f"{n} {why}" for why, n in self.excluded.items() if n)
            if counts:
                out.append(f"  counts: {counts}")
        out.append(
            "  recall: "
            + ", ".join(
                f"{c} {'-' if r is None else f'{100 * r:.1f} %'} (of {self.support[c]})" for c, r in self.recall.items()
            )
        )
        return out


def figure(
    name: str,
    labels: npt.NDArray[np.int64],
    predicted: npt.NDArray[np.int64],
    class_names: list[str],
    flip_predicted: npt.NDArray[np.int64] | None = None,
    excluded: dict[str, int] | None = None,
    with_ci: bool = False,
) -> Figure:
    recall: dict[str, float | None] = {}
    support: dict[str, int] = {}
    for i, c in enumerate(class_names):
        mask = labels == i
        support[c] = int(mask.sum())
        recall[c] = float((predicted[mask] == i).mean()) if mask.any() else None
    correct = int((predicted == labels).sum())
    flip = float((flip_predicted == labels).mean()) if flip_predicted is not None and len(labels) else None
    ci = wilson_interval(correct, len(labels)) if with_ci else None
    return Figure(name, correct, len(labels), recall, support, excluded or {}, flip, ci)


@dataclass
class HonestReport:
    model: str
    split: str
    figures: list[Figure]

    def format(self) -> str:
        lines = [f"honest figures of {self.model} ({self.split}):"]
        for f in self.figures:
            lines += f.lines()
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "split": self.split,
            "figures": [{**asdict(f), "top1": f.top1} for f in self.figures],
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> HonestReport:
        """A report ``save`` (or ``evaluate --figures-json``) wrote."""
        try:
            data = json.loads(path.read_text())
            names = {f.name for f in fields(Figure)}
            figures = []
            for f in data["figures"]:
                f = {k: v for k, v in f.items() if k in names}
                if f.get("ci95") is not None:
                    f["ci95"] = tuple(f["ci95"])
                figure = Figure(**f)
                if not (isinstance(figure.name, str) and isinstance(figure.correct, int) and isinstance(figure.n, int)):
                    raise TypeError(f"figure {figure.name!r}: name, correct and n must be text and counts")
                if not (isinstance(figure.recall, dict) and isinstance(figure.support, dict)):
                    raise TypeError(f"figure {figure.name!r}: recall and support must be tables of classes")
                figures.append(figure)
            return cls(str(data["model"]), str(data["split"]), figures)
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: cannot be read ({exc})") from None
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(
                f"{path}: not a figures file of `emotion-edge evaluate --votes ... --figures-json` ({what}); "
                "write it again with that command"
            ) from None


def crop_words(policy: CropPolicy) -> str:
    box = "eye alignment" if policy.align else "no rotation"
    return f"five-point alignment, else {box}" if policy.template is not None else box


def honest_figures(
    model: Path,
    data: str,
    votes: str | None,
    split: str = "test",
    wild: Path | None = None,
    yunet: Path | None = None,
    duplicates: Path | None = None,
    skip_bad: bool = False,
    policy: CropPolicy | None = None,
) -> HonestReport:
    """``policy`` overrides the model's crop policy on ``wild`` (a checkpoint carries the training
    default, not the one its export will record)."""
    from train.duplicates import DUPLICATES_FILE, read_duplicates
    from train.evaluate import checkpoint_predictor, onnx_predictor, policy_of

    classes, predict = onnx_predictor(model) if model.suffix == ".onnx" else checkpoint_predictor(model)
    classes = list(classes)
    from train.landmarks import for_crop

    dataset = load_dataset(data, LoadOptions(skip_bad=skip_bad))
    dataset = for_crop(dataset.for_model(classes), policy or policy_of(model), yunet or Path(paths.DEV_YUNET))
    mask = dataset.splits == split
    images, labels, rows = dataset.images[mask], dataset.labels[mask], dataset.row_index()[mask]
    probs = np.concatenate([predict(images[i : i + 512]) for i in range(0, len(images), 512)])
    mirrored = np.ascontiguousarray(images[:, :, ::-1])
    flipped = np.concatenate([predict(mirrored[i : i + 512]) for i in range(0, len(images), 512)])
    pred, pred_flip = probs.argmax(1), (probs + flipped).argmax(1)
    usage = {"val": "PublicTest", "test": "PrivateTest", "train": "Training"}[split]
    figures = [figure(f"FER2013 {usage}, FER2013 labels", labels, pred, classes, pred_flip)]

    dup_rows = {r for r, u in read_duplicates(duplicates or DUPLICATES_FILE).items() if u == usage}
    keep = np.array([int(r) not in dup_rows for r in rows])
    figures.append(
        figure(
            f"FER2013 {usage} without Training duplicates, FER2013 labels",
            labels[keep],
            pred[keep],
            classes,
            pred_flip[keep],
            {"pixel-identical to a Training image": int((~keep).sum())},
        )
    )

    if votes:
        from train.ferplus import majority_labels, read_votes, votes_for

        table = read_votes(votes)
        index = votes_for(dataset, table)[mask]
        fer_labels, reasons = majority_labels(table.counts[index], table.dropped[index], classes)
        counted = fer_labels >= 0
        figures.append(
            figure(
                f"FER+ {usage}, majority label",
                fer_labels[counted],
                pred[counted],
                classes,
                pred_flip[counted],
                reasons,
            )
        )
        # Where the two label sets agree a model can be right on both; where they disagree, on one
        # at most: FER2013 top-1 + FER+ top-1 <= 1 + the share of agreeing rows.
        agree = counted & (fer_labels == labels)
        disagree = counted & ~agree
        figures.append(
            figure(
                f"{usage} rows where FER2013 and FER+ majority labels agree",
                labels[agree],
                pred[agree],
                classes,
                pred_flip[agree],
                {
                    "rows where they disagree": int(disagree.sum()),
                    "of those answered with FER2013's label": int((pred[disagree] == labels[disagree]).sum()),
                    "with FER+'s": int((pred[disagree] == fer_labels[disagree]).sum()),
                },
            )
        )
        vote_only = [i for i, c in enumerate(classes) if c in VOTE_ONLY_CLASSES]
        if vote_only:
            # A model with contempt is compared with seven-class models on their rows: the same
            # images, its contempt answers counted as wrong.
            seven = counted & ~np.isin(fer_labels, vote_only)
            figures.append(
                figure(
                    f"FER+ {usage}, majority label, rows of the seven FER2013 classes",
                    fer_labels[seven],
                    pred[seven],
                    classes,
                    pred_flip[seven],
                    {"majority label contempt": int((counted & ~seven).sum())},
                )
            )

    if wild is not None:
        from train.wild_eval import wild_predictions

        if yunet is None:
            raise ValueError("--wild needs the YuNet model (--yunet)")
        policy = policy or policy_of(model)
        wild_labels, wild_pred, skipped = wild_predictions(wild, yunet, predict, classes, policy)
        excluded = {"photos of a class the model lacks": skipped}
        no_face = int((wild_pred < 0).sum())
        fig = figure(
            f"whole pipeline on {wild} (YuNet, crop margin {policy.margin:g}, "
            f"{crop_words(policy)}; no face found counts as wrong: {no_face})",
            wild_labels,
            wild_pred,
            classes,
            excluded=excluded,
            with_ci=True,
        )
        figures.append(fig)
    return HonestReport(str(model), usage, figures)
