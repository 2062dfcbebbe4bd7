"""Prints the measured tables of a model card from a training run's artefacts, so the card's
figures are copied by a program, not by hand: ``python -m export.model_card runs/release``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def load(run: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    report = json.loads((run / "report.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    return report, summary, rows


def card_tables(run: Path) -> str:
    report, summary, rows = load(run)
    names = report["class_names"]
    out = [
        f"- PrivateTest ({report['n']} images), single crop: top-1 **{100 * report['top1']:.2f} %**, "
        f"macro-F1 {100 * report['macro_f1']:.2f} %",
        f"- with horizontal-flip TTA (mean of image and mirror): top-1 {100 * report['top1_flip_tta']:.2f} %",
        f"- selected on PublicTest: epoch {summary['best_epoch']} of {summary['epochs_run']}, "
        f"val top-1 {100 * summary['val_top1']:.2f} %",
        f"- {summary['params']:,} parameters, {summary['macs'] / 1e6:.1f} M multiply-accumulates per 48x48 face",
        f"- training time {summary['train_seconds'] / 60:.0f} min on {summary['device']} "
        f"({summary['threads']} threads)",
        "",
        "| class | train images | precision | recall | F1 | test images |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for i, name in enumerate(names):
        out.append(
            f"| {name} | {summary['class_counts_train'][name]} | {100 * report['precision'][i]:.1f} % | "
            f"{100 * report['recall'][i]:.1f} % | {100 * report['f1'][i]:.1f} % | {report['support'][i]} |"
        )
    out += ["", "Confusion matrix (rows: true class, columns: predicted), PrivateTest:", ""]
    out.append("| true \\ predicted | " + " | ".join(names) + " |")
    out.append("|---|" + "---:|" * len(names))
    for i, name in enumerate(names):
        out.append(f"| {name} | " + " | ".join(str(v) for v in report["confusion"][i]) + " |")
    best = max(rows, key=lambda r: r.get("val_top1_ema", r["val_top1"]))
    raw_best = max(r["val_top1"] for r in rows)
    if "val_top1_ema" in best:
        half = len(rows) // 2
        lead = [100 * (r["val_top1_ema"] - r["val_top1"]) for r in rows]
        out += [
            "",
            f"EMA of weights: best val top-1 {100 * best['val_top1_ema']:.2f} % (EMA) vs "
            f"{100 * raw_best:.2f} % (raw weights), over the same run; the EMA led the raw weights by "
            f"{sum(lead[:half]) / max(1, half):+.2f} points on average over epochs 1-{half} and by "
            f"{sum(lead[half:]) / max(1, len(rows) - half):+.2f} over epochs {half + 1}-{len(rows)}.",
        ]
    return "\n".join(out)


if __name__ == "__main__":
    print(card_tables(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/release")))
