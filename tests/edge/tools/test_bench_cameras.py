"""`emotion-edge bench --cameras N`: N different clips of real faces, in one process sharing one
classifier and in N separate processes, each camera's figures its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.shared
ROOT = Path(__file__).resolve().parents[3]


def bench(*flags: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "emotion_edge.cli", "bench", *flags]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)


def test_two_cameras_in_one_process_and_in_two_report_each_cameras_figures(
    wild_dir: Path, shipped_model: Path, yunet_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cameras.json"
    done = bench(
        "--cameras", "2", "--model", str(shipped_model), "--detector-model", str(yunet_model), "--frames", "30",
        "--warmup", "5", "--wild", str(wild_dir), "--cache-dir", str(tmp_path / "cache"), "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    one, separate = report["one_process"], report["separate_processes"]
    assert report["pace_fps"] == 30 and report["cameras"] == 2
    for run in (one, separate):
        assert [c["camera"] for c in run["cameras"]] == ["camera0", "camera1"]
        for camera in run["cameras"]:
            assert camera["frames"] == 30 and camera["fps"] > 0 and camera["frame_errors"] == 0
            assert camera["end_to_end_p99_ms"] is not None
            assert 0.8 <= camera["faces_per_frame"] <= 1.2  # a face in (nearly) every frame
        assert run["peak_rss_mb"] > 0 and run["cpu_ms_per_frame"] > 0
    clips = [c["clip"] for c in one["cameras"]]
    assert len(set(clips)) == 2 and clips == [c["clip"] for c in separate["cameras"]]
    assert Path(clips[0]).read_bytes() != Path(clips[1]).read_bytes()  # each camera sees other faces
    assert len(separate["peak_rss_mb_each"]) == 2
    assert report["memory_saved_pct"] == pytest.approx(
        100 * (1 - one["peak_rss_mb"] / separate["peak_rss_mb"]), abs=0.1
    )
    batches = one["classifier_batches"]
    assert batches["calls"] > 0 and sum(batches["requests_per_call"].values()) <= batches["calls"]
    assert "camera1" in done.stdout and "one process uses" in done.stdout


def test_cameras_with_one_source_or_the_live_view_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    for flags, flag in ((["--source", "x.mp4"], "--source"), (["--web"], "--web")):
        done = bench("--cameras", "2", *flags)
        assert done.returncode == 2
        (line,) = done.stderr.strip().splitlines()
        assert f"--cameras makes each camera a clip of its own: leave out {flag}" in line
    done = bench("--cameras", "9")
    assert done.returncode == 2 and "invalid choice: 9" in done.stderr
