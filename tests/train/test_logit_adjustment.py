"""Logit adjustment (``train --logit-adjustment``): the label loss sees the logits shifted by
tau x log(class prior), so a rare class is learnt as if the classes were balanced."""

from __future__ import annotations

import numpy as np
import torch

from train.trainer import class_prior


def test_logit_adjustment_shifts_the_label_loss_by_the_log_prior() -> None:
    votes = np.array([[8, 2, 0], [10, 0, 0], [0, 0, 10], [9, 0, 1]], dtype=np.float32) / 10
    prior = class_prior(np.zeros(4, dtype=np.int64), 3, votes)
    assert torch.allclose(prior, torch.tensor([0.675, 0.05, 0.275]), atol=1e-6)
    # A class absent from the targets gets a floor, not log(0).
    assert torch.isfinite(torch.log(class_prior(np.array([0, 0, 2]), 3))).all()
    # Equal logits: the adjusted loss blames the rare class's target more (its prior margin).
    logits = torch.zeros(2, 3)
    shifted = logits + torch.log(prior)
    rare, common = torch.nn.functional.cross_entropy(shifted, torch.tensor([1, 0]), reduction="none")
    assert rare > common
