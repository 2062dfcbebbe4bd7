"""Models that lie about themselves, for the load-time checks: a real ONNX model with its metadata
rewritten by the ``onnx`` package, or a tiny real graph built from scratch. Nothing is mocked: the
device loads them with ONNX Runtime exactly as it loads a released model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.model_meta import PREFIX

PLAIN = ("format", "name", "version", "preprocessing_text")  # the keys that are not JSON


def read_props(model_path: Path) -> dict[str, str]:
    onnx = pytest.importorskip("onnx")
    return {p.key: p.value for p in onnx.load(str(model_path)).metadata_props}


def forge(source: Path, out: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """``source`` with its metadata rewritten: ``edit`` gets the keys (without the prefix) with JSON
    values decoded, changes them in place, and they are written back raw (unchecked, as a careless
    or hostile exporter would)."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(source))
    values: dict[str, Any] = {}
    for p in model.metadata_props:
        key = p.key.removeprefix(PREFIX)
        values[key] = p.value if key in PLAIN else json.loads(p.value)
    edit(values)
    del model.metadata_props[:]
    for key, value in values.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = PREFIX + key, value if isinstance(value, str) else json.dumps(value)
    onnx.save(model, str(out))
    return out


def tiny_graph(
    out: Path,
    classes: int = 7,
    size: int = 48,
    channels: int = 1,
    softmax: bool = True,
    nan_on_texture: bool = False,
    metadata_from: Path | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """A real graph: N x channels x size x size, global average, a fixed linear map to ``classes``
    outputs, softmax (or raw logits); its metadata copied from ``metadata_from`` and then
    ``edit``ed."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(0, 3, (channels, classes)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.normal(0, 1, (classes,)).astype(np.float32), "b")
    axes = numpy_helper.from_array(np.array([2, 3], np.int64), "axes")
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["pooled"], keepdims=0),
        helper.make_node("Gemm", ["pooled", "w", "b"], ["logits" if softmax else "probabilities"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["scores" if nan_on_texture else "probabilities"], axis=1))
    extra = []
    if nan_on_texture:
        # scores + 0 * sqrt(0.01 - variance of the input): finite on a flat crop (the load check's
        # mid-grey faces), NaN on anything textured, as a model that overflows on real faces.
        extra = [
            numpy_helper.from_array(np.array([0.01], np.float32), "t"),
            numpy_helper.from_array(np.array([0.0], np.float32), "zero"),
        ]
        nodes += [
            helper.make_node("Mul", ["input", "input"], ["squares"]),
            helper.make_node("ReduceMean", ["squares", "axes"], ["mean_square"], keepdims=0),
            helper.make_node("Mul", ["pooled", "pooled"], ["square_mean"]),
            helper.make_node("Sub", ["mean_square", "square_mean"], ["variance"]),
            helper.make_node("Sub", ["t", "variance"], ["room"]),
            helper.make_node("Sqrt", ["room"], ["root"]),
            helper.make_node("Mul", ["root", "zero"], ["poison"]),
            helper.make_node("Add", ["scores", "poison"], ["probabilities"]),
        ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", channels, size, size])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes])],
        [weights, bias, axes, *extra],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8  # readable by every ONNX Runtime the device may have
    onnx.checker.check_model(model)
    if metadata_from is not None:
        for key, value in read_props(metadata_from).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
    onnx.save(model, str(out))
    if edit is not None:
        forge(out, out, edit)
    return out
