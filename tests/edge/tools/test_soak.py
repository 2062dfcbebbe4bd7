"""`emotion-edge soak`: the loop for a fixed number of frames on a looping clip with the publisher
connected, reporting resident memory at the start and the end and every error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.tools.soak import current_rss_mb, passed, trend_mb_per_10k

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.shared
def test_a_short_soak_reports_rss_at_start_and_end_and_no_errors_with_mqtt_connected(
    tmp_path: Path, face_clip: Path, shipped_model: Path, yunet_model: Path
) -> None:
    report_path = tmp_path / "soak.json"
    inputs = ["--source", str(face_clip), "--model", str(shipped_model), "--detector-model", str(yunet_model)]
    counts = ["--frames", "120", "--warmup", "20", "--sample-every", "40"]
    done = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "soak", *inputs, *counts, "--json", str(report_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "EMOTION_EDGE_DETECTOR_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    report = json.loads(report_path.read_text())
    assert report["frames"] == 120 and report["stopped_because"] == "frame limit"
    assert [n for n, _ in report["rss_samples"]] == [0, 40, 80, 120]
    assert report["rss_start_mb"] > 0 and report["rss_end_mb"] > 0
    assert report["errors"]["total"] == 0, report["errors"]
    assert report["mqtt_connects"] >= 1 and report["mqtt_sent"] > 0  # the publisher was connected and sent
    assert report["faces_per_frame"] > 0.5  # the clip's real faces went through the whole pipeline
    assert report["passed"]
    assert "RSS         start" in done.stdout and "verdict     PASS" in done.stdout


def test_the_verdict_needs_no_errors_and_growth_within_the_limit() -> None:
    clean = {"errors": {"total": 0}, "rss_growth_mb": 3.0}
    assert passed(clean, max_growth_mb=20)
    assert not passed({**clean, "rss_growth_mb": 25.0}, max_growth_mb=20)
    assert not passed({**clean, "errors": {"total": 1}}, max_growth_mb=20)


def test_the_trend_is_the_least_squares_slope_per_ten_thousand_frames() -> None:
    assert trend_mb_per_10k([(0, 100.0), (5000, 101.0), (10000, 102.0)]) == pytest.approx(2.0)
    assert trend_mb_per_10k([(0, 100.0), (5000, 100.0), (10000, 100.0)]) == pytest.approx(0.0)
    assert trend_mb_per_10k([(0, 100.0), (10000, 101.0)]) is None  # too few samples to call it a trend


def test_resident_memory_is_read_from_the_running_process() -> None:
    # In a fresh interpreter: in this one, earlier tests leave freed but still resident heap that a
    # new block may reuse without growing the resident set.
    probe = (
        "from edge.tools.soak import current_rss_mb\n"
        "before = current_rss_mb()\n"
        "block = bytearray(64 * 1024 * 1024)\n"
        "block[::4096] = b'\\1' * len(block[::4096])  # touched, so it is resident\n"
        "print(current_rss_mb() - before)\n"
    )
    grown = float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
    assert 50 < grown < 80
    assert current_rss_mb() > 0
