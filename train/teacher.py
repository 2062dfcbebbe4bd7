"""The frozen teacher of distillation (``train --teacher``): a training checkpoint of ours, or a
released ONNX model, so a new run can learn from the shipped model without its training run.

A teacher is called on a preprocessed batch and returns scores whose softmax is its prediction:
logits for a checkpoint, log-probabilities for an ONNX model that outputs probabilities (the same
softmax at any temperature, since the two differ by a constant per row)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from edge.contract import Preprocessing
from train import checkpoint

Teacher = Callable[[torch.Tensor], torch.Tensor]


def load_teachers(paths: list[Path], class_names: list[str], pre: Preprocessing, device: torch.device) -> Teacher:
    """One teacher, or the ensemble of several (``--teacher`` repeated)."""
    members = [load_teacher(path, class_names, pre, device) for path in paths]
    return members[0] if len(members) == 1 else EnsembleTeacher(members)


def load_teacher(path: Path, class_names: list[str], pre: Preprocessing, device: torch.device) -> Teacher:
    """A checkpoint (.pt) or an exported model (.onnx) with this run's classes, in the same order,
    and this run's preprocessing."""
    if not path.is_file():
        raise FileNotFoundError(
            f"--teacher: no checkpoint at {path}; give the best.pt of an earlier run or a released .onnx model"
        )
    if path.suffix == ".onnx":
        return OnnxTeacher(path, class_names, pre, device)
    return checkpoint_teacher(path, class_names, pre, device)


def checkpoint_teacher(path: Path, class_names: list[str], pre: Preprocessing, device: torch.device) -> Teacher:
    loaded = checkpoint.load(path, device, "--teacher")
    if loaded.class_names != class_names:
        raise ValueError(f"--teacher: {path} has classes {loaded.class_names}, this run has {class_names}")
    if loaded.preprocessing != pre:
        raise ValueError(
            f"--teacher: {path} was trained with preprocessing {loaded.preprocessing.to_dict()}, this run uses "
            f"{pre.to_dict()}; train with the teacher's --equalize"
        )
    teacher = loaded.model(device)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.to(memory_format=torch.channels_last)  # type: ignore[call-overload,no-any-return]


class OnnxTeacher:
    """A released model run by ONNX Runtime on the CPU (the device package's own classifier)."""

    def __init__(self, path: Path, class_names: list[str], pre: Preprocessing, device: torch.device) -> None:
        from edge.classify import ClassifierError, OnnxRuntimeClassifier

        try:
            self.classifier = OnnxRuntimeClassifier(path, providers=["CPUExecutionProvider"])
        except ClassifierError as exc:
            raise ValueError(f"--teacher: {exc}") from exc
        info = self.classifier.info
        if info.classes != class_names:
            raise ValueError(f"--teacher: {path} has classes {info.classes}, this run has {class_names}")
        if info.preprocessing != pre:
            raise ValueError(
                f"--teacher: {path} expects preprocessing {info.preprocessing.to_dict()}, this run uses "
                f"{pre.to_dict()}; train with the teacher's --equalize"
            )
        self.info = info
        self.device = device

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        batch = np.ascontiguousarray(x.detach().float().cpu().numpy())
        (out,) = self.classifier.session.run([self.info.output_name], {self.info.input_name: batch})
        scores = torch.from_numpy(np.asarray(out, dtype=np.float32)).to(self.device)
        if self.info.output_kind == "probabilities":
            # A probability that underflowed to 0 stays (almost) 0 after any softening.
            scores = torch.log(scores.clamp_min(1e-30))
        return scores


class EnsembleTeacher:
    """Several teachers as one: the mean of their log-probabilities, i.e. the softmax of averaged,
    per-model normalised logits. Averaging in log space keeps the temperature meaning what it means
    for one teacher: softening the ensemble's scores is softening each member's by the same T."""

    def __init__(self, members: list[Teacher]) -> None:
        self.members = members

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.log_softmax(member(x).float(), dim=1) for member in self.members]).mean(0)
