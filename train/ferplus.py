"""FER+ labels (Barsoum et al., 2016): ten taggers' votes per FER2013 image, joined by CSV row.

The votes file (``fer2013new.csv`` of the FERPlus repository) has one row per row of the original
``fer2013.csv``, in the same order: columns ``Usage``, ``Image name`` and the vote counts for
``neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF``.

Rules (the same for training targets and for evaluation, documented in models/README.md):

- **Soft target** of an image: its votes for the model's classes, divided by their sum. Votes for
  ``unknown`` and ``NF`` (not a face) are not emotions and are left out; so are ``contempt`` votes
  for a model without a ``contempt`` class (FER2013's seven), rather than being moved to another
  class.
- **Left out of training** (and counted): rows FER+ dropped (empty ``Image name``), rows whose
  most-voted column is ``NF`` (ties included: not a face), and rows with no vote for any of the
  model's classes.
- **Majority label** (the FER+ benchmark): the most-voted of the ten columns, a tie going to the
  first tied column in the file's order (neutral, happiness, ...; the tied rows are counted). A
  row counts only when that column is an emotion the model has: dropped rows, rows whose top
  column is ``unknown`` or ``NF`` and, for a model without ``contempt``, rows whose top column is
  ``contempt`` are excluded, each counted. (This is the rule behind the 64.8 % that issue #16
  quotes for 1.2.0 on PrivateTest: 3,519 rows.)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from train.dataset import CSV_USAGE, DatasetError, FaceDataset

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
# FER+ column -> the class name the project uses (FER2013's names, plus contempt).
CLASS_OF_COLUMN = {
    "neutral": "neutral",
    "happiness": "happy",
    "surprise": "surprise",
    "sadness": "sad",
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "contempt": "contempt",
}
FER2013_ROWS = 35887


class VotesError(DatasetError):
    """The votes file cannot be read or does not match the data set; the message says how."""


@dataclass
class Votes:
    """The votes file as arrays: ``counts`` is rows x 10 (VOTE_COLUMNS order)."""

    counts: npt.NDArray[np.int64]
    usage: list[str]  # "train" | "val" | "test" per row
    dropped: npt.NDArray[np.bool_]  # FER+ gave the row no image name
    source: str

    def __len__(self) -> int:
        return len(self.usage)


@dataclass
class JoinReport:
    """What the join left out of training, and of the majority-label benchmark, per reason."""

    train_kept: int = 0
    train_left_out: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"FER+ soft targets for {self.train_kept} training images"]
        for reason, n in self.train_left_out.items():
            out.append(f"  left out of training: {n} {reason}")
        return out


def read_votes(path: str | Path) -> Votes:
    source = Path(path).expanduser()
    if not source.is_file():
        raise VotesError(
            f"votes file not found: {source}. Pass --votes with FER+'s fer2013new.csv "
            "(e.g. ../shared/datasets/ferplus-fer2013new.csv)"
        )
    counts: list[list[int]] = []
    usage: list[str] = []
    dropped: list[bool] = []
    with source.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("Usage", "Image name", *VOTE_COLUMNS) if c not in (reader.fieldnames or [])]
        if missing:
            raise VotesError(
                f"{source}: not a FER+ votes file, it lacks the columns {missing}; expected "
                f"Usage, Image name, {', '.join(VOTE_COLUMNS)}"
            )
        for row in reader:
            line = reader.line_num
            if row["Usage"] not in CSV_USAGE:
                raise VotesError(f"{source}, line {line}: Usage {row['Usage']!r} is not one of {', '.join(CSV_USAGE)}")
            try:
                values = [int(row[c]) for c in VOTE_COLUMNS]
            except (TypeError, ValueError) as exc:
                raise VotesError(f"{source}, line {line}: vote counts must be integers ({exc})") from exc
            if min(values) < 0:
                raise VotesError(f"{source}, line {line}: negative vote count")
            counts.append(values)
            usage.append(CSV_USAGE[row["Usage"]])
            dropped.append(not (row["Image name"] or "").strip())
    if not counts:
        raise VotesError(f"{source}: no rows")
    return Votes(np.array(counts, dtype=np.int64), usage, np.array(dropped), str(source))


def votes_for(dataset: FaceDataset, votes: Votes) -> npt.NDArray[np.int64]:
    """Index into ``votes`` for every image of ``dataset`` (by its fer2013.csv row); errors that
    say what does not match: a file of another length, rows without a known index, or a row whose
    ``Usage`` is not the image's split."""
    rows = dataset.row_index()
    if (rows < 0).any():
        raise VotesError(
            f"{dataset.source}: {(rows < 0).sum()} images carry no fer2013.csv row (files must be named "
            "<Usage>_<row>.png, or the data must be fer2013.csv itself), so FER+ votes cannot be joined"
        )
    expected = int(rows.max()) + 1
    if len(votes) != expected and not (expected <= FER2013_ROWS and len(votes) == FER2013_ROWS):
        raise VotesError(
            f"{votes.source} has {len(votes)} rows but {dataset.source} has images up to fer2013.csv row "
            f"{expected - 1}: the votes file does not belong to this data set (FER+ has {FER2013_ROWS} rows)"
        )
    if len(votes) < expected:
        raise VotesError(f"{votes.source} has {len(votes)} rows; {dataset.source} needs at least {expected}")
    usage = np.array(votes.usage)[rows]
    wrong = np.flatnonzero(usage != dataset.splits)
    if len(wrong):
        shown = ", ".join(f"row {rows[i]}: votes say {usage[i]}, data says {dataset.splits[i]}" for i in wrong[:3])
        raise VotesError(
            f"{votes.source}: the Usage column disagrees with {dataset.source} on {len(wrong)} images ({shown}); "
            "the votes file is not in fer2013.csv's row order for this data set"
        )
    return rows


def _columns(class_names: tuple[str, ...] | list[str]) -> list[int]:
    """For each model class, its FER+ vote column."""
    by_class = {c: VOTE_COLUMNS.index(col) for col, c in CLASS_OF_COLUMN.items()}
    missing = [c for c in class_names if c not in by_class]
    if missing:
        raise VotesError(f"FER+ has no votes for the classes {missing}; it knows {sorted(by_class)}")
    return [by_class[c] for c in class_names]


def soft_targets(
    counts: npt.NDArray[np.int64], dropped: npt.NDArray[np.bool_], class_names: tuple[str, ...] | list[str]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_], dict[str, int]]:
    """Vote distributions over ``class_names`` (rows x classes), which rows are usable, and how many
    were left out for each reason (see the module's rules)."""
    cols = _columns(class_names)
    nf = VOTE_COLUMNS.index("NF")
    emotion = counts[:, cols].astype(np.float64)
    total = emotion.sum(axis=1)
    not_a_face = (counts[:, nf] > 0) & (counts[:, nf] >= counts.max(axis=1)) & ~dropped
    no_votes = (total == 0) & ~dropped & ~not_a_face
    keep = ~dropped & ~not_a_face & ~no_votes
    targets = np.divide(emotion, total[:, None], out=np.zeros_like(emotion), where=total[:, None] > 0)
    reasons = {
        "dropped by FER+ (no image name)": int(dropped.sum()),
        "not a face (NF the most-voted column)": int(not_a_face.sum()),
        "no vote for any of the model's classes": int(no_votes.sum()),
    }
    return targets.astype(np.float32), keep, reasons


def majority_labels(
    counts: npt.NDArray[np.int64], dropped: npt.NDArray[np.bool_], class_names: tuple[str, ...] | list[str]
) -> tuple[npt.NDArray[np.int64], dict[str, int]]:
    """The FER+ benchmark label per row as an index into ``class_names``, -1 where the row is
    excluded; and the excluded counts per reason."""
    cols = _columns(class_names)
    top = counts.argmax(axis=1)
    tie = (counts == counts.max(axis=1, keepdims=True)).sum(axis=1) > 1
    col_to_class = np.full(len(VOTE_COLUMNS), -1, dtype=np.int64)
    for i, col in enumerate(cols):
        col_to_class[col] = i
    labels = col_to_class[top]
    top_unknown = ~dropped & (top == VOTE_COLUMNS.index("unknown"))
    top_nf = ~dropped & (top == VOTE_COLUMNS.index("NF"))
    other = ~dropped & (labels < 0) & ~top_unknown & ~top_nf  # contempt, for a 7-class model
    excluded = dropped | (labels < 0)
    labels = np.where(excluded, -1, labels)
    reasons = {
        "dropped by FER+": int(dropped.sum()),
        "kept, tie at the top broken by column order": int((tie & ~excluded).sum()),
        "top column unknown": int(top_unknown.sum()),
        "top column NF (not a face)": int(top_nf.sum()),
        "top column a class the model lacks (contempt)": int(other.sum()),
    }
    return labels, reasons
