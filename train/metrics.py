"""Classification report: top-1, macro-F1, per-class precision/recall, confusion matrix, plots."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass
class Report:
    split: str
    n: int
    top1: float
    macro_f1: float
    class_names: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    top1_flip_tta: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        lines = [f"split {self.split}: {self.n} images"]
        lines.append(f"top-1     {100 * self.top1:6.2f} %")
        if self.top1_flip_tta is not None:
            lines.append(f"top-1 TTA {100 * self.top1_flip_tta:6.2f} %  (mean of image and its mirror)")
        lines.append(f"macro-F1  {100 * self.macro_f1:6.2f} %")
        lines.append("")
        lines.append(f"{'class':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
        for i, name in enumerate(self.class_names):
            lines.append(
                f"{name:<12}{100 * self.precision[i]:>9.1f}%{100 * self.recall[i]:>9.1f}%"
                f"{100 * self.f1[i]:>9.1f}%{self.support[i]:>9}"
            )
        lines.append("")
        lines.append("confusion (rows true, columns predicted):")
        lines.append(" " * 12 + "".join(f"{n[:7]:>8}" for n in self.class_names))
        for i, name in enumerate(self.class_names):
            lines.append(f"{name:<12}" + "".join(f"{v:>8}" for v in self.confusion[i]))
        return "\n".join(lines)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def compute_report(
    split: str,
    labels: npt.NDArray[np.int64],
    probs: npt.NDArray[np.float32],
    class_names: list[str] | tuple[str, ...],
    probs_flipped: npt.NDArray[np.float32] | None = None,
) -> Report:
    k = len(class_names)
    pred = probs.argmax(axis=1)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    tp = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    present = support > 0
    tta = None
    if probs_flipped is not None:
        tta = float(((probs + probs_flipped).argmax(axis=1) == labels).mean())
    return Report(
        split=split,
        n=len(labels),
        top1=float((pred == labels).mean()),
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        class_names=list(class_names),
        precision=precision.tolist(),
        recall=recall.tolist(),
        f1=f1.tolist(),
        support=support.astype(int).tolist(),
        confusion=confusion.astype(int).tolist(),
        top1_flip_tta=tta,
    )


def plot_confusion(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(report.confusion, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(report.class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * k, 0.8 + 0.8 * k))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), report.class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), report.class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{100 * norm[i, j]:.0f}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_title(f"{report.split}: top-1 {100 * report.top1:.1f}%, row-normalised %")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], label="train loss")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], label="val loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.legend()
    ax_acc.plot(epochs, [100 * r["train_top1"] for r in rows], label="train top-1 (augmented)")
    ax_acc.plot(epochs, [100 * r["val_top1"] for r in rows], label="val top-1")
    if rows and "val_top1_ema" in rows[0]:
        ax_acc.plot(epochs, [100 * r["val_top1_ema"] for r in rows], label="val top-1 (EMA)")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("%")
    ax_acc.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
