"""`export release --install-as NAME`: the files go in under a catalog name; a wrong name or a name
without --install is refused in one line before anything is built."""

from __future__ import annotations

import pytest

from emotion_edge.cli import main


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["export", "release", "no-such-run/best.pt", "--model-version", "2.1.0", *argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_an_unknown_name_is_refused_listing_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, "--install", "--install-as", "ferplus-huge")
    assert "no model named 'ferplus-huge'" in line and "fer2013" in line


def test_a_name_without_install_is_refused_rather_than_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--install-as names where --install puts the files: give both" in refused(capsys, "--install-as", "fer2013")


def test_a_valid_name_goes_on_to_check_the_checkpoint(capsys: pytest.CaptureFixture[str]) -> None:
    assert "checkpoint no-such-run/best.pt does not exist" in refused(capsys, "--install", "--install-as", "fer2013")
