"""A seven-class model grown to eight (FER+'s contempt appended), as ``train --contempt`` makes:
for the tests of everything that must take another class set unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.model_meta import read_onnx_metadata


def grow_contempt(shipped: Path, out: Path) -> Path:
    """The shipped model with an eighth output, contempt: a zero row in its last linear layer."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from edge.model_meta import write_onnx_metadata

    model = onnx.load(str(shipped))
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    trans_b = next((a.i for a in gemm.attribute if a.name == "transB"), 0)
    inits = {t.name: t for t in model.graph.initializer}
    w = numpy_helper.to_array(inits[gemm.input[1]])
    b = numpy_helper.to_array(inits[gemm.input[2]])
    w = (
        np.concatenate([w, np.zeros((1, w.shape[1]), w.dtype)])
        if trans_b
        else np.concatenate([w, np.zeros((w.shape[0], 1), w.dtype)], axis=1)
    )
    b = np.concatenate([b, np.array([b.min()], b.dtype)])
    inits[gemm.input[1]].CopyFrom(numpy_helper.from_array(w, gemm.input[1]))
    inits[gemm.input[2]].CopyFrom(numpy_helper.from_array(b, gemm.input[2]))
    for value in [*model.graph.output, *model.graph.value_info]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 2 and dims[1].dim_value == 7:
            dims[1].dim_value = 8
    onnx.save(model, str(out))
    info = read_onnx_metadata(str(shipped))
    info.classes = [*info.classes, "contempt"]
    info.version = "0.0.0-contempt-test"
    write_onnx_metadata(str(out), info)
    return out
