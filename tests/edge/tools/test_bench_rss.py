"""`emotion-edge bench` measures the loop's own memory: the first run (which makes the clip) and a
run on the cached clip report the same peak RSS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.shared
ROOT = Path(__file__).resolve().parents[3]


def test_peak_rss_is_the_loops_whether_or_not_the_clip_had_to_be_made(
    wild_dir: Path, shipped_model: Path, yunet_model: Path, tmp_path: Path
) -> None:
    reports = []
    for run in ("first", "cached"):
        out = tmp_path / f"{run}.json"
        command = [
            sys.executable, "-m", "emotion_edge.cli", "bench", "--model", str(shipped_model),
            "--detector-model", str(yunet_model), "--frames", "5", "--warmup", "0", "--wild", str(wild_dir),
            "--cache-dir", str(tmp_path / "cache"), "--json", str(out),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=180)
        assert done.returncode == 0, done.stderr
        reports.append(json.loads(out.read_text()))
    first, cached = (r["peak_rss_mb"] for r in reports)
    # Making the clip in the same process added 35-270 MB to the first run's figure.
    assert abs(first - cached) < 15, (first, cached)
