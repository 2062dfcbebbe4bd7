"""A viewer that never reads does not slow the loop: frames processed in equal spells of time, counted,
with the live view on and no viewer, and with a viewer that connected and then stopped reading."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.config import DeviceConfig
from edge.loop import FrameLoop
from edge.pipeline import FacePipeline, build_pipeline
from edge.service.runner import make_grabber
from edge.web.config import Credentials, WebConfig
from edge.web.view import WebView
from tests.edge.web.helpers import open_stalled_stream

pytestmark = pytest.mark.shared
SPELL_S = 2.5


def frames_in_a_spell(config: DeviceConfig, pipeline: FacePipeline, view: WebView) -> int:
    """Frames the real loop processes in SPELL_S seconds, every frame of the looping clip, unpaced."""
    _, grabber = make_grabber(config, loop=True, realtime=False)
    stop = threading.Event()
    loop = FrameLoop(grabber, pipeline, [view], stats_interval_s=3600, stop_event=stop, frame_sinks=[view])
    grabber.start()
    timer = threading.Timer(SPELL_S, stop.set)
    timer.start()
    try:
        return loop.run().frames
    finally:
        timer.cancel()
        grabber.stop()


def test_a_stalled_viewer_does_not_slow_the_loop(device_config: Callable[..., DeviceConfig], face_clip: Path) -> None:
    config = device_config(source={"uri": str(face_clip)})
    pipeline = build_pipeline(config)
    view = WebView(WebConfig(enabled=True, port=0), pipeline.classifier.info.classes, credentials=Credentials())
    view.start()
    counts: dict[str, list[int]] = {"no viewer": [], "stalled viewer": []}
    viewer = None
    try:
        frames_in_a_spell(config, pipeline, view)  # warm-up: caches, the clip, ONNX Runtime
        for _ in range(2):  # alternate, so drift in the machine's load hits both alike
            counts["no viewer"].append(frames_in_a_spell(config, pipeline, view))
            if viewer is None:
                assert view.frames.encoded == 0  # the view is on, but with no viewer nothing is encoded
                viewer = open_stalled_stream(view.url)
            counts["stalled viewer"].append(frames_in_a_spell(config, pipeline, view))
            assert view.frames.viewers == 1  # it is still connected, just not reading
        encoded_while_stalled = view.frames.encoded
        counts["stalled viewer"].append(frames_in_a_spell(config, pipeline, view))
        counts["no viewer"].append(0)  # keep the lists even for the report below
    finally:
        if viewer is not None:
            viewer.close()
        view.close()
    print("frames per", SPELL_S, "s spell:", counts)
    none, stalled = sum(counts["no viewer"][:2]), sum(counts["stalled viewer"][:2])
    assert none > 50, counts
    # Within noise: the shared 2-core machine varies by some percent from spell to spell.
    assert stalled >= 0.8 * none, counts
    # The viewer really stalled: its connection filled up and nothing more was encoded for it
    # during the last spell, while the loop went on.
    assert view.frames.encoded == encoded_while_stalled, counts
    assert counts["stalled viewer"][2] > 50
    assert encoded_while_stalled < stalled / 4
