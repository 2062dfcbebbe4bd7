"""The compact emotion CNN: a VGG-style stack of plain conv/BN/ReLU blocks.

Only layers that export cleanly to ONNX and fuse well under TensorRT INT8 (Conv+BN+ReLU,
MaxPool, GlobalAveragePool, Linear): no depthwise convs, which INT8 engines run poorly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from edge.contract import INPUT_SIZE


def conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class EmotionNet(nn.Module):
    """Four stages at 48, 24, 12 and 6 pixels, each ending in a 2x2 max-pool; then global
    average pooling, dropout and a linear classifier that outputs logits."""

    def __init__(
        self,
        num_classes: int,
        widths: Sequence[int] = (32, 64, 128, 256),
        depths: Sequence[int] = (1, 2, 2, 2),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError(f"widths {list(widths)} and depths {list(depths)} differ in length")
        layers: list[nn.Module] = []
        c_in = 1
        for width, depth in zip(widths, depths):
            for _ in range(depth):
                layers += conv_bn_relu(c_in, width)
                c_in = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_in, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        logits: torch.Tensor = self.classifier(self.dropout(x))
        return logits


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, size: int = INPUT_SIZE) -> int:
    """Multiply-accumulates of one forward pass on a single size x size face (conv and linear)."""
    total = 0

    def conv_hook(module: nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d)
        k = module.kernel_size[0] * module.kernel_size[1] * (module.in_channels // module.groups)
        total += int(out.numel() // out.shape[0]) * k

    def linear_hook(module: nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Linear)
        total += module.in_features * module.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    # The probe face goes where the weights are: a model already on the GPU counts too.
    device = next(model.parameters()).device
    with torch.no_grad():
        model(torch.zeros(1, 1, size, size, device=device))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total
