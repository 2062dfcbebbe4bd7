"""Evaluate a checkpoint or an ONNX model on one split of a data set, with the same report as training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge import paths
from edge.contract import CropPolicy
from train.dataset import LoadOptions, load_dataset
from train.metrics import Report, compute_report


def onnx_predictor(path: Path):  # type: ignore[no-untyped-def]
    from edge.classify import OnnxRuntimeClassifier

    classifier = OnnxRuntimeClassifier(path, providers=["CPUExecutionProvider"])
    return classifier.info.classes, classifier.predict


def checkpoint_predictor(path: Path):  # type: ignore[no-untyped-def]
    import torch

    from train import checkpoint

    loaded = checkpoint.load(path)
    model, pre = loaded.model(), loaded.preprocessing

    def predict(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(pre.apply(crops))), dim=1).numpy()

    return loaded.class_names, predict


def policy_of(model: Path) -> CropPolicy:
    """The crop policy a model was exported (or trained) with."""
    if model.suffix == ".onnx":
        from edge.model_meta import read_onnx_metadata

        return read_onnx_metadata(str(model)).crop
    from train import checkpoint

    return checkpoint.load(model).crop


def evaluate_model(
    model: Path, data: str, split: str = "test", skip_bad: bool = False, yunet: Path | None = None
) -> Report:
    """The model on one split of the data set, its faces cropped as the model's policy says."""
    from train.landmarks import for_crop

    if not model.is_file():
        raise FileNotFoundError(f"model not found: {model} (expected a best.pt checkpoint or an .onnx file)")
    classes, predict = onnx_predictor(model) if model.suffix == ".onnx" else checkpoint_predictor(model)
    dataset = load_dataset(data, LoadOptions(skip_bad=skip_bad))
    dataset = for_crop(dataset.for_model(classes), policy_of(model), yunet or Path(paths.DEV_YUNET))
    images, labels = dataset.split(split)
    probs = np.concatenate([predict(images[i : i + 512]) for i in range(0, len(images), 512)])
    flipped = np.concatenate(
        [predict(np.ascontiguousarray(images[i : i + 512, :, ::-1])) for i in range(0, len(images), 512)]
    )
    return compute_report(split, labels, probs, classes, flipped)
