"""The release rule of model 2.0.0 (issue #21), fixed before any run and checked by ``evaluate --rule``.

It is about what people get: the whole device pipeline on real photos and the FER+ majority label
of ten taggers, on PrivateTest. FER2013's own labels are reported, not gated: where they and the
FER+ majority disagree (37 % of the images) one answer is right on one of them at most (the model
card's agreement ceiling).

``small`` is the rule of the half-width model for boards without a GPU (``ferplus-small``, written
in models/README.md before its PrivateTest was scored): the same items, but the default's floors
(60 % of the photos, 80 % of FER+, 40 % FER+ recall per class) are reported, not gated. It must beat
the previous release on both figures people get, and its INT8 twin keep to FP32's.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.flags import RULES
from train.honest_eval import Figure, HonestReport

PHOTOS_MIN = 0.60
FERPLUS_MIN = 0.80
CLASS_RECALL_MIN = 0.40
CLASS_RECALL_SUPPORT = 20  # classes with at least this many FER+ rows have a recall floor
INT8_FERPLUS_POINTS = 0.5
INT8_PHOTOS = 2
# The targets of 2.1.0 (item 3 of the issue): reported beside the rule, not gated (a release that
# misses them ships when it beats the previous one by the rule, and the card records every run).
TARGET_FERPLUS = 0.84
TARGET_PHOTOS = 0.66
TARGET_PHOTO_CLASS = 0.30
PARAMS_MAX = 1_500_000
MACS_MAX = 150_000_000


@dataclass(frozen=True)
class Check:
    item: str
    value: str
    target: str
    ok: bool | None  # None: reported, not gated

    def line(self) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "info"}[self.ok]
        return f"  {verdict:<5} {self.item}: {self.value} ({self.target})"


def find(report: HonestReport, prefix: str) -> Figure:
    for f in report.figures:
        if f.name.startswith(prefix):
            return f
    raise ValueError(
        f"{report.model}: no {prefix!r} figure in its report: evaluate it with --votes and --wild on the test split"
    )


def ferplus(report: HonestReport) -> Figure:
    return find(report, f"FER+ {report.split}, majority label")


def photos(report: HonestReport) -> Figure:
    return find(report, "whole pipeline on")


def fer2013(report: HonestReport) -> Figure:
    return find(report, f"FER2013 {report.split}, FER2013 labels")


def without_duplicates(report: HonestReport) -> Figure:
    return find(report, f"FER2013 {report.split} without Training duplicates")


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def release_checks(
    candidate: HonestReport,
    int8: HonestReport | None = None,
    baseline: HonestReport | None = None,
    params: int | None = None,
    macs: int | None = None,
    rule: str = "default",
) -> list[Check]:
    """Every item of the rule, in the issue's order. Items whose inputs are missing are FAIL with the
    reason, never skipped: a model is released only when every gate is PASS. ``rule``: a name in
    ``RULES`` (``small``: the floors reported, not gated)."""
    if rule not in RULES:
        raise ValueError(f"no release rule {rule!r}: choose from {', '.join(RULES)}")
    if candidate.split != "PrivateTest":
        raise ValueError(f"the release rule is scored on PrivateTest, not {candidate.split}: use --split test")
    floors = rule == "default"

    def floor(ok: bool) -> bool | None:
        return ok if floors else None

    unit = "" if floors else " (the default's floor: reported, not gated)"
    ph, fp = photos(candidate), ferplus(candidate)
    zero = [c for c, r in ph.recall.items() if r is not None and ph.support[c] and r == 0]
    checks = [
        Check("whole pipeline on the real photos", f"{_pct(ph.top1)} ({ph.correct}/{ph.n})", ">= 60 %" + unit,
              floor(ph.top1 >= PHOTOS_MIN)),
        Check("no class at zero on the photos", ", ".join(zero) if zero else "none at zero", "every class > 0",
              not zero),
        Check("FER+ PrivateTest, majority label, single crop", f"{_pct(fp.top1)} ({fp.correct}/{fp.n})",
              ">= 80 %" + unit, floor(fp.top1 >= FERPLUS_MIN)),
    ]  # fmt: skip
    low = [
        f"{c} {_pct(r)} of {fp.support[c]}"
        for c, r in fp.recall.items()
        if r is not None and fp.support[c] >= CLASS_RECALL_SUPPORT and r < CLASS_RECALL_MIN
    ]
    rare = ", ".join(
        f"{c} {_pct(r)}" for c, r in fp.recall.items() if r is not None and fp.support[c] < 200
    )  # the rare classes, shown whether they pass or not
    checks.append(
        Check(
            "FER+ recall of every class with >= 20 rows",
            "; ".join(low) if low else f"all >= 40 % ({rare})",
            ">= 40 %" + unit,
            floor(not low),
        )
    )
    if baseline is None:
        checks.append(Check("beats the previous release", "no --baseline given", "both figures higher", False))
    else:
        bph, bfp = photos(baseline), ferplus(baseline)
        checks.append(
            Check(
                f"beats {baseline.model} on the photos and on FER+",
                f"photos {bph.correct} -> {ph.correct}, FER+ {_pct(bfp.top1)} -> {_pct(fp.top1)}",
                "both higher",
                ph.correct > bph.correct and fp.top1 > bfp.top1,
            )
        )
    f13, nodup = fer2013(candidate), without_duplicates(candidate)
    checks.append(
        Check(
            "FER2013 PrivateTest, FER2013 labels (reported, not gated)",
            f"{_pct(f13.top1)} single crop; {_pct(nodup.top1)} without Training duplicates",
            "see the agreement ceiling in the model card",
            None,
        )
    )
    if int8 is None:
        checks.append(Check("INT8 within 0.5 points (FER+) and 2 photos", "no --int8 given", "", False))
    else:
        ifp, iph = ferplus(int8), photos(int8)
        drop = 100 * (fp.top1 - ifp.top1)
        checks.append(
            Check(
                "INT8 within 0.5 points of FP32 on FER+ PrivateTest",
                f"{_pct(ifp.top1)} (INT8 - FP32: {-drop:+.2f} points)",
                ">= -0.5 points",
                drop <= INT8_FERPLUS_POINTS,
            )
        )
        checks.append(
            Check(
                "INT8 within 2 photos of FP32",
                f"{iph.correct} against {ph.correct}",
                "at most 2 fewer",
                ph.correct - iph.correct <= INT8_PHOTOS,
            )
        )
    checks.append(
        Check(
            "size and cost per face",
            f"{params / 1e6:.3f} M parameters, {macs / 1e6:.1f} M MACs" if params and macs else "unknown",
            "<= 1.5 M, <= 150 M",
            bool(params and macs and params <= PARAMS_MAX and macs <= MACS_MAX),
        )
    )
    return checks + target_checks(candidate)


def target_checks(candidate: HonestReport) -> list[Check]:
    """The 2.1.0 targets, as information: met or missed, with the figure."""
    ph, fp = photos(candidate), ferplus(candidate)
    low = [f"{c} {_pct(r)}" for c, r in ph.recall.items() if r is not None and ph.support[c] and r < TARGET_PHOTO_CLASS]
    photos_met = ph.top1 >= TARGET_PHOTOS and not low
    return [
        Check(
            "2.1.0 target: FER+ PrivateTest (reported, not gated)",
            f"{_pct(fp.top1)}: {'met' if fp.top1 >= TARGET_FERPLUS else 'missed'}",
            ">= 84 %",
            None,
        ),
        Check(
            "2.1.0 target: the real photos, every class (reported, not gated)",
            f"{_pct(ph.top1)}"
            + (f", under 30 %: {', '.join(low)}" if low else ", no class under 30 %")
            + (": met" if photos_met else ": missed"),
            ">= 66 %, no class under 30 %",
            None,
        ),
    ]


def format_checks(model: str, checks: list[Check], rule: str = "default") -> str:
    verdict = "RULE MET: releasable" if rule_met(checks) else "RULE NOT MET: not releasable"
    return "\n".join([f"{RULES[rule]} for {model}:", *(c.line() for c in checks), f"  {verdict}"])


def rule_met(checks: list[Check]) -> bool:
    return all(c.ok is not False for c in checks)
