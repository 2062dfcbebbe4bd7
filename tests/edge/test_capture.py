"""The capture thread: newest frame only (drops counted) or every frame; retries a source that dies."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.capture import CapturedFrame, FrameGrabber, RetryPolicy
from edge.sources import SourceOpenError, SourceSettings, make_source
from tests.edge.conftest import MjpegCamera, frame_level

FAST_RETRY = RetryPolicy(initial_s=0.01, max_s=0.05, max_retries=3)


def take_all(grabber: FrameGrabber, timeout: float = 5.0) -> list[CapturedFrame]:
    frames = []
    while (frame := grabber.get(timeout)) is not None:
        frames.append(frame)
    return frames


def test_every_frame_mode_hands_over_each_frame_in_order_then_finishes(numbered_clip: Callable[[int], Path]) -> None:
    grabber = FrameGrabber(make_source(str(numbered_clip(15))), keep_latest=False).start()
    frames = take_all(grabber)
    grabber.stop()
    assert [frame_level(f.image) for f in frames] == list(range(15))
    assert [f.index for f in frames] == list(range(15))
    assert grabber.finished and grabber.error is None
    assert grabber.counters()["dropped_frames"] == 0 and grabber.frames_read == 15


def test_newest_frame_mode_never_hands_over_a_stale_frame_and_counts_what_it_dropped(
    numbered_clip: Callable[[int], Path],
) -> None:
    grabber = FrameGrabber(make_source(str(numbered_clip(40))), keep_latest=True).start()
    taken = []
    while (frame := grabber.get(5.0)) is not None:
        taken.append(frame)
        time.sleep(0.01)  # a loop slower than the file: the capture thread runs ahead
    grabber.stop()
    indices = [f.index for f in taken]
    assert indices == sorted(set(indices)), "frames must only get newer"
    assert grabber.dropped > 0
    assert grabber.dropped + len(taken) == grabber.frames_read == 40


def test_a_paced_file_arrives_no_faster_than_its_pace(numbered_clip: Callable[[int], Path]) -> None:
    grabber = FrameGrabber(make_source(str(numbered_clip(6))), keep_latest=False, pace_fps=50.0).start()
    frames = take_all(grabber)
    grabber.stop()
    assert len(frames) == 6
    assert frames[-1].captured_at - frames[0].captured_at >= 5 / 50.0 * 0.9


def test_pacing_to_the_source_uses_the_files_own_frame_rate(numbered_clip: Callable[[int], Path]) -> None:
    grabber = FrameGrabber(make_source(str(numbered_clip(2))), pace_to_source=True).start()
    assert grabber.pace_fps == pytest.approx(30.0)
    grabber.stop()


def test_a_source_that_cannot_open_fails_at_start() -> None:
    grabber = FrameGrabber(make_source("/dev/video97"))
    with pytest.raises(SourceOpenError, match=r"^/dev/video97: no such device"):
        grabber.start()


def test_stop_releases_the_source(numbered_clip: Callable[[int], Path]) -> None:
    source = make_source(str(numbered_clip(100)), SourceSettings(loop=True))
    grabber = FrameGrabber(source).start()
    assert grabber.get(5.0) is not None
    grabber.stop()
    assert source._cap is None  # type: ignore[attr-defined]


# --- a stream that ends and comes back, for real: an MJPEG-over-HTTP camera ---------------------


def test_a_stream_that_drops_is_reopened_with_backoff_and_frames_keep_coming(mjpeg_camera: MjpegCamera) -> None:
    source = make_source(mjpeg_camera.url)
    assert source.live
    grabber = FrameGrabber(source, keep_latest=False, retry=FAST_RETRY).start()
    frames = [grabber.get(5.0) for _ in range(20)]
    grabber.stop()
    assert all(f is not None for f in frames)
    assert grabber.failures >= 2 and grabber.reconnects >= 2
    assert mjpeg_camera.connections >= 3
    assert grabber.error is None


def test_a_stream_that_never_comes_back_is_given_up_with_the_reason(mjpeg_camera: MjpegCamera) -> None:
    grabber = FrameGrabber(make_source(mjpeg_camera.url), keep_latest=False, retry=FAST_RETRY).start()
    assert grabber.get(5.0) is not None
    mjpeg_camera.unplug()
    take_all(grabber)
    grabber.stop()
    assert grabber.finished
    assert grabber.error is not None
    assert grabber.error.startswith(f"{mjpeg_camera.url}: gave up after 3 reopen attempts (")
    assert "cannot open the stream" in grabber.error


def test_a_folder_whose_images_vanish_mid_run_fails_and_is_given_up(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8, 3), 5 + 10 * i, np.uint8))
    source = make_source(str(tmp_path), SourceSettings(loop=True))
    grabber = FrameGrabber(source, keep_latest=False, retry=FAST_RETRY).start()
    assert grabber.get(5.0) is not None
    for png in tmp_path.glob("*.png"):
        png.unlink()
    take_all(grabber)
    grabber.stop()
    assert source.bad_frames >= 1
    assert grabber.failures == 1
    assert grabber.error is not None and "no images" in grabber.error


def every_frame_corrupt(clip: Path) -> Path:
    """Zero the start of every JPEG in an MJPG AVI: the container opens, no frame decodes."""
    data = bytearray(clip.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i] == 0xFF and data[i + 1] == 0xD8 and data[i + 2] == 0xFF]
    for start in starts:
        data[start : start + 600] = bytes(600)
    clip.write_bytes(bytes(data))
    return clip


def test_a_video_whose_frames_go_bad_mid_run_backs_off_and_says_the_reason_once(
    numbered_clip: Callable[[int], Path], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    # The file is replaced by one whose container opens and whose frames do not decode: each reopen
    # fails, and the backoff must grow (it used to start again at initial_s on every open that
    # succeeded: a reopen and a warning every 0.5 s, for ever).
    clip = numbered_clip(4)
    source = make_source(str(clip), SourceSettings(loop=True))
    retry = RetryPolicy(initial_s=0.01, max_s=0.08, max_retries=6)
    with caplog.at_level(logging.INFO, logger="edge.capture"):
        grabber = FrameGrabber(source, keep_latest=False, retry=retry).start()
        assert grabber.get(5.0) is not None
        corrupt = tmp_path / "corrupt.avi"
        corrupt.write_bytes(clip.read_bytes())
        every_frame_corrupt(corrupt).replace(clip)
        deadline = time.monotonic() + 30  # generous: a loaded machine; the old code never finished
        while not grabber.finished and time.monotonic() < deadline:
            grabber.get(0.5)
        grabber.stop()
    assert grabber.error is not None and "gave up after 6 reopen attempts" in grabber.error
    lines = [r.getMessage() for r in caplog.records if "next attempt in" in r.getMessage()]
    waits = [float(line.split("next attempt in ")[1].split(" s")[0]) for line in lines]
    assert waits == [0.01, 0.02, 0.04, 0.08, 0.08, 0.08]
    attempts = [int(line.rsplit("(attempt ", 1)[1].rstrip(")")) for line in lines]
    assert attempts == [1, 2, 3, 4, 5, 6]
    reason = "the file opens but its first frame cannot be decoded"
    assert sum(reason in line for line in lines) == 1, lines  # the reason in full once, then "same reason"
    assert all("(same reason)" in line for line in lines[1:]), lines
