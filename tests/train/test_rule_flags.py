"""`evaluate --rule` refuses wrong flags and bad figures files at once, in one line, before scoring."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from emotion_edge.cli import main
from tests.train.test_release_rule import BASE

WRONG_TYPES = {"name": 3, "correct": "many", "n": 1, "recall": {}, "support": {}}
MODEL = Path(__file__).resolve().parents[2] / "models" / "emotion-edge-fp32.onnx"


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Runs ``evaluate``; expects exit 2 within 3 s, nothing scored, one line on stderr."""
    start = time.monotonic()
    assert main(["evaluate", str(MODEL), *argv]) == 2
    assert time.monotonic() - start < 3, "refused only after scoring"
    out, err = capsys.readouterr()
    assert "honest figures" not in out and "top-1" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def rule_flags(tmp_path: Path) -> list[str]:
    wild = tmp_path / "wild"
    wild.mkdir(exist_ok=True)
    votes = tmp_path / "votes.csv"
    votes.write_text("Usage,Image name,neutral\n")
    return ["--rule", "--votes", str(votes), "--wild", str(wild), "--split", "test"]


def test_rule_without_votes_or_photos_names_what_it_needs(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, "--rule")
    assert "--rule needs --votes and --wild:" in line


def test_rule_on_another_split_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    flags = rule_flags(tmp_path)
    line = refused(capsys, *flags[:-1], "val")
    assert "--rule needs --split test" in line and "PrivateTest" in line


@pytest.mark.parametrize("flag", ["--int8", "--baseline"])
def test_a_twin_or_baseline_without_the_rule_is_not_ignored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str
) -> None:
    line = refused(capsys, flag, str(MODEL))
    assert f"{flag} only counts for the release rule: add --rule" in line


def test_a_missing_baseline_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = refused(capsys, *rule_flags(tmp_path), "--baseline", str(tmp_path / "gone.json"))
    assert "--baseline: no file at" in line and "gone.json" in line


@pytest.mark.parametrize(
    "text, reason",
    [
        ("not json {", "not a figures file"),
        ("[1, 2]", "not a figures file"),
        (json.dumps({"model": "m", "split": "PrivateTest"}), "missing 'figures'"),
        (json.dumps({"model": "m", "split": "PrivateTest", "figures": [{"name": "x"}]}), "not a figures file"),
        (json.dumps({"model": "m", "split": "PrivateTest", "figures": [WRONG_TYPES]}), "must be text and counts"),
        (b"\xff\xfe\x00garbage", "cannot be read"),
    ],
)
def test_a_malformed_baseline_figures_file_is_refused_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str | bytes, reason: str
) -> None:
    bad = tmp_path / "baseline.json"
    bad.write_bytes(text if isinstance(text, bytes) else text.encode())
    line = refused(capsys, *rule_flags(tmp_path), "--baseline", str(bad))
    assert str(bad) in line and reason in line


def test_a_baseline_of_another_split_or_without_the_photos_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "public.json"
    public = BASE.to_dict() | {"split": "PublicTest"}
    public["figures"] = [{**f, "name": f["name"].replace("PrivateTest", "PublicTest")} for f in public["figures"]]
    other.write_text(json.dumps(public))
    assert "the rule compares PrivateTest's" in refused(capsys, *rule_flags(tmp_path), "--baseline", str(other))
    no_photos = tmp_path / "no-photos.json"
    no_photos.write_text(json.dumps(BASE.to_dict() | {"figures": BASE.to_dict()["figures"][:3]}))
    line = refused(capsys, *rule_flags(tmp_path), "--baseline", str(no_photos))
    assert "no 'whole pipeline on' figure" in line and str(no_photos) in line


@pytest.mark.parametrize(
    "command", [["evaluate", str(MODEL)], ["export", "release", str(MODEL), "--model-version", "9"]]
)
def test_a_rule_that_does_not_exist_is_refused_naming_the_rules(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main([*command, "--rule", "large"])
    assert stop.value.code == 2
    assert "invalid choice: 'large' (choose from 'default', 'small')" in capsys.readouterr().err
