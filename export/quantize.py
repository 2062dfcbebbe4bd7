"""FP32 ONNX to an INT8 Q/DQ ONNX model that TensorRT consumes by explicit quantization.

Tool: ONNX Runtime's static quantization (``quantize_static`` in QDQ format). It is already a
dependency of the device, runs on any CPU, writes standard ONNX QuantizeLinear/DequantizeLinear
nodes, and lets us ask for exactly what TensorRT wants: symmetric INT8 (zero-point 0), weights
per output channel, activations per tensor, biases left in float (TensorRT fuses them itself).
NVIDIA ModelOpt would do the same but pulls in a large stack for a model this size.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.checksum import sha256_file
from edge.model_meta import ModelInfo, read_onnx_metadata, write_onnx_metadata
from export.qdq_rules import Finding, errors, validate_qdq

log = logging.getLogger(__name__)

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")

# For anyone running the file with their own ONNX Runtime code (measured: 67.07 vs 69.96 % top-1).
RUNTIME_NOTE = (
    "ONNX Runtime on x86 CPUs without VNNI (AVX2 only): set the session config entry "
    "session.x64quantprecision=1; the default U8S8 kernels saturate there and lose about 3 points of top-1"
)


class QuantizationError(RuntimeError):
    """Quantization failed or produced a model TensorRT would refuse; the message says which."""


@dataclass
class QuantizeResult:
    info: ModelInfo
    findings: list[Finding]
    calibration_images: int


class _Reader:
    """Feeds preprocessed calibration faces to ONNX Runtime's calibrator in batches."""

    def __init__(self, input_name: str, batches: list[npt.NDArray[np.float32]]) -> None:
        self.input_name = input_name
        self._all = batches
        self._batches = iter(batches)

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self.input_name: batch}

    def rewind(self) -> None:  # part of onnxruntime's CalibrationDataReader interface
        self._batches = iter(self._all)


def quantize_int8(
    fp32_model: Path,
    out: Path,
    calibration_faces: npt.NDArray[np.uint8],
    method: str = "minmax",
    batch_size: int = 64,
    calibration_source: str = "",
    metrics: dict[str, Any] | None = None,
) -> QuantizeResult:
    """Quantize ``fp32_model`` with ``calibration_faces`` (uint8 48x48 crops from the Training
    split) and write ``out`` with the parent's metadata plus the calibration facts."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in CALIBRATION_METHODS:
        raise QuantizationError(f"calibration method {method!r}: choose one of {', '.join(CALIBRATION_METHODS)}")
    if len(calibration_faces) == 0:
        raise QuantizationError("no calibration images: pass --data with a data set that has a train split")
    info = read_onnx_metadata(str(fp32_model))
    x = info.preprocessing.apply(calibration_faces)
    batches = [x[i : i + batch_size] for i in range(0, len(x), batch_size)]
    calibrate = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[method]
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_model), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            _Reader(info.input_name, batches),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv", "Gemm", "MaxPool", "GlobalAveragePool"],
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=calibrate,
            extra_options={
                "ActivationSymmetric": True,
                "WeightSymmetric": True,
                "QuantizeBias": False,
                "QDQKeepRemovableActivations": True,
            },
        )
    findings = validate_qdq(out)
    broken = errors(findings)
    if broken:
        raise QuantizationError(
            f"{out} breaks TensorRT's explicit-quantization rules:\n" + "\n".join(str(f) for f in broken)
        )

    info.name = f"{info.name}-int8"
    info.metrics = metrics if metrics is not None else {}
    info.extra = {
        **info.extra,
        "precision": "int8",
        "parent": {
            "file": fp32_model.name,
            "sha256": sha256_file(fp32_model),
            "metrics": read_onnx_metadata(str(fp32_model)).metrics,
        },
        "quantization": {
            "tool": f"onnxruntime.quantization.quantize_static (onnxruntime {_ort_version()})",
            "format": "QDQ",
            "weights": "int8, symmetric, per output channel",
            "activations": "int8, symmetric, per tensor",
            "bias": "float",
            "runtime": RUNTIME_NOTE,
            "calibration": {
                "images": len(calibration_faces),
                "split": "train",
                "method": method,
                "source": calibration_source,
            },
        },
    }
    write_onnx_metadata(str(out), info)
    log.info("wrote %s (%d Q/DQ warnings)", out, len(findings))
    return QuantizeResult(info, findings, len(calibration_faces))


def _ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)
