"""The release rule of issue #21: every item gates, and a missing input fails instead of passing."""

from __future__ import annotations

from train.honest_eval import Figure, HonestReport
from train.release_rule import format_checks, release_checks, rule_met

CLASSES = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def fig(name: str, correct: int, n: int, recall: dict[str, float] | None = None, support: int = 100) -> Figure:
    rec: dict[str, float | None] = {c: 0.8 for c in CLASSES}
    rec.update(recall or {})
    return Figure(name, correct, n, rec, {c: support for c in CLASSES})


def report(
    photos: int = 80,
    ferplus: int = 2850,
    photo_recall: dict[str, float] | None = None,
    ferplus_recall: dict[str, float] | None = None,
    ferplus_support: int = 100,
    model: str = "candidate.onnx",
) -> HonestReport:
    return HonestReport(
        model,
        "PrivateTest",
        [
            fig("FER2013 PrivateTest, FER2013 labels", 2265, 3589),
            fig("FER2013 PrivateTest without Training duplicates, FER2013 labels", 2047, 3301),
            fig("FER+ PrivateTest, majority label", ferplus, 3519, ferplus_recall, ferplus_support),
            fig("whole pipeline on ../shared/media/wild (YuNet)", photos, 130, photo_recall, 20),
        ],
    )


BASE = report(photos=58, ferplus=2281, model="1.2.0.onnx")
SIZE = {"params": 1_165_159, "macs": 96_216_832}


def failing(checks: list) -> list[str]:  # type: ignore[type-arg]
    return [c.item for c in checks if c.ok is False]


def test_a_model_that_meets_every_item_is_releasable() -> None:
    checks = release_checks(report(), report(photos=79, ferplus=2840), BASE, **SIZE)
    assert failing(checks) == []
    assert rule_met(checks)
    assert "RULE MET" in format_checks("candidate.onnx", checks)


def test_fewer_than_60_percent_of_the_photos_fails() -> None:
    assert "whole pipeline on the real photos" in failing(
        release_checks(report(photos=77), report(photos=77), BASE, **SIZE)
    )


def test_a_class_never_recognised_on_the_photos_fails() -> None:
    checks = release_checks(report(photo_recall={"disgust": 0.0}), report(), BASE, **SIZE)
    assert failing(checks) == ["no class at zero on the photos"]


def test_ferplus_below_80_percent_fails() -> None:
    checks = release_checks(report(ferplus=2800), report(ferplus=2800), BASE, **SIZE)  # 79.57 %
    assert "FER+ PrivateTest, majority label, single crop" in failing(checks)


def test_a_class_with_20_rows_needs_40_percent_recall_and_a_smaller_one_does_not() -> None:
    low = release_checks(report(ferplus_recall={"fear": 0.39}, ferplus_support=20), report(), BASE, **SIZE)
    assert failing(low) == ["FER+ recall of every class with >= 20 rows"]
    small = release_checks(report(ferplus_recall={"fear": 0.0}, ferplus_support=19), report(), BASE, **SIZE)
    assert failing(small) == []


def test_it_must_beat_the_previous_release_on_both_figures() -> None:
    better_base = report(photos=81, ferplus=2000, model="1.2.0.onnx")
    assert failing(release_checks(report(), report(), better_base, **SIZE)) == [
        "beats 1.2.0.onnx on the photos and on FER+"
    ]


def test_int8_may_lose_half_a_point_of_ferplus_and_two_photos_no_more() -> None:
    ok = release_checks(report(), report(photos=78, ferplus=2833), BASE, **SIZE)  # -0.48 points, -2 photos
    assert failing(ok) == []
    worse = release_checks(report(), report(photos=77, ferplus=2830), BASE, **SIZE)
    assert set(failing(worse)) == {"INT8 within 0.5 points of FP32 on FER+ PrivateTest", "INT8 within 2 photos of FP32"}


def test_fer2013_labels_are_reported_not_gated() -> None:
    checks = release_checks(report(), report(), BASE, **SIZE)
    fer = [c for c in checks if c.item.startswith("FER2013 PrivateTest")]
    assert len(fer) == 1 and fer[0].ok is None and "63.11 %" in fer[0].value


def test_missing_int8_baseline_or_size_fails_rather_than_passes() -> None:
    checks = release_checks(report())
    assert len(failing(checks)) == 3
    assert not rule_met(checks)
    big = release_checks(report(), report(), BASE, params=1_600_000, macs=96_000_000)
    assert failing(big) == ["size and cost per face"]


def test_the_2_1_0_targets_are_reported_met_or_missed_but_never_gate() -> None:
    def targets(checks: list) -> dict[str, str]:  # type: ignore[type-arg]
        return {c.item.split(": ", 1)[1].split(" (")[0]: c.value for c in checks if c.item.startswith("2.1.0 target")}

    # 2,850 of 3,519 is 80.99 % of FER+; 80 of 130 photos is 61.54 %: both targets missed, rule met.
    missed = release_checks(report(), report(), BASE, **SIZE)
    assert rule_met(missed)
    assert targets(missed) == {
        "FER+ PrivateTest": "80.99 %: missed",
        "the real photos, every class": "61.54 %, no class under 30 %: missed",
    }
    met = release_checks(report(photos=86, ferplus=2960), report(photos=86, ferplus=2960), BASE, **SIZE)
    assert targets(met) == {
        "FER+ PrivateTest": "84.11 %: met",
        "the real photos, every class": "66.15 %, no class under 30 %: met",
    }
    # Enough photos overall, but one class under 30 %: the photo target is missed.
    weak = release_checks(report(photos=86, photo_recall={"disgust": 0.25}), report(photos=86), BASE, **SIZE)
    assert targets(weak)["the real photos, every class"] == "66.15 %, under 30 %: disgust 25.00 %: missed"
    assert all(c.ok is None for c in weak if c.item.startswith("2.1.0 target"))


def test_the_small_models_rule_reports_the_defaults_floors_without_gating_them() -> None:
    # ferplus-small 2.1.0's figures: 74 of 130 photos, 77.29 % of FER+, disgust 30.4 % of 23 rows.
    small = report(photos=74, ferplus=2720, ferplus_recall={"disgust": 0.304}, ferplus_support=23)
    twin = report(photos=74, ferplus=2714, ferplus_recall={"disgust": 0.348}, ferplus_support=23)
    size = {"params": 291_895, "macs": 24_200_000}
    assert set(failing(release_checks(small, twin, BASE, **size))) == {
        "whole pipeline on the real photos",
        "FER+ PrivateTest, majority label, single crop",
        "FER+ recall of every class with >= 20 rows",
    }
    checks = release_checks(small, twin, BASE, **size, rule="small")
    assert failing(checks) == [] and rule_met(checks)
    floors = [c for c in checks if c.target.endswith("(the default's floor: reported, not gated)")]
    assert [c.ok for c in floors] == [None, None, None]
    assert format_checks("small.onnx", checks, "small").startswith("the small model's release rule (models/README.md)")


def test_the_small_models_rule_still_gates_the_rest() -> None:
    small = report(photos=74, ferplus=2720)
    better_base = report(photos=75, ferplus=2000, model="1.2.0.onnx")
    assert failing(release_checks(small, small, better_base, **SIZE, rule="small")) == [
        "beats 1.2.0.onnx on the photos and on FER+"
    ]
    worse_twin = report(photos=71, ferplus=2700)  # 3 photos and 0.57 points fewer
    assert set(failing(release_checks(small, worse_twin, BASE, **SIZE, rule="small"))) == {
        "INT8 within 0.5 points of FP32 on FER+ PrivateTest",
        "INT8 within 2 photos of FP32",
    }
    zero = report(photos=74, ferplus=2720, photo_recall={"fear": 0.0})
    assert failing(release_checks(zero, zero, BASE, **SIZE, rule="small")) == ["no class at zero on the photos"]


def test_an_unknown_rule_is_refused_naming_the_rules() -> None:
    import pytest

    from edge.flags import RULE_NAMES
    from train.release_rule import RULES

    assert tuple(RULES) == RULE_NAMES  # the commands offer exactly the rules there are
    with pytest.raises(ValueError, match="no release rule 'large': choose from default, small"):
        release_checks(report(), report(), BASE, **SIZE, rule="large")
