"""Mixup blends each image with one partner from the same batch, by one weight for the whole
batch, reproducibly from the run's random generator."""

from __future__ import annotations

import numpy as np
import torch

from train.trainer import mix_batch


def batch() -> torch.Tensor:
    return torch.randn(32, 1, 48, 48, generator=torch.Generator().manual_seed(3))


def test_each_row_is_a_convex_blend_of_itself_and_its_partner() -> None:
    x = batch()
    mixed, perm, lam = mix_batch(x, 0.2, np.random.default_rng(0))
    assert 0.0 <= lam <= 1.0
    assert sorted(perm.tolist()) == list(range(len(x)))
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm])


def test_the_partners_are_shuffled_not_the_rows_themselves() -> None:
    _, perm, _ = mix_batch(batch(), 0.2, np.random.default_rng(0))
    assert (perm != torch.arange(len(perm))).sum() > len(perm) // 2


def test_the_same_generator_state_gives_the_same_blend() -> None:
    x = batch()
    a = mix_batch(x, 0.4, np.random.default_rng(7))
    b = mix_batch(x, 0.4, np.random.default_rng(7))
    assert a[2] == b[2]
    assert torch.equal(a[1], b[1]) and torch.equal(a[0], b[0])


def test_a_small_alpha_mostly_keeps_one_image_dominant() -> None:
    # Beta(0.2, 0.2) puts most of its mass near 0 and 1: most batches stay close to real faces.
    rng = np.random.default_rng(0)
    weights = np.array([mix_batch(batch()[:2], 0.2, rng)[2] for _ in range(400)])
    dominant = np.maximum(weights, 1 - weights)
    assert np.mean(dominant > 0.9) > 0.5
