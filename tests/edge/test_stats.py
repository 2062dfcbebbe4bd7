"""Rolling loop figures: percentiles over the last N frames, counters, and their presentation."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from edge.stats import STAGES, LoopStats, RollingWindow, format_line, format_table, peak_rss_mb


def test_percentiles_cover_only_the_last_window_of_samples() -> None:
    window = RollingWindow(100)
    for v in range(1000):
        window.add(float(v))
    s = window.summary()
    assert window.count == 100
    assert s["p50"] == pytest.approx(np.percentile(np.arange(900, 1000), 50))
    assert s["p99"] == pytest.approx(np.percentile(np.arange(900, 1000), 99))
    assert s["max"] == 999.0


def test_an_empty_window_reports_nothing() -> None:
    assert RollingWindow(5).summary() == {}


def test_a_snapshot_has_every_recorded_stage_the_counters_and_memory() -> None:
    stats = LoopStats(window=50)
    for i in range(20):
        stats.record({name: 1.0 + i for name in STAGES if name != "draw"}, faces=i % 3)
    snap = stats.snapshot({"dropped_frames": 4, "bad_frames": 1}, backend="onnxruntime")
    assert set(snap["latency_ms"]) == set(STAGES) - {"draw"}
    assert snap["latency_ms"]["end_to_end"]["p50"] == pytest.approx(10.5)
    assert snap["frames"] == 20 and snap["faces"] == sum(i % 3 for i in range(20))
    assert snap["dropped_frames"] == 4 and snap["backend"] == "onnxruntime"
    assert snap["fps"] > 0 and snap["peak_rss_mb"] > 0
    json.dumps(snap)  # what sinks get must serialise as it is


def test_reset_starts_the_figures_over() -> None:
    stats = LoopStats(window=10)
    stats.record({"detect": 5.0}, faces=1)
    stats.reset()
    assert stats.frames == 0 and stats.snapshot()["latency_ms"] == {}


def test_the_log_line_and_table_show_the_figures() -> None:
    stats = LoopStats()
    for _ in range(3):
        stats.record({"detect": 4.0, "infer": 2.0, "end_to_end": 9.0}, faces=1)
    snap = stats.snapshot({"dropped_frames": 2})
    line = format_line(snap)
    assert "detect 4.0/4.0" in line and "end-to-end 9.0/9.0" in line and "dropped 2" in line
    table = format_table(snap).splitlines()
    assert table[0].split() == ["stage", "p50", "ms", "p95", "ms", "p99", "ms", "mean", "ms", "max", "ms"]
    assert table[1].split()[0] == "detect"


def test_peak_rss_is_in_megabytes() -> None:
    assert 5 < peak_rss_mb() < 100_000


def test_the_snapshot_counts_what_ran_detections_gated_frames_classifications() -> None:
    stats = LoopStats(window=30)
    for i in range(30):
        detected = i % 3 == 0
        stats.record({"end_to_end": 1.0}, faces=2, detected=detected, gated=False, classified=2 if detected else 0)
        time.sleep(0.002)
    for _ in range(10):
        stats.record({"end_to_end": 1.0}, faces=0, detected=False, gated=True)
        time.sleep(0.002)
    snap = stats.snapshot()
    assert (snap["detections"], snap["frames_gated"], snap["classifications"]) == (10, 10, 20)
    fps = snap["fps"]
    # Over the window (the last 30 frames: 10 to 39): 6 detections (12, 15, ..., 27), 12 faces classified.
    assert snap["detections_per_s"] == pytest.approx(fps * 6 / 30, rel=0.05)
    assert snap["classifications_per_s"] == pytest.approx(fps * 12 / 30, rel=0.05)
    assert "detections/s" in format_line(snap) and "gated 10" in format_line(snap)
