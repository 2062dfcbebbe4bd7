"""``emotion-edge train`` and ``emotion-edge evaluate``: registered by emotion_edge.cli; heavy imports
happen inside the commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge import paths
from edge.errors import UserError
from edge.flags import DATA_DEFAULT, DATA_HELP, RULE_HELP, RULE_NAMES, SKIP_BAD_HELP, VOTES_HELP, WILD_HELP

if TYPE_CHECKING:
    from train.config import TrainConfig

DEFAULT_DATA = paths.DEV_DATA


def needs_torch(what: str) -> None:
    """Stop with the install command when a workstation command runs where torch is absent."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"`emotion-edge {what}` needs the workstation extras (torch): run `make install` "
            "or `pip install torch==2.13.0 -e '.[train]'`"
        ) from exc


# Flags are generated from TrainConfig's fields (edge.fields.add_flags); only these differ from --field-name.
# --teacher is repeated (one checkpoint or model per flag); --test/--no-test scores PrivateTest at the end or not.
FLAG_NAMES = {"teachers": "--teacher", "test_report": "--test"}
REPEATED = ("teachers",)


def add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from edge.fields import add_flags
    from train.config import TrainConfig

    p = sub.add_parser(
        "train",
        help="train the emotion CNN on FER2013 (or any image-folder data set)",
        description="Every training setting is a flag; flags override a --config file (JSON or TOML, the same "
        "keys as a run's config.json), which overrides the defaults.",
    )
    p.add_argument("--config", type=Path, help="JSON or TOML file of training settings (flags override it)")
    p.add_argument("--resume", action="store_true", help="continue OUT/NAME from its last.pt, exactly")
    p.add_argument("--stop-after", type=int, help="pause after this epoch (continue later with --resume)")
    add_flags(p, TrainConfig, FLAG_NAMES, REPEATED)
    p.set_defaults(func=cmd_train)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """Defaults, then the --config file, then the flags: the validated TrainConfig (ConfigError names
    the key, the value, and the file or flag it came from)."""
    from edge.fields import Layers, flag_layers
    from train.config import TrainConfig

    layers = Layers()
    if args.config is not None:
        TrainConfig.layers(TrainConfig.read(args.config), f"file {args.config}", layers)
    return flag_layers(args, TrainConfig, layers).validate(TrainConfig)


def cmd_train(args: argparse.Namespace) -> int:
    needs_torch("train")
    from train.trainer import train

    cfg = train_config(args)
    report = train(cfg, resume=args.resume, stop_after=args.stop_after)
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
    p.add_argument("--data", default=paths.DEV_DATA, help=f"{DATA_HELP} ({DATA_DEFAULT})")
    p.add_argument(
        "--split",
        default="test",
        choices=["train", "val", "test"],
        help="which split to score: train (Training), val (PublicTest) or test (PrivateTest; default)",
    )
    p.add_argument("--json", type=Path, help="also write the report as JSON")
    p.add_argument("--confusion-png", type=Path, help="also draw the confusion matrix")
    p.add_argument("--skip-bad", action="store_true", help=f"{SKIP_BAD_HELP} (default: off)")
    p.add_argument(
        "--wild",
        type=Path,
        help=f"{WILD_HELP} (labelled: also run the whole pipeline, YuNet, crop and model, on them; "
        f"e.g. {paths.DEV_WILD})",
    )
    p.add_argument("--yunet", type=Path, default=Path(paths.DEV_YUNET), help="YuNet model for --wild")
    p.add_argument("--margins", help="comma-separated crop margins to compare on --wild (default: the model's)")
    p.add_argument("--align", choices=["model", "on", "off", "both"], default="model", help="eye alignment on --wild")
    p.add_argument(
        "--votes",
        help=f"{VOTES_HELP} (e.g. {paths.DEV_VOTES}: also print the honest figures: FER2013 labels with and "
        "without the Training duplicates, FER+ majority label, the whole pipeline on --wild with a 95 %% "
        "interval, per-class recall for each)",
    )
    p.add_argument("--figures-json", type=Path, help="with --votes: also write the honest figures as JSON")
    p.add_argument(
        "--rule",
        nargs="?",
        const="default",
        choices=RULE_NAMES,
        help=f"{RULE_HELP} (checked after the figures; needs --votes, --wild and --split test)",
    )
    p.add_argument("--int8", type=Path, help="with --rule: the INT8 twin, scored and held to FP32's figures")
    p.add_argument(
        "--baseline",
        type=Path,
        help="the previous release (an .onnx, or its figures as written by evaluate --figures-json) that the "
        "new one must beat (with --rule)",
    )
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from train.evaluate import evaluate_model

    check_rule_flags(args)  # before any scoring: a wrong flag must not cost minutes of work first
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
        if args.rule:
            print_rule(args, honest, policy)
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


def check_rule_flags(args: argparse.Namespace) -> None:
    """The release rule's flags, checked together: none is ignored, every file is there, and a
    ``--baseline`` figures file is read (and refused with the reason) before anything is scored."""
    for flag, value in (("--int8", args.int8), ("--baseline", args.baseline)):
        if value is None:
            continue
        if not args.rule:
            raise ValueError(
                f"{flag} only counts for the release rule: add --rule (with --votes, --wild, --split test)"
            )
        if not value.is_file():
            raise FileNotFoundError(f"{flag}: no file at {value} (an .onnx model, or a figures .json for --baseline)")
    if not args.rule:
        return
    missing = [flag for flag, value in (("--votes", args.votes), ("--wild", args.wild)) if not value]
    if missing or args.split != "test":
        need = " and ".join(missing + (["--split test"] if args.split != "test" else []))
        raise ValueError(
            f"--rule needs {need}: the rule is about the real photos and the FER+ votes on PrivateTest "
            f"(e.g. --votes {paths.DEV_VOTES} --wild {paths.DEV_WILD} --split test)"
        )
    if args.baseline is not None and args.baseline.suffix == ".json":
        baseline_figures(args.baseline)


def baseline_figures(path: Path) -> Any:
    """A previous release's figures file, with the two figures the rule compares against."""
    from train import release_rule
    from train.honest_eval import HonestReport

    report = HonestReport.load(path)
    try:
        release_rule.photos(report), release_rule.ferplus(report)
    except ValueError as exc:
        raise ValueError(f"--baseline {path}: {exc}") from None
    if report.split != "PrivateTest":
        raise ValueError(f"--baseline {path}: figures of {report.split}, the rule compares PrivateTest's")
    return report


def print_rule(args: argparse.Namespace, honest: Any, policy: Any) -> None:
    """Every figure of the release rule for ``args.model``, its INT8 twin and the previous release."""
    from train import release_rule
    from train.honest_eval import honest_figures

    def scored(model: Path | None) -> Any:
        if model is None:
            return None
        if model.suffix == ".json":
            return baseline_figures(model)
        report = honest_figures(model, args.data, args.votes, args.split, args.wild, args.yunet, policy=policy)
        print(report.format(), flush=True)
        return report

    int8, baseline = scored(args.int8), scored(args.baseline)
    size = size_of(args.model)
    checks = release_rule.release_checks(honest, int8, baseline, size.get("params"), size.get("macs"), args.rule)
    print()
    print(release_rule.format_checks(str(args.model), checks, args.rule))


def size_of(model: Path) -> dict[str, int]:
    """Parameters and multiply-accumulates per face, from the ONNX metadata or the checkpoint."""
    if model.suffix == ".onnx":
        from edge.model_meta import read_onnx_metadata

        extra = read_onnx_metadata(str(model)).extra
    else:
        from train import checkpoint

        extra = checkpoint.load(model).state
    return {k: extra[k] for k in ("params", "macs") if isinstance(extra.get(k), int)}


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
