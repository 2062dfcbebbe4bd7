"""The Training-duplicate finder and the committed list it produced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from train.duplicates import DUPLICATES_FILE, find_duplicates, read_duplicates, write_duplicates


def test_planted_copies_are_found_and_near_copies_are_not() -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (8, 48, 48), dtype=np.uint8)
    splits = np.array(["train"] * 5 + ["val", "test", "test"])
    rows = np.arange(100, 108)
    images[5] = images[1]  # val copy of train row 101
    images[6] = images[3]  # test copy of train row 103 ...
    images[4] = images[3]  # ... which Training holds twice
    images[7] = images[2].copy()
    images[7, 0, 0] ^= 1  # one pixel off: not a duplicate
    found = find_duplicates(images, splits, rows)
    assert found == {105: [101], 106: [103, 104]}


def test_the_list_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    write_duplicates(path, {30000: [5, 7], 33000: [9]}, {30000: "val", 33000: "test"})
    assert read_duplicates(path) == {30000: "PublicTest", 33000: "PrivateTest"}


@pytest.mark.shared
def test_the_committed_list_is_what_hashing_the_data_gives(fer) -> None:
    found = find_duplicates(fer.images, fer.splits, fer.row_index())
    committed = read_duplicates(DUPLICATES_FILE)
    assert set(found) == set(committed)
    by_split = {s: sum(1 for r in found if fer.splits[fer.row_index() == r][0] == s) for s in ("val", "test")}
    assert by_split["val"] == sum(1 for u in committed.values() if u == "PublicTest")
    assert by_split["test"] == sum(1 for u in committed.values() if u == "PrivateTest")
