"""``bench --web``: the loop with the live view on, no viewer (nothing encoded) or one reading the stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.tools.bench import format_report, run_bench

pytestmark = pytest.mark.shared


def test_bench_with_the_view_on_and_nobody_watching_encodes_nothing(face_clip: Path, device_config) -> None:
    report = run_bench(device_config(source={"uri": str(face_clip)}), frames=40, warmup=5, web_viewers=0)
    assert report["measured_frames"] == 40
    web = report["web"]
    assert web["viewers"] == 0 and web["offered"] == 45 and web["encoded"] == 0
    assert "web view    on, 0 viewer(s): 0 pictures encoded" in format_report(report)
    assert report["cpu_ms_per_frame"] > 0


def test_bench_with_one_viewer_streams_pictures(face_clip: Path, device_config) -> None:
    config = device_config(source={"uri": str(face_clip)}, web={"max_width": 320})
    report = run_bench(config, frames=60, pace_fps=30.0, warmup=0, web_viewers=1)
    web = report["web"]
    assert web["viewers"] == 1 and web["error"] is None
    assert web["pictures"] >= 3 and web["encoded"] >= web["pictures"]
    assert web["max_width"] == 320 and web["jpeg_kb_mean"] < 40
    assert "1 viewer(s)" in format_report(report)


def test_without_web_there_is_no_web_report(face_clip: Path, device_config) -> None:
    assert run_bench(device_config(source={"uri": str(face_clip)}), frames=5, warmup=0)["web"] is None
    with pytest.raises(ValueError, match="--web-viewers must be 0 or 1"):
        run_bench(device_config(source={"uri": str(face_clip)}), frames=5, web_viewers=2)
