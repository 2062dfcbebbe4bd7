"""The benchmark: its clip is made from real faces and cached; the command prints a table and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edge.tools.bench import format_report, run_bench
from edge.tools.bench_clip import cached_bench_clip, clip_path, make_bench_clip
from tests.edge.conftest import write_numbered_clip

pytestmark = pytest.mark.shared
ROOT = Path(__file__).resolve().parents[3]


def test_the_clip_is_640x480_with_its_facts_beside_it(face_clip: Path) -> None:
    capture = cv2.VideoCapture(str(face_clip))
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 480)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    capture.release()
    facts = json.loads(face_clip.with_suffix(".json").read_text())
    assert facts["faces_per_frame"] == 1 and facts["frames"] == 30 and facts["photos_checked_by_detector"]
    assert len(facts["photos"]) == 3  # ten frames per photo


def test_the_cached_clip_is_made_once_and_then_reused(wild_dir: Path, tmp_path: Path) -> None:
    path = clip_path(4, tmp_path)
    assert not path.exists()
    made = make_bench_clip(wild_dir, 4, path, frames=5)
    stamp = made.stat().st_mtime_ns
    assert cached_bench_clip(wild_dir, 4, tmp_path) == path
    assert path.stat().st_mtime_ns == stamp
    assert str(tmp_path) in str(path) and "-4face-" in path.name


def test_only_one_or_four_faces_per_frame(wild_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1 or 4 faces per frame, not 2"):
        make_bench_clip(wild_dir, 2, tmp_path / "x.avi")


def test_a_bench_run_reports_every_figure(face_clip: Path, device_config) -> None:
    report = run_bench(device_config(source={"uri": str(face_clip)}), frames=12, warmup=3)
    assert report["measured_frames"] == 12 and report["warmup_frames"] == 3
    assert report["mode"] == "every frame, as fast as possible"
    assert report["dropped_frames"] == 0 and report["fps"] > 0
    assert {"capture_wait", "detect", "align", "infer", "track", "publish", "end_to_end"} <= set(report["latency_ms"])
    assert report["peak_rss_mb"] > 0 and report["backend"] == "onnxruntime"
    text = format_report(report)
    assert "end_to_end" in text and "peak RSS" in text and "fps" in text


def test_a_paced_bench_behaves_like_a_camera(tmp_path: Path, device_config) -> None:
    clip = write_numbered_clip(tmp_path / "short.avi", 4)  # shorter than the run: it loops
    report = run_bench(device_config(source={"uri": str(clip)}), frames=6, pace_fps=60.0, warmup=0)
    assert report["measured_frames"] == 6 and report["pace_fps"] == 60.0
    assert report["mode"] == "paced at 60 fps, newest frame only"


def test_the_bench_command_prints_a_table_and_writes_json_without_torch(
    face_clip: Path, shipped_model: Path, yunet_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "emotion_edge.cli", "bench", "--source", str(face_clip), "--model", str(shipped_model),
        "--detector-model", str(yunet_model), "--frames", "10", "--warmup", "2", "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "stage" in done.stdout and "end_to_end" in done.stdout and "peak RSS" in done.stdout
    report = json.loads(out.read_text())
    assert report["measured_frames"] == 10 and report["torch_imported"] is False
    assert report["latency_ms"]["end_to_end"]["p99"] > 0


def test_the_settings_comparison_reports_each_setting_against_every_frame(
    face_clip: Path, shipped_model: Path, yunet_model: Path
) -> None:
    from edge.tools.bench_compare import BASELINE, RESCALED, compare, format_compare

    base = {"detector": {"model": str(yunet_model)}, "model": {"path": str(shipped_model)}, "mqtt": {"enabled": False}}
    report = compare(base, {"1": (str(face_clip), {})}, frames=12, warmup=3, pace_fps=60.0)
    runs = report["clips"]["1"]["settings"]
    assert list(runs) == [BASELINE, "auto", "auto, boxes held still", "auto, every frame decoded", RESCALED]
    every, auto, decoded = runs[BASELINE], runs["auto"], runs["auto, every frame decoded"]
    rescaled = runs[RESCALED]
    assert every["frames"] == auto["frames"] == every["frames_compared"] == 12
    assert every["emotion_agree"] == every["faces_agree"] == every["each_face_agree"] == 1.0
    assert every["cpu_vs_every_frame"] == 1.0
    assert every["detections"] == 15 and every["classifications"] == 15  # every frame, warm-up included
    assert auto["detections"] < 15 and auto["classifications"] < 15
    assert every["cpu_ms_per_frame"] > 0 and 0 <= auto["emotion_agree"] <= 1
    assert decoded["frames_compared"] == 12 and decoded["detections"] < 15
    # The every-frame pipeline again, its detector fed 4 px more: every frame pays, nothing is compared to a target.
    assert rescaled["detections"] == rescaled["classifications"] == 15
    assert rescaled["detector_side"] == every["detector_side"] + 4
    text = format_compare(report)
    assert "auto, boxes held still" in text
    (row,) = [line for line in text.splitlines() if line.startswith(f"1       {RESCALED}")]
    assert "CPU" not in row and "met" not in row  # a reference, not a candidate


def test_the_comparison_gives_the_mean_over_clips_of_one_kind(
    face_clip: Path, shipped_model: Path, yunet_model: Path
) -> None:
    from edge.tools.bench_compare import compare, format_compare

    base = {"detector": {"model": str(yunet_model)}, "model": {"path": str(shipped_model)}, "mqtt": {"enabled": False}}
    clips = {"1": (str(face_clip), {}), "1#1": (str(face_clip), {})}
    report = compare(base, clips, frames=6, warmup=2, pace_fps=60.0, settings=("every frame", "auto"))
    text = format_compare(report)
    assert "mean over the 2 clips of kind 1 (1, 1#1):" in text
    assert "  every frame" in text and "emotion 100.0% (100.0% to 100.0%)" in text


def test_repeated_runs_report_each_settings_lowest_cpu_and_whether_their_answers_matched(
    face_clip: Path, shipped_model: Path, yunet_model: Path
) -> None:
    from edge.tools.bench_compare import compare, format_compare

    base = {"detector": {"model": str(yunet_model)}, "model": {"path": str(shipped_model)}, "mqtt": {"enabled": False}}
    report = compare(
        base,
        {"1": (str(face_clip), {})},
        frames=8,
        warmup=2,
        pace_fps=60.0,
        settings=("every frame", "auto"),
        repeats=2,
    )
    for run in report["clips"]["1"]["settings"].values():
        assert len(run["cpu_ms_per_frame_runs"]) == 2
        assert run["cpu_ms_per_frame"] == min(run["cpu_ms_per_frame_runs"]) > 0
        assert run["repeat_agree"] == 1.0  # the clip's clock drives the cadence: the same answers each run
    assert report["repeats"] == 2 and "(the lowest of 2 runs)" in format_compare(report)


def test_compare_refuses_an_unknown_clip_naming_the_choices(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "emotion_edge.cli", "bench", "--compare", "--clips", "empty,lobby"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "--clips 'empty,lobby': choose from empty, 1, 4, moving" in done.stderr


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--variants", "0", "--variants 0: give 1 to 8 clips of each face kind"),
        ("--repeats", "6", "--repeats 6: give 1 to 5 runs of each setting"),
        ("--repeats", "-1", "--repeats -1: give 1 to 5 runs of each setting"),
    ],
)
def test_compare_refuses_a_count_out_of_range(flag: str, value: str, said: str) -> None:
    command = [sys.executable, "-m", "emotion_edge.cli", "bench", "--compare", flag, value]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr


def test_each_face_agrees_only_where_the_setting_has_that_face_with_the_same_emotion() -> None:
    from edge.tools.bench_compare import Recording, _Frame, agreement

    left, right = (10, 10, 100, 100), (300, 10, 100, 100)
    baseline, setting = Recording(), Recording()
    baseline.frames = {
        0: _Frame(2, "happy", left, [left, right], ["happy", "sad"]),
        1: _Frame(2, "happy", left, [left, right], ["happy", "sad"]),
    }
    setting.frames = {
        0: _Frame(2, "happy", left, [right, (12, 12, 100, 100)], ["sad", "happy"]),  # other order, a pixel off
        1: _Frame(1, "happy", left, [(60, 10, 100, 100)], ["happy"]),  # half across: not the same face
    }
    result = agreement(setting, baseline)
    assert result["each_face_agree"] == 0.5 and result["emotion_agree"] == 1.0 and result["faces_agree"] == 0.5


def test_each_face_agreement_is_none_without_faces() -> None:
    from edge.tools.bench_compare import Recording, _Frame, agreement

    empty = Recording(frames={0: _Frame(0, None, None, [], [])})
    assert agreement(empty, empty)["each_face_agree"] is None


def test_a_missed_target_says_by_how_much_even_when_the_rounded_share_equals_it() -> None:
    from edge.tools.bench_compare import meets

    assert meets("1", {"cpu_vs_every_frame": 0.502}) == ["CPU 50.2% > 50%"]
    assert meets("1", {"cpu_vs_every_frame": 0.5}) == []
    assert meets("empty", {"cpu_vs_every_frame": 0.151}) == ["CPU 15.1% > 15%"]
    assert meets("4", {"cpu_vs_every_frame": 0.4, "emotion_agree": 0.9649, "first_emotion_frames": [0, 7]}) == [
        "emotion 96.5% < 97%",
        "first emotion late: [7]",
    ]
