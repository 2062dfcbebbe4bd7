"""The Q/DQ validator names the node and the TensorRT rule it breaks."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from export.qdq_rules import errors, validate_qdq


def conv_model(
    act_zero: np.ndarray | None = None,
    act_scale: np.ndarray | None = None,
    weight_axis: int = 0,
    weight_dtype: type = np.int8,
    opset: int = 17,
    extra_nodes: list[onnx.NodeProto] | None = None,
) -> onnx.ModelProto:
    """input -> Q -> DQ -> Conv(weight: int8 initializer -> DQ per channel) -> output."""
    act_zero = np.array(0, dtype=np.int8) if act_zero is None else act_zero
    act_scale = np.array(0.02, dtype=np.float32) if act_scale is None else act_scale
    inits = [
        numpy_helper.from_array(act_scale, "act_scale"),
        numpy_helper.from_array(act_zero, "act_zero"),
        numpy_helper.from_array(np.ones((4, 1, 3, 3), dtype=weight_dtype), "w_q"),
        numpy_helper.from_array(np.full(4, 0.01, dtype=np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(4, dtype=np.int8), "w_zero"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "act_scale", "act_zero"], ["x_q"], name="q_input"),
        helper.make_node("DequantizeLinear", ["x_q", "act_scale", "act_zero"], ["x_dq"], name="dq_input"),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], name="dq_weight", axis=weight_axis),
        helper.make_node("Conv", ["x_dq", "w"], ["output"], name="conv1", pads=[1, 1, 1, 1]),
        *(extra_nodes or []),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, 8, 8])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def rules(model: onnx.ModelProto) -> set[tuple[str, str]]:
    return {(f.node, f.rule) for f in errors(validate_qdq(model))}


def test_a_model_that_follows_every_rule_passes() -> None:
    assert validate_qdq(conv_model()) == []


def test_a_non_zero_zero_point_is_named() -> None:
    assert rules(conv_model(act_zero=np.array(3, dtype=np.int8))) == {
        ("q_input", "zero-point"),
        ("dq_input", "zero-point"),
    }


def test_uint8_quantization_is_refused() -> None:
    found = rules(conv_model(act_zero=np.array(0, dtype=np.uint8)))
    assert ("q_input", "int8") in found and ("dq_input", "int8") in found
    assert ("dq_weight", "int8") in rules(conv_model(weight_dtype=np.uint8))


def test_per_channel_activations_and_a_wrong_weight_axis_are_named() -> None:
    found = rules(conv_model(act_scale=np.full(1, 0.02, dtype=np.float32).repeat(2)))
    assert ("q_input", "activation-per-tensor") in found
    assert rules(conv_model(weight_axis=1)) == {("dq_weight", "weight-axis")}


def test_bad_scales_and_old_opsets_are_named() -> None:
    assert ("q_input", "scale") in rules(conv_model(act_scale=np.array(-1.0, dtype=np.float32)))
    assert ("<model>", "opset") in rules(conv_model(opset=11))


def test_a_quantize_feeding_anything_but_dequantize_is_named() -> None:
    relu = helper.make_node("Relu", ["x_q"], ["side"], name="relu_on_int8")
    assert ("q_input", "q-feeds-dq") in rules(conv_model(extra_nodes=[relu]))


def test_an_unquantized_conv_is_only_a_warning() -> None:
    model = conv_model()
    model.graph.node[3].input[0] = "input"  # the conv now reads the float input directly
    findings = validate_qdq(model)
    assert errors(findings) == []
    assert [(f.node, f.severity) for f in findings] == [("conv1", "warning")]
    assert "will run in FP16/FP32" in str(findings[0])
