"""FER2013 test images that are pixel-identical to Training images: ``python -m train.duplicates``.

FER2013 holds exact copies across its splits (288 PrivateTest and 280 PublicTest images have a
twin in Training): a model that memorised Training scores those almost for free, so the honest
figures (``evaluate --votes``) report each test split with and without them. The list is derived
by hashing each image's 48x48 pixels (SHA-1 of the bytes) and committed as
``train/data/fer2013-duplicates.csv``: one line per val/test image with a Training twin, its
fer2013.csv row, its usage and the Training rows with the same pixels.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt

DUPLICATES_FILE = Path(__file__).resolve().parent / "data" / "fer2013-duplicates.csv"
USAGE_OF_SPLIT = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}


def pixel_hash(image: npt.NDArray[np.uint8]) -> str:
    return hashlib.sha1(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()


def find_duplicates(
    images: npt.NDArray[np.uint8], splits: npt.NDArray[np.str_], rows: npt.NDArray[np.int64]
) -> dict[int, list[int]]:
    """For every non-Training image whose pixels equal a Training image's: its row -> those
    Training rows (sorted)."""
    train_rows: dict[str, list[int]] = defaultdict(list)
    for image, split, row in zip(images, splits, rows):
        if split == "train":
            train_rows[pixel_hash(image)].append(int(row))
    found: dict[int, list[int]] = {}
    for image, split, row in zip(images, splits, rows):
        if split != "train":
            twins = train_rows.get(pixel_hash(image))
            if twins:
                found[int(row)] = sorted(twins)
    return found


def write_duplicates(path: Path, found: dict[int, list[int]], splits_of_row: dict[int, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["row", "usage", "training_rows"])
        for row in sorted(found):
            writer.writerow([row, USAGE_OF_SPLIT[splits_of_row[row]], " ".join(map(str, found[row]))])


def read_duplicates(path: Path = DUPLICATES_FILE) -> dict[int, str]:
    """The committed list: fer2013.csv row -> usage (PublicTest | PrivateTest)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: build it with `python -m train.duplicates`")
    with path.open(newline="") as fh:
        return {int(r["row"]): r["usage"] for r in csv.DictReader(fh)}


def main(argv: list[str] | None = None) -> int:
    from train.dataset import load_dataset

    p = argparse.ArgumentParser(description="list FER2013 val/test images that are pixel-identical to Training ones")
    p.add_argument("--data", default="../shared/datasets/fer2013.tar.gz")
    p.add_argument("--out", type=Path, default=DUPLICATES_FILE)
    args = p.parse_args(argv)
    data = load_dataset(args.data)
    rows = data.row_index()
    if (rows < 0).any():
        raise SystemExit(f"{args.data}: images without a fer2013.csv row; the list is keyed by row")
    found = find_duplicates(data.images, data.splits, rows)
    split_of = {int(r): str(s) for r, s in zip(rows, data.splits)}
    write_duplicates(args.out, found, split_of)
    for split in ("val", "test"):
        n = sum(1 for r in found if split_of[r] == split)
        print(f"{USAGE_OF_SPLIT[split]}: {n} of {int((data.splits == split).sum())} images have a Training twin")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
