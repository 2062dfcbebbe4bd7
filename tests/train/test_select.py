"""The run to ship is chosen on PublicTest alone, and a run that cannot be compared is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from train.select import SelectError, main, select


def finished_run(root: Path, name: str, val: float, test: float) -> Path:
    run = root / name
    run.mkdir()
    (run / "best.pt").write_bytes(b"weights")
    (run / "summary.json").write_text(json.dumps({"val_top1": val, "best_epoch": 3}))
    (run / "report.json").write_text(json.dumps({"top1": test}))
    return run


def test_the_best_val_run_wins_whatever_its_test_figure(tmp_path: Path) -> None:
    a = finished_run(tmp_path, "a", val=0.700, test=0.72)
    b = finished_run(tmp_path, "b", val=0.706, test=0.69)
    c = finished_run(tmp_path, "c", val=0.703, test=0.71)
    assert select([a, b, c]) == b / "best.pt"


def test_a_tie_goes_to_the_first_run_named(tmp_path: Path) -> None:
    a = finished_run(tmp_path, "a", val=0.7066, test=0.69)
    b = finished_run(tmp_path, "b", val=0.7066, test=0.71)
    assert select([a, b]) == a / "best.pt"
    assert select([b, a]) == b / "best.pt"


def test_an_unfinished_run_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done = finished_run(tmp_path, "done", val=0.7, test=0.7)
    half = tmp_path / "half"
    half.mkdir()
    (half / "last.pt").write_bytes(b"x")
    with pytest.raises(SelectError, match=r"half: no finished run there"):
        select([done, half])
    assert main([str(done), str(half)]) == 2
    assert "train.select:" in capsys.readouterr().err
    assert main([]) == 2


def test_the_command_prints_the_winners_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = finished_run(tmp_path, "a", val=0.69, test=0.7)
    b = finished_run(tmp_path, "b", val=0.70, test=0.7)
    assert main([str(a), str(b)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == str(b / "best.pt")
    assert "val top-1 69.00 %" in out.err
