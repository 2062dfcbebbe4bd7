"""Rebuild a trainable EmotionNet from an ONNX model this project exported (``train --init x.onnx``).

The export folds each BatchNorm into its convolution (a conv with a bias), so the ONNX file has no
BN statistics. The rebuilt network puts the folded conv weights back and gives every BatchNorm a
reparametrisation that is exact in eval mode and close to it in train mode: with ``z`` the conv's
output on real faces, running mean ``m = E[z]``, running variance ``v = Var[z]``, scale
``sqrt(v + eps)`` and shift ``bias + m``. In eval mode BN then computes ``z + bias`` (the ONNX
model); in train mode it normalises each batch by its own statistics, which are close to ``m`` and
``v``, so fine-tuning starts from the released model's function instead of a perturbed one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from train.model import EmotionNet


class OnnxInitError(ValueError):
    """The ONNX file is not an EmotionNet export of this project, or does not fit this run."""


Pair = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]


def read_onnx_weights(path: Path) -> tuple[list[Pair], list[int], Pair]:
    """The conv (weight, bias) pairs in graph order, the number of convs per pooling stage, and the
    classifier's (weight, bias)."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises several types for a corrupt file
        raise OnnxInitError(f"--init: {path} is not a readable ONNX model ({exc})") from exc
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    convs: list[Pair] = []
    depths: list[int] = []
    in_stage = 0
    gemm: Pair | None = None
    for node in model.graph.node:
        if node.op_type == "Conv":
            if len(node.input) != 3 or node.input[1] not in init or node.input[2] not in init:
                raise OnnxInitError(f"--init: {path}: a Conv without constant weight and bias (not a folded export)")
            convs.append((init[node.input[1]].astype(np.float32), init[node.input[2]].astype(np.float32)))
            in_stage += 1
        elif node.op_type == "MaxPool":
            depths.append(in_stage)
            in_stage = 0
        elif node.op_type == "Gemm":
            w, b = init.get(node.input[1]), init.get(node.input[2]) if len(node.input) > 2 else None
            if w is None or b is None:
                raise OnnxInitError(f"--init: {path}: the classifier's weights are not constants")
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            gemm = ((w if trans_b else w.T).astype(np.float32), b.astype(np.float32))
        elif node.op_type in ("BatchNormalization",):
            raise OnnxInitError(f"--init: {path} keeps BatchNormalization nodes; only folded exports are read")
    if gemm is None or not convs or in_stage:
        raise OnnxInitError(f"--init: {path} does not have EmotionNet's shape (conv stages, pooling, a linear layer)")
    return convs, depths, gemm


def emotionnet_from_onnx(
    path: Path,
    num_classes: int,
    widths: list[int],
    depths: list[int],
    dropout: float,
    calibration: torch.Tensor | None = None,
    grow: bool = False,
    prune: bool = False,
) -> EmotionNet:
    """An EmotionNet with the ONNX model's function. ``calibration`` (preprocessed real faces,
    N x 1 x 48 x 48) sets the BatchNorm statistics as the module docstring says; without it they
    are the identity (eval mode exact, train mode not). ``grow``: ``num_classes`` may exceed the
    model's, the extra classes appended after its own. ``prune``: ``widths`` may be narrower than
    the model's, each layer keeping its filters of largest L1 norm (an approximation of the model,
    for a student to be trained on)."""
    convs, onnx_depths, (fc_w, fc_b) = read_onnx_weights(path)
    onnx_widths = [convs[sum(onnx_depths[: i + 1]) - 1][0].shape[0] for i in range(len(onnx_depths))]
    narrower = onnx_depths == list(depths) and all(w <= o for w, o in zip(widths, onnx_widths))
    if onnx_depths != list(depths) or (onnx_widths != list(widths) and not (prune and narrower)):
        raise OnnxInitError(
            f"--init: {path} has widths {onnx_widths} and depths {onnx_depths}, this run has {list(widths)} "
            f"and {list(depths)}" + ("" if prune else " (--init-prune starts a narrower run with the same depths)")
        )
    if onnx_widths != list(widths):
        convs, fc_w = prune_filters(convs, [w for w, d in zip(widths, depths) for _ in range(d)], fc_w)
    if fc_w.shape[0] > num_classes or (fc_w.shape[0] < num_classes and not grow):
        raise OnnxInitError(f"--init: {path} has {fc_w.shape[0]} classes, this run has {num_classes}")
    if fc_w.shape[0] < num_classes:
        # Added classes start with no evidence (zero weights) and a bias below every old class's, so
        # the grown model starts from the ONNX model's predictions, the new class rarely chosen.
        extra = num_classes - fc_w.shape[0]
        fc_w = np.concatenate([fc_w, np.zeros((extra, fc_w.shape[1]), np.float32)])
        fc_b = np.concatenate([fc_b, np.full(extra, fc_b.min() - 2.0, np.float32)])
    net = EmotionNet(num_classes, widths, depths, dropout)
    conv_modules = [m for m in net.features if isinstance(m, nn.Conv2d)]
    bn_modules = [m for m in net.features if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for conv, bn, (w, b) in zip(conv_modules, bn_modules, convs):
            if tuple(conv.weight.shape) != w.shape:
                raise OnnxInitError(f"--init: {path}: conv weight {w.shape}, expected {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(w))
            mean, var = _stats(bn)
            mean.zero_()
            var.fill_(1.0 - bn.eps)
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(b))
        net.classifier.weight.copy_(torch.from_numpy(fc_w))
        net.classifier.bias.copy_(torch.from_numpy(fc_b))
    if calibration is not None:
        calibrate_batchnorm(net, calibration)
    return net.eval()


def prune_filters(
    convs: list[Pair], keep_per_conv: list[int], fc_w: npt.NDArray[np.float32]
) -> tuple[list[Pair], npt.NDArray[np.float32]]:
    """Each conv cut to its ``keep`` output filters of largest L1 norm (the folded BatchNorm's scale
    included), the next layer's inputs cut to match. Kept filters stay in their original order."""
    pruned: list[Pair] = []
    inputs: npt.NDArray[np.int64] | None = None
    for (w, b), keep in zip(convs, keep_per_conv):
        if inputs is not None:
            w = w[:, inputs]
        strongest = np.sort(np.argsort(-np.abs(w).sum(axis=(1, 2, 3)), kind="stable")[:keep])
        pruned.append((np.ascontiguousarray(w[strongest]), np.ascontiguousarray(b[strongest])))
        inputs = strongest
    assert inputs is not None
    return pruned, np.ascontiguousarray(fc_w[:, inputs])


def _stats(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    if bn.running_mean is None or bn.running_var is None:
        raise OnnxInitError("BatchNorm without running statistics")
    return bn.running_mean, bn.running_var


@torch.no_grad()
def calibrate_batchnorm(net: EmotionNet, x: torch.Tensor) -> None:
    """Move each BN's statistics to its conv's output statistics on ``x`` without changing the
    eval-mode function (see the module docstring)."""
    net.eval()
    stats: dict[nn.Conv2d, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(module: nn.Module, _inp: object, out: torch.Tensor) -> None:
        assert isinstance(module, nn.Conv2d)
        z = out.double()
        stats[module] = (z.mean(dim=(0, 2, 3)), z.var(dim=(0, 2, 3), unbiased=False))

    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    bns = [m for m in net.features if isinstance(m, nn.BatchNorm2d)]
    handles = [c.register_forward_hook(hook) for c in convs]
    try:
        net(x.float())
    finally:
        for h in handles:
            h.remove()
    for conv, bn in zip(convs, bns):
        mean, var = stats[conv]
        running_mean, running_var = _stats(bn)
        # The function is z * w / sqrt(v + eps) + (b - m * w / sqrt(v + eps)); fold the old BN in first.
        scale = bn.weight.double() / torch.sqrt(running_var.double() + bn.eps)
        shift = bn.bias.double() - running_mean.double() * scale
        # Now output = z * scale + shift for the current conv z; put the scale into the conv.
        conv.weight.mul_(scale.view(-1, 1, 1, 1).to(conv.weight.dtype))
        mean, var = mean * scale, var * scale * scale
        running_mean.copy_(mean.float())
        running_var.copy_(var.float())
        bn.weight.copy_(torch.sqrt(var + bn.eps).float())
        bn.bias.copy_((shift + mean).float())
