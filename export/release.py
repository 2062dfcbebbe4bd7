"""``emotion-edge export release``: a selected checkpoint to the two shipped files, judged by the rule.

In order: export the FP32 ONNX model with the release's crop policy; fit its temperature on
PublicTest against the FER+ votes (train/calibration.py) and store it in the metadata; quantize
the INT8 twin from it (calibrated on Training images); score both once on PrivateTest (FER2013
labels, FER+ majority, the whole pipeline on the real photos); check the release rule of issue #21
against the previous release's figures; write the figures into both files' metadata (what
``emotion-edge models`` lists and the device publishes) and the whole record to ``release.json``.
Nothing is written to ``models/`` unless asked (``--out``): a rule that is not met leaves the
files where they were built, so they cannot ship by accident.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge import paths

log = logging.getLogger(__name__)


def headline_metrics(report: Any, prefix: str = "") -> dict[str, Any]:
    """The figures a model is released with, as its metadata's ``metrics`` (flat, rounded)."""
    from train import release_rule as rule

    f13, nodup, fp, ph = (
        rule.fer2013(report),
        rule.without_duplicates(report),
        rule.ferplus(report),
        rule.photos(report),
    )
    return {
        f"{prefix}split": "PrivateTest",
        f"{prefix}wild_top1": round(ph.top1, 4),
        f"{prefix}wild_correct": ph.correct,
        f"{prefix}wild_n": ph.n,
        f"{prefix}wild_recall": {c: None if r is None else round(r, 4) for c, r in ph.recall.items()},
        f"{prefix}ferplus_test_top1": round(fp.top1, 4),
        f"{prefix}ferplus_test_recall": {c: None if r is None else round(r, 4) for c, r in fp.recall.items()},
        f"{prefix}test_top1": round(f13.top1, 4),
        f"{prefix}test_top1_flip_tta": None if f13.flip_top1 is None else round(f13.flip_top1, 4),
        f"{prefix}test_top1_without_duplicates": round(nodup.top1, 4),
    }


def release(
    checkpoint: Path,
    workdir: Path,
    version: str,
    data: str,
    votes: str,
    wild: Path,
    yunet: Path,
    baseline: Path | None,
    name: str = "emotion-edge-cnn",
    margin: float = 0.0,
    align: bool = False,
    rule_name: str = "default",
) -> tuple[bool, dict[str, Any]]:
    """Build, calibrate, quantize and judge by the rule ``rule_name`` (``train.release_rule.RULES``);
    returns whether it is met and the record."""
    import numpy as np

    from edge.model_meta import read_onnx_metadata, write_onnx_metadata
    from export.onnx_export import export_onnx
    from export.quantize import quantize_int8
    from train import checkpoint as ckpt
    from train import release_rule as rule
    from train.calibration import calibrate
    from train.dataset import load_dataset
    from train.honest_eval import HonestReport, honest_figures
    from train.landmarks import for_crop
    from train.sampling import stratified_subset

    workdir.mkdir(parents=True, exist_ok=True)
    fp32, int8 = workdir / "emotion-edge-fp32.onnx", workdir / "emotion-edge-int8.onnx"
    dataset = load_dataset(data)
    crop = replace(ckpt.load(checkpoint).crop, margin=margin, align=align)
    dataset = for_crop(dataset, crop, yunet)
    val_faces, _ = dataset.split("val")
    extra = {"run": str(checkpoint.parent), "labels": "ferplus"}
    _, diff = export_onnx(checkpoint, fp32, val_faces[:1000], name, version, {}, extra, crop)
    log.info("exported %s (max |p_onnx - p_torch| %.1e on 1000 PublicTest faces)", fp32, diff)

    cal = calibrate(fp32, data, votes)
    log.info("%s", cal.format())
    info = read_onnx_metadata(str(fp32))
    info.temperature = cal.temperature
    info.extra = {**info.extra, "calibration": cal.to_dict()}
    write_onnx_metadata(str(fp32), info)

    train_x, train_y = dataset.split("train")
    pick = stratified_subset(train_y, 1024, np.random.default_rng(0))
    quantize_int8(fp32, int8, train_x[pick], "minmax", calibration_source=data)

    reports = {}
    for label, model in (("fp32", fp32), ("int8", int8)):
        report = honest_figures(model, data, votes, "test", wild, yunet)
        report.save(workdir / f"figures-{label}.json")
        print(report.format(), flush=True)
        reports[label] = report
    base = None
    if baseline is not None:
        base = HonestReport.load(baseline) if baseline.suffix == ".json" else None
        if base is None:
            base = honest_figures(baseline, data, votes, "test", wild, yunet)
    checks = rule.release_checks(
        reports["fp32"], reports["int8"], base, info.extra.get("params"), info.extra.get("macs"), rule_name
    )
    print(rule.format_checks(str(fp32), checks, rule_name), flush=True)
    met = rule.rule_met(checks)

    fp32_metrics = headline_metrics(reports["fp32"])
    for label, model in (("fp32", fp32), ("int8", int8)):
        meta = read_onnx_metadata(str(model))
        meta.metrics = headline_metrics(reports[label])
        if label == "int8":
            meta.metrics["fp32"] = fp32_metrics
            meta.temperature = cal.temperature
        meta.metrics["calibration"] = {"temperature": cal.temperature, "ece_ferplus_test": round(cal.test_ece_after, 4)}
        meta.metrics["release_rule"] = ("met" if met else "not met") + (
            "" if rule_name == "default" else f" ({rule_name})"
        )
        write_onnx_metadata(str(model), meta)
    record = {
        "version": version,
        "checkpoint": str(checkpoint),
        "rule": rule_name,
        "rule_met": met,
        "checks": [c.__dict__ for c in checks],
        "calibration": cal.to_dict(),
        "fp32": reports["fp32"].to_dict(),
        "int8": reports["int8"].to_dict(),
        "baseline": base.to_dict() if base else None,
    }
    (workdir / "release.json").write_text(json.dumps(record, indent=2) + "\n")
    return met, record


def record_figures(model: Path, report: Any) -> None:
    """Add a report's headline figures to a model's metadata, keeping what it already records."""
    from edge.model_meta import read_onnx_metadata, write_onnx_metadata

    info = read_onnx_metadata(str(model))
    info.metrics = {**info.metrics, **headline_metrics(report)}
    write_onnx_metadata(str(model), info)


def default_workdir(checkpoint: Path) -> Path:
    return checkpoint.parent / "release"


DEFAULT_BASELINE = f"{Path(paths.MODEL).parent}/emotion-edge-fer2013-fp32.onnx"


def _scoring_flags(p: Any) -> None:
    """What scoring a model reads: the data set, the FER+ votes, the real photos and their detector."""
    from edge.flags import DATA_DEFAULT, DATA_HELP, VOTES_HELP, WILD_HELP

    p.add_argument("--data", default=paths.DEV_DATA, help=f"{DATA_HELP} ({DATA_DEFAULT})")
    p.add_argument("--votes", default=paths.DEV_VOTES, help=f"{VOTES_HELP} (default {paths.DEV_VOTES})")
    p.add_argument("--wild", type=Path, default=Path(paths.DEV_WILD), help=f"{WILD_HELP} (default {paths.DEV_WILD})")
    p.add_argument("--yunet", type=Path, default=Path(paths.DEV_YUNET), help="YuNet model for --wild")


def add_release(esub: Any) -> None:
    from edge.flags import MODEL_VERSION_HELP, RULE_HELP, RULE_NAMES

    p = esub.add_parser(
        "release",
        help="a selected checkpoint to the shipped FP32 and INT8 files: calibrated, quantized, scored once on "
        "PrivateTest and judged by the release rule (models/README.md)",
    )
    p.add_argument("checkpoint", type=Path, help="best.pt of the selected run")
    p.add_argument("--model-version", required=True, help=f"{MODEL_VERSION_HELP} (the release's, in both files)")
    p.add_argument(
        "--model-name",
        default="emotion-edge-cnn",
        help="the model's name, written into its metadata (default emotion-edge-cnn)",
    )
    _scoring_flags(p)
    p.add_argument(
        "--baseline",
        type=Path,
        default=Path(DEFAULT_BASELINE),
        help="the previous release (an .onnx, or its figures as written by evaluate --figures-json) that "
        f"the new one must beat (default {DEFAULT_BASELINE})",
    )
    p.add_argument(
        "--rule",
        nargs="?",
        const="default",
        choices=RULE_NAMES,
        default="default",
        help=f"{RULE_HELP} (the one that judges the release; default: default)",
    )
    p.add_argument("--workdir", type=Path, help="where the files are built (default: beside the checkpoint, release/)")
    p.add_argument(
        "--install",
        action="store_true",
        help=f"when the rule is met, copy both files to {Path(paths.MODEL).parent}/ (the default model)",
    )
    p.add_argument(
        "--install-as",
        metavar="NAME",
        help="with --install: the catalog name the files take (`emotion-edge models`; default: the default model)",
    )
    p.set_defaults(func=cmd_release)


def add_figures(esub: Any) -> None:
    p = esub.add_parser(
        "figures",
        help="score an exported model on PrivateTest and the real photos and record the figures in its metadata "
        "(what `emotion-edge models` lists); for models released before the figures were recorded",
    )
    p.add_argument("model", type=Path, help="an exported .onnx model")
    _scoring_flags(p)
    p.set_defaults(func=cmd_figures)


def cmd_figures(args: Any) -> int:
    from train.honest_eval import honest_figures

    report = honest_figures(args.model, args.data, args.votes, "test", args.wild, args.yunet)
    print(report.format())
    record_figures(args.model, report)
    print(f"recorded in {args.model}'s metadata")
    return 0


def cmd_release(args: Any) -> int:
    import shutil

    from edge import catalog
    from train.cli import needs_torch

    target = catalog.entry(args.install_as or catalog.DEFAULT)[0]
    if args.install_as and not args.install:
        raise ValueError("--install-as names where --install puts the files: give both")
    needs_torch("export release")
    for what, path in (("checkpoint", args.checkpoint), ("--baseline", args.baseline), ("--wild", args.wild)):
        if not Path(path).exists():
            raise FileNotFoundError(f"{what} {path} does not exist")
    workdir = args.workdir or default_workdir(args.checkpoint)
    met, _ = release(
        args.checkpoint,
        workdir,
        args.model_version,
        args.data,
        args.votes,
        args.wild,
        args.yunet,
        args.baseline,
        name=args.model_name,
        rule_name=args.rule,
    )
    if not met:
        print(f"the rule is not met: {workdir} keeps the files; {Path(paths.MODEL).parent}/ is unchanged")
        return 1
    if args.install:
        for precision in catalog.PRECISIONS:
            shutil.copyfile(
                workdir / f"emotion-edge-{precision}.onnx", Path(paths.MODEL).parent / target.file(precision)
            )
        print(f"installed {args.model_version} as the model {target.name!r} in {Path(paths.MODEL).parent}/")
    return 0
