"""``emotion-edge export``: onnx (FP32 from a checkpoint), int8 (Q/DQ), engine (TensorRT)."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from edge import paths
from edge.flags import DATA_DEFAULT, DATA_HELP, MODEL_VERSION_HELP, SEED_HELP

if TYPE_CHECKING:
    from train.metrics import Report

log = logging.getLogger(__name__)


def add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="export models: onnx (FP32), int8 (Q/DQ for TensorRT), engine (TensorRT)")
    esub = p.add_subparsers(dest="format", required=True)

    onnx = esub.add_parser("onnx", help="checkpoint to a self-describing FP32 ONNX model")
    onnx.add_argument("checkpoint", type=Path, help="best.pt of a training run")
    onnx.add_argument(
        "--out",
        type=Path,
        default=Path(paths.MODEL),
        help=f"the ONNX file to write (default {paths.MODEL})",
    )
    onnx.add_argument(
        "--data",
        default=paths.DEV_DATA,
        help=f"{DATA_HELP} (its faces check ONNX against torch; {DATA_DEFAULT})",
    )
    onnx.add_argument(
        "--model-name",
        default="emotion-edge-cnn",
        help="the model's name, written into its metadata (default emotion-edge-cnn)",
    )
    # Not --version: that is the package's own, at the top (`emotion-edge --version`).
    onnx.add_argument(
        "--model-version",
        default="1.0.0",
        help=f"{MODEL_VERSION_HELP} (default 1.0.0)",
    )
    onnx.add_argument("--margin", type=float, help="crop margin to record (default: the checkpoint's)")
    onnx.add_argument("--no-align", action="store_true", help="record a crop policy without eye alignment")
    onnx.set_defaults(func=cmd_onnx)

    int8 = esub.add_parser("int8", help="FP32 ONNX to an INT8 Q/DQ ONNX model (TensorRT explicit quantization)")
    int8.add_argument("model", type=Path, help="the FP32 ONNX model")
    int8.add_argument(
        "--data",
        default=paths.DEV_DATA,
        help=f"{DATA_HELP} (its training split calibrates; {DATA_DEFAULT})",
    )
    int8.add_argument("--out", type=Path, help="default: MODEL with -fp32 replaced by -int8")
    int8.add_argument("--calibration-images", type=int, default=1024, help="Training images to calibrate on")
    int8.add_argument(
        "--method",
        choices=["minmax", "entropy", "percentile"],
        default="minmax",
        help="how activation ranges are calibrated (default minmax)",
    )
    int8.add_argument("--seed", type=int, default=0, help=f"{SEED_HELP} (of the calibration images' draw; default 0)")
    int8.add_argument("--no-evaluate", action="store_true", help="skip the FP32 vs INT8 test-split comparison")
    int8.set_defaults(func=cmd_int8)

    engine = esub.add_parser("engine", help="build a TensorRT engine on this device (needs TensorRT and a GPU)")
    engine.add_argument(
        "model",
        type=Path,
        help="ONNX model: the INT8 Q/DQ one for int8, the FP32 one for fp16 (TensorRT 8.6 and 10.x; "
        "11.x builds INT8 only)",
    )
    engine.add_argument(
        "--precision", choices=["fp16", "int8"], default="int8", help="a Q/DQ model makes only INT8 engines"
    )
    engine.add_argument("--max-batch", type=int, default=8, help="most faces per frame (the loop's max_faces)")
    engine.add_argument(
        "--workspace-mib",
        type=int,
        default=256,
        help="the TensorRT builder's workspace, in MiB (default 256)",
    )
    engine.add_argument("--out", type=Path, help="default: MODEL.<precision>.engine beside the model")
    engine.set_defaults(func=cmd_engine)

    from export.release import add_figures, add_release

    add_release(esub)
    add_figures(esub)


def cmd_onnx(args: argparse.Namespace) -> int:
    from train.cli import needs_torch

    needs_torch("export onnx")
    from export.onnx_export import export_onnx, metrics_from_run
    from train import checkpoint
    from train.dataset import load_dataset

    run_dir = args.checkpoint.parent
    metrics = metrics_from_run(run_dir) if (run_dir / "report.json").exists() else {}
    if not metrics:
        log.warning(
            "%s has no report.json: the model's metadata will carry no test figures; write one with "
            "`emotion-edge evaluate %s --split test --json %s` and export again",
            run_dir,
            args.checkpoint,
            run_dir / "report.json",
        )
    crop = checkpoint.load(args.checkpoint).crop
    if args.margin is not None:
        crop = replace(crop, margin=args.margin)
    if args.no_align:
        crop = replace(crop, align=False)
    faces, _ = load_dataset(args.data).split("val")
    extra = {"run": str(run_dir)}
    info, diff = export_onnx(
        args.checkpoint, args.out, faces[:1000], args.model_name, args.model_version, metrics, extra, crop
    )
    print(f"wrote {args.out}: {len(info.classes)} classes, max |p_onnx - p_torch| = {diff:.2e} on 1000 real faces")
    return 0


def cmd_int8(args: argparse.Namespace) -> int:
    import numpy as np

    from edge.model_meta import read_onnx_metadata
    from export.quantize import quantize_int8
    from train.dataset import load_dataset
    from train.evaluate import evaluate_model
    from train.landmarks import for_crop
    from train.sampling import stratified_subset

    out = args.out or args.model.with_name(args.model.name.replace("fp32", "int8").replace(".onnx", "") + ".onnx")
    if out == args.model:
        out = args.model.with_name(args.model.stem + "-int8.onnx")
    info = read_onnx_metadata(str(args.model))
    dataset = load_dataset(args.data)
    if list(dataset.class_names) != info.classes:
        dataset = dataset.subset(info.classes)
    dataset = for_crop(dataset, info.crop, Path(paths.DEV_YUNET))
    train_x, train_y = dataset.split("train")
    pick = stratified_subset(train_y, args.calibration_images, np.random.default_rng(args.seed))
    result = quantize_int8(args.model, out, train_x[pick], args.method, calibration_source=str(args.data))
    for finding in result.findings:
        print(finding)
    print(
        f"wrote {out}: TensorRT explicit-quantization rules hold ({len(result.findings)} warnings); "
        f"calibrated on {result.calibration_images} Training images ({args.method})"
    )
    if not args.no_evaluate:
        fp32 = evaluate_model(args.model, args.data, "test")
        int8 = evaluate_model(out, args.data, "test")
        print(
            f"{'':<10}{'FP32':>9}{'INT8':>9}\n{'top-1':<10}{100 * fp32.top1:>8.2f}%{100 * int8.top1:>8.2f}%"
            f"\n{'macro-F1':<10}{100 * fp32.macro_f1:>8.2f}%{100 * int8.macro_f1:>8.2f}%"
            f"\nINT8 - FP32 top-1: {100 * (int8.top1 - fp32.top1):+.2f} points on {int8.n} test images"
        )
        _record_metrics(out, int8, fp32)
    return 0


def _record_metrics(out: Path, int8: Report, fp32: Report) -> None:
    """Store the INT8 model's own test figures in its metadata, beside its parent's."""
    from edge.model_meta import read_onnx_metadata, write_onnx_metadata

    info = read_onnx_metadata(str(out))
    info.metrics = {
        "split": "FER2013 PrivateTest",
        "test_top1": round(int8.top1, 4),
        "test_macro_f1": round(int8.macro_f1, 4),
        "fp32_test_top1": round(fp32.top1, 4),
    }
    write_onnx_metadata(str(out), info)


def cmd_engine(args: argparse.Namespace) -> int:
    from edge.model_meta import read_onnx_metadata
    from edge.tensorrt.engine_manager import default_engine_path, ensure_engine
    from edge.tensorrt.support import tensorrt_unavailable_reason

    reason = tensorrt_unavailable_reason()
    if reason:
        raise RuntimeError(
            f"cannot build a TensorRT engine here: {reason}. Build it on the Jetson (or any CUDA host "
            "with TensorRT): the engine is specific to its GPU and TensorRT version"
        )
    info = read_onnx_metadata(str(args.model))
    engine = args.out or default_engine_path(args.model, args.precision)
    ensure_engine(
        args.model, info, engine, args.precision, args.max_batch, rebuild=True, workspace_mib=args.workspace_mib
    )
    print(f"engine ready: {engine} (sidecar {engine.name}.json, build log {engine.name}.log)")
    return 0
