"""The loop's side of the hand-over: every processed frame is offered by reference, after any drawing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge.annotate import Recorder
from edge.config import DeviceConfig
from edge.loop import FrameLoop
from edge.pipeline import build_pipeline
from edge.results import FrameResult
from edge.service.runner import make_grabber

pytestmark = pytest.mark.shared


class Keeper:
    """A frame sink that keeps what it is offered."""

    def __init__(self) -> None:
        self.offers: list[tuple[np.ndarray, FrameResult, float, bool]] = []

    def offer(self, image: np.ndarray, result: FrameResult, fps: float = 0.0, annotated: bool = False) -> None:
        self.offers.append((image, result, fps, annotated))


class Broken:
    def offer(self, image: np.ndarray, result: FrameResult, fps: float = 0.0, annotated: bool = False) -> None:
        raise RuntimeError("a broken frame sink")


@pytest.mark.parametrize("record", [False, True])
def test_every_frame_is_offered_by_reference(
    record: bool, device_config: Callable[..., DeviceConfig], face_clip: Path, tmp_path: Path
) -> None:
    config = device_config(source={"uri": str(face_clip)})
    _, grabber = make_grabber(config, realtime=False)
    keeper, broken = Keeper(), Broken()
    recorder = Recorder(tmp_path / "out.avi", 30.0) if record else None
    loop = FrameLoop(grabber, build_pipeline(config), recorder=recorder, frame_sinks=[broken, keeper])
    grabber.start()
    try:
        summary = loop.run()
    finally:
        grabber.stop()
        if recorder is not None:
            recorder.close()
    assert summary.frames == 30 and len(keeper.offers) == 30  # a broken sink stops neither the loop nor the others
    assert summary.stats["sink_errors"] == 30
    images = [o[0] for o in keeper.offers]
    assert len({id(i) for i in images}) == 30  # each frame its own array, handed over without a copy
    assert all(annotated is record for *_, annotated in keeper.offers)  # drawn on already when recording
    assert [o[1].frame_index for o in keeper.offers] == list(range(30))
    assert all(o[1].faces for o in keeper.offers)
