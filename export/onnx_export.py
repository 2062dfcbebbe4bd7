"""Checkpoint to a self-describing FP32 ONNX model, checked against torch before success."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from edge.contract import CropPolicy
from edge.model_meta import ModelInfo, write_onnx_metadata
from train import checkpoint

log = logging.getLogger(__name__)

OPSET = 17
MAX_PROB_DIFF = 1e-4


class ExportError(RuntimeError):
    """Export failed or its check did not pass; the message says which and by how much."""


class WithSoftmax(nn.Module):
    """The exported graph ends in softmax, so consumers read probabilities directly."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def torch_probs(model: nn.Module, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()


def export_onnx(
    checkpoint_path: Path,
    out: Path,
    check_images: npt.NDArray[np.uint8],
    name: str = "emotion-edge-cnn",
    version: str = "1.0.0",
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    crop: CropPolicy | None = None,
) -> tuple[ModelInfo, float]:
    """Write ``out`` and return its metadata and the max |p_onnx - p_torch| on ``check_images``."""
    loaded = checkpoint.load(checkpoint_path)
    model = loaded.model()
    info = loaded.info()
    info.name, info.version = name, version
    info.metrics = metrics or {}
    info.extra = {"params": loaded.state.get("params"), "macs": loaded.state.get("macs"), **(extra or {})}
    if crop is not None:
        info.crop = crop
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(2, 1, info.crop.size, info.crop.size)
    torch.onnx.export(
        WithSoftmax(model).eval(),
        (dummy,),
        str(out),
        input_names=[info.input_name],
        output_names=[info.output_name],
        dynamic_axes={info.input_name: {0: "batch"}, info.output_name: {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )
    write_onnx_metadata(str(out), info)

    diff = check_against_torch(out, model, check_images)
    if diff > MAX_PROB_DIFF:
        raise ExportError(f"{out}: ONNX and torch probabilities differ by {diff:.2e} (> {MAX_PROB_DIFF:.0e})")
    log.info("exported %s; max |p_onnx - p_torch| = %.2e on %d real faces", out, diff, len(check_images))
    return info, diff


def check_against_torch(onnx_path: Path, model: nn.Module, images: npt.NDArray[np.uint8]) -> float:
    from edge.classify import OnnxRuntimeClassifier

    classifier = OnnxRuntimeClassifier(onnx_path, providers=["CPUExecutionProvider"])
    model.eval()
    diff = 0.0
    for i in range(0, len(images), 256):
        batch = images[i : i + 256]
        expected = torch_probs(model, classifier.info.preprocessing.apply(batch))
        diff = max(diff, float(np.abs(classifier.predict(batch) - expected).max()))
    return diff


def metrics_from_run(run_dir: Path) -> dict[str, Any]:
    """The release figures of a training run, for the model's metadata."""
    report = json.loads((run_dir / "report.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "split": "FER2013 PrivateTest",
        "test_top1": round(report["top1"], 4),
        "test_top1_flip_tta": round(report["top1_flip_tta"], 4) if report.get("top1_flip_tta") else None,
        "test_macro_f1": round(report["macro_f1"], 4),
        "test_recall": dict(zip(report["class_names"], [round(r, 4) for r in report["recall"]])),
        "val_top1": round(summary["val_top1"], 4),
        "best_epoch": summary["best_epoch"],
    }
