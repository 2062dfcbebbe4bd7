"""``train --init model.onnx``: the rebuilt EmotionNet is the released model, and trains from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edge.contract import Preprocessing
from train.onnx_init import OnnxInitError, emotionnet_from_onnx

pytestmark = pytest.mark.shared

ARCH = {"widths": [32, 64, 128, 256], "depths": [1, 2, 2, 2], "dropout": 0.3}


def probs(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(net(torch.from_numpy(x)), dim=1).numpy()


@pytest.fixture(scope="module")
def faces(fer) -> tuple[np.ndarray, np.ndarray]:
    pre = Preprocessing()
    val = fer.images[fer.splits == "val"][:300]
    train = fer.images[fer.splits == "train"][::28][:1024]
    return val, pre.apply(train)


def test_the_rebuilt_model_reproduces_the_onnx_probabilities(shipped_model: Path, faces) -> None:
    from edge.classify import OnnxRuntimeClassifier

    val, calibration = faces
    classifier = OnnxRuntimeClassifier(shipped_model, providers=["CPUExecutionProvider"])
    info = classifier.info
    x = Preprocessing().apply(val)
    # The graph's own output: the temperature in the metadata is the device's, applied after it.
    (expected,) = classifier.session.run([info.output_name], {info.input_name: x})
    for calib in (None, torch.from_numpy(calibration)):
        net = emotionnet_from_onnx(shipped_model, 7, **ARCH, calibration=calib)
        assert np.abs(probs(net.eval(), x) - expected).max() < 1e-5


def test_calibrated_batchnorm_behaves_in_train_mode_like_eval_mode(shipped_model: Path, faces) -> None:
    val, calibration = faces
    x = Preprocessing().apply(val)
    calibrated = emotionnet_from_onnx(shipped_model, 7, **ARCH, calibration=torch.from_numpy(calibration))
    raw = emotionnet_from_onnx(shipped_model, 7, **ARCH)
    reference = probs(calibrated.eval(), x).argmax(1)
    agree = {}
    for name, net in (("calibrated", calibrated), ("raw", raw)):
        net.train()
        net.dropout.p = 0.0  # only BatchNorm's batch statistics differ between the modes
        agree[name] = float((probs(net, x).argmax(1) == reference).mean())
    # Batch statistics of real faces are close to the calibrated ones, far from the identity's.
    assert agree["calibrated"] > 0.9
    assert agree["raw"] < agree["calibrated"] - 0.3


def test_an_onnx_model_of_another_shape_is_refused(shipped_model: Path, tmp_path: Path) -> None:
    with pytest.raises(OnnxInitError, match="widths"):
        emotionnet_from_onnx(shipped_model, 7, [32, 64, 128, 128], [1, 2, 2, 2], 0.3)
    with pytest.raises(OnnxInitError, match="classes"):
        emotionnet_from_onnx(shipped_model, 8, **ARCH)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(OnnxInitError, match="not a readable ONNX"):
        emotionnet_from_onnx(bad, 7, **ARCH)


def test_a_grown_model_keeps_the_old_classes_predictions_and_starts_the_new_one_unlikely(
    shipped_model: Path, faces
) -> None:
    val, _ = faces
    x = Preprocessing().apply(val)
    seven = probs(emotionnet_from_onnx(shipped_model, 7, **ARCH).eval(), x)
    eight = probs(emotionnet_from_onnx(shipped_model, 8, **ARCH, grow=True).eval(), x)
    # The old seven keep their ratios (the same logits), and the new class is rarely chosen.
    renormalised = eight[:, :7] / eight[:, :7].sum(1, keepdims=True)
    assert np.abs(renormalised - seven).max() < 1e-5
    assert (eight.argmax(1) == seven.argmax(1)).mean() > 0.97
    assert eight[:, 7].mean() < 0.05
    with pytest.raises(OnnxInitError, match="7 classes, this run has 8"):
        emotionnet_from_onnx(shipped_model, 8, **ARCH)


def test_a_narrower_student_starts_from_each_layers_strongest_filters(shipped_model: Path, faces) -> None:
    from train.onnx_init import read_onnx_weights

    _, calibration = faces
    half = {"widths": [16, 32, 64, 128], "depths": [1, 2, 2, 2], "dropout": 0.3}
    with pytest.raises(OnnxInitError, match="--init-prune"):
        emotionnet_from_onnx(shipped_model, 7, **half)
    net = emotionnet_from_onnx(shipped_model, 7, **half, calibration=torch.from_numpy(calibration), prune=True)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 32, 64, 64, 128, 128]
    assert net.classifier.weight.shape == (7, 128)
    # The first layer kept the 16 filters of largest L1 norm (the only layer whose inputs are uncut).
    (w0, _), *_ = read_onnx_weights(shipped_model)[0]
    norms = np.abs(w0).sum(axis=(1, 2, 3))
    kept = np.sort(np.argsort(-norms)[:16])
    direction = convs[0].weight.detach().numpy()
    cosine = (direction * w0[kept]).sum(axis=(1, 2, 3)) / (
        np.linalg.norm(direction.reshape(16, -1), axis=1) * np.linalg.norm(w0[kept].reshape(16, -1), axis=1)
    )
    assert cosine.min() > 0.999  # calibration rescales each filter, never changes its direction


def test_a_wider_run_cannot_be_pruned_from_a_narrower_model(shipped_model: Path) -> None:
    with pytest.raises(OnnxInitError, match="widths"):
        emotionnet_from_onnx(shipped_model, 7, [32, 64, 128, 512], [1, 2, 2, 2], 0.3, prune=True)
