"""Picks the run to ship among finished runs, by the protocol's one criterion: the best PublicTest
(val) top-1 recorded in each run's summary.json. Test figures play no part.

``python -m train.select runs/release-s*-ens`` prints the winner's best.pt (for ``make export``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


class SelectError(ValueError):
    """A run directory cannot take part; the message names it and what to do."""


def val_top1(run: Path) -> float:
    summary = run / "summary.json"
    if not (run / "best.pt").is_file() or not summary.is_file():
        raise SelectError(f"{run}: no finished run there (needs best.pt and summary.json); train it or leave it out")
    try:
        return float(json.loads(summary.read_text())["val_top1"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SelectError(f"{summary}: no val_top1 in it ({exc}); was it written by emotion-edge train?") from exc


def select(runs: list[Path]) -> Path:
    """The best.pt of the run with the highest val top-1; the first named wins a tie."""
    if not runs:
        raise SelectError("no runs given: name the run directories to choose from")
    scores = [(val_top1(run), -i, run) for i, run in enumerate(runs)]
    return max(scores)[2] / "best.pt"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    runs = [Path(a) for a in args]
    try:
        best = select(runs)
    except SelectError as exc:
        print(f"train.select: {exc}", file=sys.stderr)
        return 2
    for run in runs:
        print(f"{run}: val top-1 {100 * val_top1(run):.2f} %", file=sys.stderr)
    print(best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
