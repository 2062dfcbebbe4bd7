"""Subsets of a data set's labels, without torch: ``export int8`` picks its calibration faces here
on a device or workstation where torch may be absent."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def stratified_subset(labels: npt.NDArray[np.int64], n: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Indices of ``n`` samples (sorted), drawn round-robin over the classes so every class is
    present even in a tiny subset; all of them when ``n`` is at least the count."""
    if n >= len(labels):
        return np.arange(len(labels))
    order = rng.permutation(len(labels))
    by_class = [order[labels[order] == c] for c in np.unique(labels)]
    picked: list[int] = []
    i = 0
    while len(picked) < n:
        for idx in by_class:
            if i < len(idx) and len(picked) < n:
                picked.append(int(idx[i]))
        i += 1
    return np.sort(np.array(picked, dtype=np.int64))
