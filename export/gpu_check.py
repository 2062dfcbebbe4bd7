"""``make gpu-check``: on a Jetson or any CUDA host with TensorRT, build the FP16 and INT8 engines,
compare them with ONNX Runtime on real faces, and time them.

Run: ``python -m export.gpu_check --fp32 models/emotion-edge-fp32.onnx --int8 models/emotion-edge-int8.onnx
--faces FACES`` where FACES is a FER2013 data set (its val split is used) or a folder of images.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge import paths


def load_faces(source: str, n: int) -> npt.NDArray[np.uint8]:
    from train.dataset import load_dataset

    faces, _ = load_dataset(source).split("val")
    return faces[:n]


def compare(
    onnx_path: Path, precision: str, faces: npt.NDArray[np.uint8], max_batch: int, runs: int
) -> dict[str, object]:
    from edge.classify import OnnxRuntimeClassifier
    from edge.tensorrt.backend import TensorRTClassifier
    from edge.tensorrt.engine_manager import default_engine_path, ensure_engine

    reference = OnnxRuntimeClassifier(onnx_path, providers=["CPUExecutionProvider"])
    engine = default_engine_path(onnx_path, precision)
    ensure_engine(onnx_path, reference.info, engine, precision, max_batch, rebuild=True)
    trt = TensorRTClassifier(engine, reference.info, max_batch)
    try:
        expected = np.concatenate(
            [reference.predict(faces[i : i + max_batch]) for i in range(0, len(faces), max_batch)]
        )
        got = np.concatenate([trt.predict(faces[i : i + max_batch]) for i in range(0, len(faces), max_batch)])
        timings = {}
        for batch in (1, max_batch):
            crops = faces[:batch]
            for _ in range(20):
                trt.predict(crops)
            t = np.empty(runs)
            for i in range(runs):
                start = time.perf_counter()
                trt.predict(crops)
                t[i] = time.perf_counter() - start
            timings[f"batch{batch}"] = {
                "median_ms": round(float(np.median(t)) * 1e3, 3),
                "p99_ms": round(float(np.percentile(t, 99)) * 1e3, 3),
            }
    finally:
        trt.close()
    return {
        "engine": str(engine),
        "precision": precision,
        "faces": len(faces),
        "top1_agreement_with_onnxruntime": round(float((expected.argmax(1) == got.argmax(1)).mean()), 4),
        "max_probability_difference": round(float(np.abs(expected - got).max()), 5),
        "latency": timings,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.gpu_check", description=__doc__)
    p.add_argument("--fp32", type=Path, default=Path(paths.MODEL))
    p.add_argument("--int8", type=Path, default=Path(paths.MODEL_INT8))
    p.add_argument("--faces", default=paths.DEV_DATA)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--json", type=Path, default=Path("gpu-check.json"))
    args = p.parse_args(argv)
    from edge.tensorrt.support import tensorrt_unavailable_reason

    reason = tensorrt_unavailable_reason()
    if reason:
        print(f"gpu-check needs TensorRT and a CUDA GPU: {reason}", file=sys.stderr)
        return 2
    faces = load_faces(args.faces, args.n)
    results = [
        compare(args.fp32, "fp16", faces, args.max_batch, args.runs),
        compare(args.int8, "int8", faces, args.max_batch, args.runs),
    ]
    print(f"{'engine':<8}{'agree':>8}{'max dp':>9}{'b1 med':>9}{'b1 p99':>9}{'bN med':>9}{'bN p99':>9}")
    for r in results:
        lat = r["latency"]
        assert isinstance(lat, dict)
        b1, bn = lat["batch1"], lat[f"batch{args.max_batch}"]
        print(
            f"{r['precision']:<8}{r['top1_agreement_with_onnxruntime']:>8}{r['max_probability_difference']:>9}"
            f"{b1['median_ms']:>9}{b1['p99_ms']:>9}{bn['median_ms']:>9}{bn['p99_ms']:>9}"
        )
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
