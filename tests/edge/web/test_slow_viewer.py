"""A viewer that never reads does not slow the loop: frames processed in equal spells of time, counted,
with the live view on and no viewer, and with a viewer that connected and then stopped reading.

A loop that waited for that viewer would process next to nothing once the viewer's socket is full;
one that does not processes as many frames as without it, within the noise of a shared machine
(spells of the same kind differ by up to a half there, so the bound is loose and the spells alternate)."""

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
SPELL_S = 2.0
PAIRS = 3


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


@pytest.mark.realtime(reason="compares over 50 frames a second with and without a stalled viewer: a frame rate")
def test_a_stalled_viewer_does_not_slow_the_loop(device_config: Callable[..., DeviceConfig], face_clip: Path) -> None:
    config = device_config(source={"uri": str(face_clip)})
    pipeline = build_pipeline(config)
    view = WebView(WebConfig(enabled=True, port=0), pipeline.classifier.info.classes, credentials=Credentials())
    view.start()
    counts: dict[str, list[int]] = {"no viewer": [], "stalled viewer": []}
    viewer = None
    try:
        frames_in_a_spell(config, pipeline, view)  # warm-up: caches, the clip, ONNX Runtime
        for _ in range(PAIRS):  # alternate, so drift in the machine's load hits both alike
            counts["no viewer"].append(frames_in_a_spell(config, pipeline, view))
            if viewer is None:
                assert view.frames.encoded == 0  # the view is on, but with no viewer nothing is encoded
                viewer = open_stalled_stream(view.url)
            counts["stalled viewer"].append(frames_in_a_spell(config, pipeline, view))
            assert view.frames.viewers == 1  # it is still connected, just not reading
        encoded_while_stalled = view.frames.encoded
        last_spell = frames_in_a_spell(config, pipeline, view)
    finally:
        if viewer is not None:
            viewer.close()
        view.close()
    print("frames per", SPELL_S, "s spell:", counts, "then, stalled:", last_spell)
    none, stalled = sum(counts["no viewer"]), sum(counts["stalled viewer"])
    assert none > 50, counts
    assert stalled >= 0.6 * none, counts
    # The viewer really stalled: its connection filled up and nothing more was encoded for it
    # during the last spell, while the loop went on.
    assert view.frames.encoded == encoded_while_stalled, counts
    assert last_spell > 30, last_spell
    assert encoded_while_stalled < stalled / 4
