"""The one command, ``emotion-edge``, with subcommands. Heavy imports happen inside each command,
so ``--help`` and every device-side command work without torch installed."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from edge import __version__

log = logging.getLogger("emotion-edge")

DEFAULT_DATA = "../shared/datasets/fer2013.tar.gz"
DEFAULT_WILD = "../shared/media/wild"
DEFAULT_YUNET = "../shared/models/face_detection_yunet.onnx"


class UserError(Exception):
    """An error the user can fix; printed as one line, without a traceback."""


def _needs_torch(what: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"`emotion-edge {what}` needs the workstation extras (torch): run `make install` "
            "or `pip install torch==2.13.0 -e '.[train]'`"
        ) from exc


# --- train / evaluate -------------------------------------------------------------------------


def add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", help="train the emotion CNN on FER2013 (or any image-folder data set)")
    p.add_argument("--config", type=Path, help="JSON file of training settings (flags override it)")
    p.add_argument(
        "--data", help=f"fer2013.csv, an image-folder tree or a .tar.gz/.zip of one (default {DEFAULT_DATA})"
    )
    p.add_argument("--out", help="parent of run directories (default runs)")
    p.add_argument("--name", help="run name: the run directory is OUT/NAME (default release)")
    p.add_argument("--classes", help="comma-separated subset of the data set's classes")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--equalize", choices=["none", "hist", "clahe"])
    p.add_argument("--class-weighting", choices=["none", "sqrt_inv", "inv"])
    p.add_argument("--ema-decay", type=float, help="0 disables the weight average")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs (0: never stop early)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--no-amp", action="store_true", help="train in full float32")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--threads", type=int)
    p.add_argument("--limit-train", type=int, help="stratified subset of train images (smoke runs)")
    p.add_argument("--limit-eval", type=int, help="at most this many val and test images")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images and bad CSV rows (counted)")
    p.add_argument("--strict-size", action="store_true", help="reject images that are not 48x48")
    p.add_argument("--resume", action="store_true", help="continue OUT/NAME from its last.pt, exactly")
    p.add_argument("--stop-after", type=int, help="pause after this epoch (continue later with --resume)")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    _needs_torch("train")
    from train.config import TrainConfig
    from train.trainer import train

    cfg = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    overrides = {
        "data": args.data,
        "out": args.out,
        "name": args.name,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "equalize": args.equalize,
        "class_weighting": args.class_weighting,
        "ema_decay": args.ema_decay,
        "patience": args.patience,
        "seed": args.seed,
        "device": args.device,
        "threads": args.threads,
        "limit_train": args.limit_train,
        "limit_eval": args.limit_eval,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    if args.classes:
        cfg.classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    cfg.amp = cfg.amp and not args.no_amp
    cfg.augment = cfg.augment and not args.no_augment
    cfg.skip_bad = cfg.skip_bad or args.skip_bad
    cfg.strict_size = cfg.strict_size or args.strict_size
    report = train(cfg.validate(), resume=args.resume, stop_after=args.stop_after)
    if report is None:
        print(f"paused; continue with: emotion-edge train --name {cfg.name} --out {cfg.out} --resume")
        return 0
    print(f"run directory: {cfg.run_dir}\ntest top-1 {100 * report.top1:.2f}%  macro-F1 {100 * report.macro_f1:.2f}%")
    return 0


def add_evaluate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("evaluate", help="evaluate a checkpoint (.pt) or ONNX model on a data split")
    p.add_argument("model", type=Path, help="best.pt of a run, or an exported .onnx")
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--json", type=Path, help="also write the report as JSON")
    p.add_argument("--confusion-png", type=Path, help="also draw the confusion matrix")
    p.add_argument("--skip-bad", action="store_true")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from train.evaluate import evaluate_model

    report = evaluate_model(args.model, args.data, args.split, skip_bad=args.skip_bad)
    print(report.format())
    if args.json:
        report.save(args.json)
    if args.confusion_png:
        from train.metrics import plot_confusion

        plot_confusion(report, args.confusion_png)
    return 0


# --- export -------------------------------------------------------------------------------------


def add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="export models: onnx (FP32)")
    esub = p.add_subparsers(dest="format", required=True)
    onnx = esub.add_parser("onnx", help="checkpoint to a self-describing FP32 ONNX model")
    onnx.add_argument("checkpoint", type=Path, help="best.pt of a training run")
    onnx.add_argument("--out", type=Path, default=Path("models/emotion-edge-fp32.onnx"))
    onnx.add_argument("--data", default=DEFAULT_DATA, help="real faces to check ONNX against torch")
    onnx.add_argument("--name", default="emotion-edge-cnn")
    onnx.add_argument("--version", default="1.0.0")
    onnx.add_argument("--margin", type=float, help="crop margin to record (default: the checkpoint's)")
    onnx.add_argument("--no-align", action="store_true", help="record a crop policy without eye alignment")
    onnx.set_defaults(func=cmd_export_onnx)


def cmd_export_onnx(args: argparse.Namespace) -> int:
    _needs_torch("export onnx")
    from dataclasses import replace

    from export.onnx_export import export_onnx, load_checkpoint, metrics_from_run
    from train.dataset import load_dataset

    run_dir = args.checkpoint.parent
    metrics = metrics_from_run(run_dir) if (run_dir / "report.json").exists() else {}
    crop = load_checkpoint(args.checkpoint).info.crop
    if args.margin is not None:
        crop = replace(crop, margin=args.margin)
    if args.no_align:
        crop = replace(crop, align=False)
    faces, _ = load_dataset(args.data).split("val")
    extra = {"run": str(run_dir)}
    info, diff = export_onnx(args.checkpoint, args.out, faces[:1000], args.name, args.version, metrics, extra, crop)
    print(f"wrote {args.out}: {len(info.classes)} classes, max |p_onnx - p_torch| = {diff:.2e} on 1000 real faces")
    return 0


# --- main ---------------------------------------------------------------------------------------

COMMANDS: Sequence[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = (
    add_train,
    add_evaluate,
    add_export,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emotion-edge", description="Facial emotion on the edge: train, export, run.")
    parser.add_argument("--version", action="version", version=f"emotion-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"emotion-edge: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as exc:
        # Our own errors (DatasetError, ConfigError, ExportError, ...) carry a message that says
        # what to do; a traceback would only bury it.
        if args.verbose:
            raise
        print(f"emotion-edge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emotion-edge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
