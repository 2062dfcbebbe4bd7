"""The distillation loss: zero when the student already says what the teacher says, positive
otherwise, and no larger in gradient at a higher temperature (the T^2 scaling)."""

from __future__ import annotations

import torch

from train.trainer import distillation_loss


def test_agreeing_with_the_teacher_costs_nothing() -> None:
    logits = torch.randn(16, 7)
    for t in (1.0, 2.0, 4.0):
        teacher = torch.softmax(logits / t, dim=1)
        assert float(distillation_loss(logits, teacher, t)) < 1e-6


def test_disagreeing_costs_more_the_further_apart() -> None:
    teacher = torch.softmax(torch.randn(16, 7), dim=1)
    near = torch.log(teacher) + 0.1 * torch.randn(16, 7)
    far = torch.randn(16, 7) * 3
    assert 0 < float(distillation_loss(near, teacher, 1.0)) < float(distillation_loss(far, teacher, 1.0))


def test_the_gradient_keeps_its_size_across_temperatures() -> None:
    torch.manual_seed(0)
    teacher_logits = torch.randn(64, 7)
    sizes = []
    for t in (1.0, 4.0):
        student = torch.randn(64, 7, generator=torch.Generator().manual_seed(1)).requires_grad_()
        distillation_loss(student, torch.softmax(teacher_logits / t, dim=1), t).backward()
        assert student.grad is not None
        sizes.append(float(student.grad.norm()))
    # Without the T^2 factor the T=4 gradient would be about 16x smaller.
    assert sizes[1] > sizes[0] / 4
