"""``make gpu-check``: on a Jetson or any CUDA host with TensorRT, build the FP16 and INT8 engines,
compare them with ONNX Runtime on real faces, and time them.

Run: ``python -m export.gpu_check [--faces FACES]``. Without ``--faces`` the faces are made here, as
the device would crop them: scikit-image's two public-domain portraits (the demo's photos), each
moved, scaled, turned, mirrored and lit differently, found by the device's detector (YuNet, else
Haar) and cropped with the model's own policy, so no data set is needed on the device. FACES is a
FER2013 data set (its val split) or a folder of images (needs the workstation extras).
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


def load_faces(source: str | None, n: int, model: Path) -> npt.NDArray[np.uint8]:
    if source is None:
        return made_faces(n, model)
    from train.dataset import load_dataset

    faces, _ = load_dataset(source).split("val")
    return faces[:n]


def made_faces(n: int, model: Path, seed: int = 0) -> npt.NDArray[np.uint8]:
    """``n`` face crops made from the demo's two photos, varied as a camera would see them."""
    import cv2

    from edge.align import crop_faces
    from edge.detect import create_detector
    from edge.model_meta import read_onnx_metadata
    from edge.tools.demo_clip import load_photos

    policy = read_onnx_metadata(str(model)).crop
    yunet = next((p for p in (Path(paths.DETECTOR), Path(paths.DEV_YUNET)) if p.is_file()), None)
    detector = create_detector("yunet", yunet) if yunet else create_detector("haar")
    rng = np.random.default_rng(seed)
    photos = list(load_photos().values())
    crops: list[npt.NDArray[np.uint8]] = []
    attempts = 0
    while len(crops) < n and attempts < 20 * n:
        attempts += 1
        photo = photos[attempts % len(photos)]
        h, w = photo.shape[:2]
        angle, scale = rng.uniform(-12, 12), rng.uniform(0.75, 1.25)
        matrix = np.asarray(cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale), dtype=np.float64)
        matrix[:, 2] = matrix[:, 2] + rng.uniform(-0.08, 0.08, 2) * np.array([w, h], dtype=np.float64)
        image = cv2.warpAffine(photo, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
        if rng.random() < 0.5:
            image = image[:, ::-1]
        gain, bias, gamma = rng.uniform(0.6, 1.3), rng.uniform(-30, 30), rng.uniform(0.7, 1.4)
        lit = np.clip(255.0 * (np.clip(image * gain + bias, 0, 255) / 255.0) ** gamma, 0, 255)
        frame = np.ascontiguousarray(lit.astype(np.uint8))
        faces = detector.detect(frame)
        if faces:
            crops.append(crop_faces(frame, faces[:1], policy)[0])
    if not crops:
        raise RuntimeError("no face was found in the demo's photos: is the face detector file intact?")
    return np.stack(crops)


def compare(
    onnx_path: Path,
    precision: str,
    faces: npt.NDArray[np.uint8],
    max_batch: int,
    runs: int,
    engine: Path | None = None,
) -> dict[str, object]:
    from edge.classify import OnnxRuntimeClassifier
    from edge.tensorrt.backend import TensorRTClassifier
    from edge.tensorrt.engine_manager import default_engine_path, ensure_engine

    reference = OnnxRuntimeClassifier(onnx_path, providers=["CPUExecutionProvider"])
    engine = engine or default_engine_path(onnx_path, precision)
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
    p.add_argument("--faces", help="a FER2013 data set or image folder (default: faces made from the demo's photos)")
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--json", type=Path, default=Path("gpu-check.json"))
    args = p.parse_args(argv)
    from edge.tensorrt.support import tensorrt_unavailable_reason

    reason = tensorrt_unavailable_reason()
    if reason:
        print(f"gpu-check needs TensorRT and a CUDA GPU: {reason}", file=sys.stderr)
        return 2
    faces = load_faces(args.faces, args.n, args.fp32)
    print(f"{len(faces)} faces ({args.faces or 'made from the demo photos'})")
    results = []
    for model, precision in ((args.fp32, "fp16"), (args.int8, "int8")):
        try:
            results.append(compare(model, precision, faces, args.max_batch, args.runs))
        except Exception as exc:  # one engine failing must not hide the other's figures
            results.append({"precision": precision, "model": str(model), "error": f"{type(exc).__name__}: {exc}"})
    print(f"{'engine':<8}{'agree':>8}{'max dp':>9}{'b1 med':>9}{'b1 p99':>9}{'bN med':>9}{'bN p99':>9}")
    for r in results:
        if "error" in r:
            print(f"{r['precision']:<8} failed: {r['error']}")
            continue
        lat = r["latency"]
        assert isinstance(lat, dict)
        b1, bn = lat["batch1"], lat[f"batch{args.max_batch}"]
        print(
            f"{r['precision']:<8}{r['top1_agreement_with_onnxruntime']:>8}{r['max_probability_difference']:>9}"
            f"{b1['median_ms']:>9}{b1['p99_ms']:>9}{bn['median_ms']:>9}{bn['p99_ms']:>9}"
        )
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
