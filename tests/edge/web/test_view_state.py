"""The live view's state (the JSON the page polls) shows what the frames cost."""

from __future__ import annotations

from edge.web.config import Credentials, WebConfig
from edge.web.view import WebView


def test_the_state_shows_detections_classifications_and_gated_frames() -> None:
    view = WebView(WebConfig(), ["happy", "sad"], credentials=Credentials())
    figures = {"fps": 30.0, "detections_per_s": 10.2, "classifications_per_s": 19.5, "frames_gated": 420}
    view.stats_source = lambda: figures
    stats = view.state()["stats"]
    assert {k: stats[k] for k in figures} == figures


def test_a_loop_that_reports_no_cadence_figures_shows_none() -> None:
    view = WebView(WebConfig(), ["happy"], credentials=Credentials())
    view.stats_source = lambda: {"fps": 30.0}
    stats = view.state()["stats"]
    assert stats["detections_per_s"] is None and stats["frames_gated"] is None
