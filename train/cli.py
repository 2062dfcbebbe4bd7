"""``emotion-edge train`` and ``emotion-edge evaluate``: registered by edge.cli; heavy imports
happen inside the commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.cli import needs_torch

DEFAULT_DATA = "../shared/datasets/fer2013.tar.gz"
DEFAULT_WILD = "../shared/media/wild"
DEFAULT_YUNET = "../shared/models/face_detection_yunet.onnx"


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
    p.add_argument("--warmup-epochs", type=float)
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
    p.add_argument(
        "--init",
        help="start from this checkpoint's weights (a best.pt: its selected weights) or from a model this "
        "project exported (.onnx, e.g. models/emotion-edge-fp32.onnx) instead of a random "
        "initialisation, for a warm restart or fine-tuning; same architecture and classes",
    )
    p.add_argument(
        "--teacher",
        action="append",
        help="distil from this checkpoint (.pt) or released model (.onnx, e.g. models/emotion-edge-fp32.onnx): "
        "its prediction averaged over each training image and its mirror becomes a soft target beside the label; "
        "repeat it to distil from the ensemble of several (their log-probabilities averaged)",
    )
    p.add_argument("--distill-weight", type=float, help="share of the loss from the teacher (default 0.5)")
    p.add_argument("--distill-temperature", type=float, help="softening of both distributions (default 2)")
    p.add_argument(
        "--mixup-alpha",
        type=float,
        help="blend each training batch with a shuffled copy of itself, weights drawn from Beta(a, a), "
        "and the loss likewise (0: off, the default)",
    )
    p.add_argument(
        "--labels",
        choices=["fer2013", "ferplus"],
        help="training targets: FER2013's one label per image (default) or FER+'s ten votes (needs --votes)",
    )
    p.add_argument("--votes", help="FER+ votes file, e.g. ../shared/datasets/ferplus-fer2013new.csv")
    p.add_argument(
        "--ferplus-weight",
        type=float,
        help="with --labels ferplus: share of the FER+ vote distribution in each target, the rest being the "
        "FER2013 label (default 1: votes only)",
    )
    p.add_argument(
        "--select-on",
        choices=["fer2013", "ferplus", "mean"],
        help="PublicTest top-1 that selects the epoch: FER2013 labels (default), FER+ majority, or their mean",
    )
    p.add_argument("--no-test", action="store_true", help="do not score PrivateTest at the end (probes)")
    p.add_argument("--device-crop", action="store_true", help="jitter framing like the device's YuNet crops")
    p.add_argument("--camera", action="store_true", help="camera degradations: down-and-up scaling, JPEG")
    p.add_argument("--resume", action="store_true", help="continue OUT/NAME from its last.pt, exactly")
    p.add_argument("--stop-after", type=int, help="pause after this epoch (continue later with --resume)")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    needs_torch("train")
    from train.config import TrainConfig
    from train.trainer import train

    cfg = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    overrides = {
        "data": args.data,
        "out": args.out,
        "name": args.name,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "warmup_epochs": args.warmup_epochs,
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
        "init": args.init,
        "teachers": args.teacher,
        "distill_weight": args.distill_weight,
        "distill_temperature": args.distill_temperature,
        "mixup_alpha": args.mixup_alpha,
        "labels": args.labels,
        "votes": args.votes,
        "ferplus_weight": args.ferplus_weight,
        "select_on": args.select_on,
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
    cfg.test_report = cfg.test_report and not args.no_test
    cfg.device_crop = cfg.device_crop or args.device_crop
    cfg.camera = cfg.camera or args.camera
    report = train(cfg.validate(), resume=args.resume, stop_after=args.stop_after)
    if report is None:
        print(f"paused; continue with: emotion-edge train --name {cfg.name} --out {cfg.out} --resume")
        return 0
    which = "test" if cfg.test_report else "val (PrivateTest not scored: --no-test)"
    print(f"run directory: {cfg.run_dir}")
    print(f"{which} top-1 {100 * report.top1:.2f}%  macro-F1 {100 * report.macro_f1:.2f}%")
    return 0


def add_evaluate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("evaluate", help="evaluate a checkpoint (.pt) or ONNX model on a data split")
    p.add_argument("model", type=Path, help="best.pt of a run, or an exported .onnx")
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--json", type=Path, help="also write the report as JSON")
    p.add_argument("--confusion-png", type=Path, help="also draw the confusion matrix")
    p.add_argument("--skip-bad", action="store_true")
    p.add_argument(
        "--wild",
        type=Path,
        help=f"also run the whole pipeline (YuNet, crop, model) on labelled photos, e.g. {DEFAULT_WILD}",
    )
    p.add_argument("--yunet", type=Path, default=Path(DEFAULT_YUNET), help="YuNet model for --wild")
    p.add_argument("--margins", help="comma-separated crop margins to compare on --wild (default: the model's)")
    p.add_argument("--align", choices=["model", "on", "off", "both"], default="model", help="eye alignment on --wild")
    p.add_argument(
        "--votes",
        help="FER+ votes file (e.g. ../shared/datasets/ferplus-fer2013new.csv): also print the honest figures "
        "(FER2013 labels with and without the Training duplicates, FER+ majority label, the whole pipeline "
        "on --wild with a 95 %% interval, per-class recall for each)",
    )
    p.add_argument("--figures-json", type=Path, help="with --votes: also write the honest figures as JSON")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from train.evaluate import evaluate_model

    if args.votes:
        from train.honest_eval import honest_figures

        if not args.model.is_file():
            raise FileNotFoundError(f"model not found: {args.model} (expected a best.pt checkpoint or an .onnx file)")
        policy = None
        if args.margins or args.align in ("on", "off"):  # one policy for the honest figures: the first asked
            from dataclasses import replace

            from train.evaluate import policy_of

            policy = policy_of(args.model)
            if args.margins:
                policy = replace(policy, margin=float(args.margins.split(",")[0]))
            if args.align in ("on", "off"):
                policy = replace(policy, align=args.align == "on")
        honest = honest_figures(args.model, args.data, args.votes, args.split, args.wild, args.yunet, policy=policy)
        print(honest.format())
        print()
        if args.figures_json:
            honest.save(args.figures_json)
    if args.wild and not args.votes:
        evaluate_wild_policies(args)
    report = evaluate_model(args.model, args.data, args.split, skip_bad=args.skip_bad)
    print(report.format())
    if args.json:
        report.save(args.json)
    if args.confusion_png:
        from train.metrics import plot_confusion

        plot_confusion(report, args.confusion_png)
    return 0


def evaluate_wild_policies(args: argparse.Namespace) -> None:
    """Whole-pipeline accuracy on real photos for each crop policy asked for: a table, best first."""
    from dataclasses import replace

    from train.evaluate import checkpoint_predictor, onnx_predictor, policy_of
    from train.wild_eval import evaluate_wild

    classes, predict = onnx_predictor(args.model) if args.model.suffix == ".onnx" else checkpoint_predictor(args.model)
    base = policy_of(args.model)
    margins = [float(m) for m in args.margins.split(",")] if args.margins else [base.margin]
    aligns = {"model": [base.align], "on": [True], "off": [False], "both": [True, False]}[args.align]
    rows = []
    for align in aligns:
        for margin in margins:
            policy = replace(base, margin=margin, align=align)
            result = evaluate_wild(args.wild, args.yunet, predict, classes, policy)
            rows.append((result.top1, margin, align, result))
    print(f"whole pipeline on {args.wild} (YuNet -> crop -> model); a photo without a found face counts as wrong")
    print(f"{'margin':>8}{'align':>7}{'top-1':>8}{'faces':>8}{'photos':>8}")
    for top1, margin, align, result in sorted(rows, key=lambda r: -r[0]):
        print(
            f"{margin:>8.2f}{'on' if align else 'off':>7}{100 * top1:>7.1f}%{result.faces_found:>8}{result.images:>8}"
        )
    print()
