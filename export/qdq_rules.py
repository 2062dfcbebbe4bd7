"""Checks a Q/DQ ONNX model against TensorRT's explicit-quantization rules.

TensorRT builds an explicitly quantized engine from QuantizeLinear/DequantizeLinear pairs, and
accepts only a subset of what ONNX allows. Each rule below is one TensorRT requirement; the
validator names the node that breaks it, so a model is fixed before it reaches the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

# Rule identifiers, stable so tests and users can refer to them.
RULES = {
    "opset": "per-channel Q/DQ needs opset >= 13",
    "int8": "TensorRT explicit quantization takes INT8 Q/DQ (zero-point of type int8, not uint8)",
    "zero-point": "zero-point must be 0 (TensorRT quantizes symmetrically)",
    "scale": "scale must be a positive, finite constant",
    "activation-per-tensor": "activations must be quantized per tensor (one scale)",
    "weight-axis": "per-channel weight scales must run along the output-channel axis",
    "q-feeds-dq": "a QuantizeLinear output may only feed DequantizeLinear nodes",
    "dq-input": "a DequantizeLinear input must be a constant INT8 weight or a QuantizeLinear output",
    "pair-params": "a Q/DQ pair must share scale and zero-point",
}


@dataclass(frozen=True)
class Finding:
    node: str
    rule: str
    detail: str
    severity: str = "error"  # "error" breaks TensorRT; "warning" only costs speed or precision

    def __str__(self) -> str:
        return (
            f"{self.severity}: node {self.node!r} breaks rule {self.rule!r} ({RULES.get(self.rule, '')}): {self.detail}"
        )


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def _axis(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 1)


def _weight_axis(consumer: onnx.NodeProto) -> int | None:
    """The output-channel axis of the weight input of a linear op, or None if not a weight."""
    if consumer.op_type == "Conv":
        return 0
    if consumer.op_type == "ConvTranspose":
        return 1
    if consumer.op_type == "Gemm":
        trans_b = next((a.i for a in consumer.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    if consumer.op_type == "MatMul":
        return 1
    return None


def validate_qdq(model: onnx.ModelProto | str | Path) -> list[Finding]:
    """Return every rule broken by the model's Q/DQ nodes (empty: TensorRT can take it)."""
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    graph = model.graph
    consts = _constants(graph)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    producers: dict[str, onnx.NodeProto] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        for name in node.output:
            producers[name] = node
    findings: list[Finding] = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    qdq = [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if qdq and opset < 13:
        findings.append(Finding("<model>", "opset", f"model opset is {opset}"))

    for node in qdq:
        name = node.name or node.output[0]
        scale = consts.get(node.input[1]) if len(node.input) > 1 else None
        zero = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if scale is None:
            findings.append(Finding(name, "scale", f"scale {node.input[1]!r} is not a constant"))
            continue
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            findings.append(Finding(name, "scale", f"scale has values <= 0 or not finite: {scale.ravel()[:4]}"))
        if zero is None:
            if node.op_type == "QuantizeLinear":
                findings.append(Finding(name, "int8", "no zero-point: ONNX then quantizes to uint8"))
        else:
            if zero.dtype != np.int8:
                findings.append(Finding(name, "int8", f"zero-point is {zero.dtype}"))
            if np.any(zero != 0):
                findings.append(Finding(name, "zero-point", f"zero-point values {np.unique(zero)[:4]}"))

        per_channel = scale.size > 1
        data_input = node.input[0]
        if node.op_type == "QuantizeLinear":
            for user in consumers.get(node.output[0], []):
                if user.op_type != "DequantizeLinear":
                    findings.append(Finding(name, "q-feeds-dq", f"feeds {user.op_type} {user.name!r}"))
                else:
                    _check_pair(node, user, consts, findings)
            is_weight = data_input in consts
        else:
            producer = producers.get(data_input)
            is_weight = data_input in consts
            if is_weight and consts[data_input].dtype != np.int8:
                findings.append(Finding(name, "int8", f"weight {data_input!r} is stored as {consts[data_input].dtype}"))
            if not is_weight and (producer is None or producer.op_type != "QuantizeLinear"):
                findings.append(
                    Finding(
                        name,
                        "dq-input",
                        f"input {data_input!r} comes from {producer.op_type if producer else 'a graph input'}",
                    )
                )
            if producer is not None and producer.op_type == "QuantizeLinear":
                is_weight = producer.input[0] in consts
        if per_channel:
            if not is_weight:
                findings.append(
                    Finding(name, "activation-per-tensor", f"{scale.size} scales on activation {data_input!r}")
                )
            else:
                _check_weight_axis(node, consumers, scale.size, findings)

    findings.extend(_unquantized_linear_ops(graph, producers))
    return findings


def _check_pair(q: onnx.NodeProto, dq: onnx.NodeProto, consts: dict[str, np.ndarray], findings: list[Finding]) -> None:
    q_scale, dq_scale = consts.get(q.input[1]), consts.get(dq.input[1])
    q_zero = consts.get(q.input[2]) if len(q.input) > 2 and q.input[2] else None
    dq_zero = consts.get(dq.input[2]) if len(dq.input) > 2 and dq.input[2] else None
    same_scale = q_scale is not None and dq_scale is not None and np.array_equal(q_scale, dq_scale)
    same_zero = (q_zero is None and dq_zero is None) or (
        q_zero is not None and dq_zero is not None and np.array_equal(q_zero, dq_zero)
    )
    if not (same_scale and same_zero):
        findings.append(Finding(dq.name or dq.output[0], "pair-params", f"differs from its QuantizeLinear {q.name!r}"))


def _check_weight_axis(
    node: onnx.NodeProto, consumers: dict[str, list[onnx.NodeProto]], channels: int, findings: list[Finding]
) -> None:
    dq_out = node.output[0]
    if node.op_type == "QuantizeLinear":
        dqs = consumers.get(node.output[0], [])
        dq_out = dqs[0].output[0] if dqs else dq_out
    for user in consumers.get(dq_out, []):
        expected = _weight_axis(user)
        if expected is not None and user.input[1] == dq_out and _axis(node) != expected:
            findings.append(
                Finding(
                    node.name or node.output[0],
                    "weight-axis",
                    f"axis {_axis(node)} for the weight of {user.op_type} {user.name!r}; "
                    f"its output channels are axis {expected}",
                )
            )


def _unquantized_linear_ops(graph: onnx.GraphProto, producers: dict[str, onnx.NodeProto]) -> list[Finding]:
    """A linear op without Q/DQ on its inputs runs in higher precision: legal, but worth knowing."""
    out = []
    for node in graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul", "ConvTranspose"):
            continue
        feeds = [producers.get(i) for i in node.input[:2]]
        if not all(p is not None and p.op_type == "DequantizeLinear" for p in feeds):
            out.append(
                Finding(
                    node.name or node.output[0],
                    "int8",
                    "inputs are not both dequantized: this layer will run in FP16/FP32",
                    severity="warning",
                )
            )
    return out


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]
