"""The hand-over and the encoder: nothing encoded without a viewer, rate and width capped, the loop's
picture left untouched."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from edge.web.frames import LiveFrames, TooManyViewers, render
from tests.edge.web.helpers import frame


@pytest.fixture
def frames():
    f = LiveFrames(max_fps=10, max_width=320, quality=70).start()
    yield f
    f.stop()


def test_nothing_is_encoded_without_a_viewer(frames: LiveFrames) -> None:
    for i in range(200):
        frames.offer(*frame(i))
        time.sleep(0.002)
    assert frames.offered == 200
    assert frames.encoded == 0


def test_a_waiting_viewer_gets_the_newest_frame_shrunk_to_max_width(frames: LiveFrames) -> None:
    for i in range(5):
        frames.offer(*frame(i))
    got = frames.next_jpeg(0, timeout=5.0)
    assert got is not None
    seq, jpeg = got
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (240, 320, 3)  # 640x480 shrunk to 320 wide, aspect kept
    # The grey level tells the frame: the newest (4), not the first.
    assert abs(float(np.median(picture)) - frame(4)[0][0, 0, 0]) <= 3
    assert frames.encoded == 1
    # No newer frame: a viewer that has seq waits and gets nothing new.
    assert frames.next_jpeg(seq, timeout=0.3) is None


def test_a_jpeg_frame_is_decoded_only_for_a_waiting_viewer(frames: LiveFrames) -> None:
    from edge.jpeg_frame import JpegFrame

    offered = []
    for i in range(5):
        image, *rest = frame(i)
        jpeg = JpegFrame.parse(np.asarray(cv2.imencode(".jpg", image)[1], np.uint8))
        assert jpeg is not None
        offered.append(jpeg)
        frames.offer(jpeg, *rest)
    time.sleep(0.2)
    assert not any(f.decoded for f in offered)  # no viewer: nothing decoded, nothing encoded
    got = frames.next_jpeg(0, timeout=5.0)
    assert got is not None
    picture = cv2.imdecode(np.frombuffer(got[1], np.uint8), cv2.IMREAD_COLOR)
    assert abs(float(np.median(picture)) - frame(4)[0][0, 0, 0]) <= 3  # the newest
    assert [f.decoded for f in offered] == [False, False, False, False, True]


@pytest.mark.realtime(reason="needs frames offered 10x faster than JPEG encoding at 10 fps, for 1.5 s")
def test_the_rate_is_capped_while_frames_come_much_faster(frames: LiveFrames) -> None:
    seq, received, offered = 0, 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < 1.5:
        frames.offer(*frame(offered))
        offered += 1
        got = frames.next_jpeg(seq, timeout=0.001)
        if got is not None:
            seq = got[0]
            received += 1
    elapsed = time.perf_counter() - started
    assert offered > 10 * received  # most frames were never encoded: dropped, not queued
    assert frames.encoded <= 10 * elapsed + 2  # web.max_fps = 10


def test_small_frames_are_not_enlarged_and_the_loops_picture_is_not_touched() -> None:
    image, result = frame(3, width=160, height=120)
    before = image.copy()
    out = render(image, result, 30.0, annotated=False, max_width=640)
    assert out.shape == image.shape
    assert np.array_equal(image, before)  # the boxes went onto a copy
    assert not np.array_equal(out, before)


def test_viewers_are_capped() -> None:
    f = LiveFrames()
    f.max_viewers = 1
    with f.viewer():
        assert f.viewers == 1
        with pytest.raises(TooManyViewers), f.viewer():
            pass
    assert f.viewers == 0


def test_camera_credentials_in_the_source_uri_are_not_shown() -> None:
    from edge.web.view import without_secrets

    assert without_secrets("rtsp://admin:hunter2@10.0.0.5:554/stream1") == "rtsp://***@10.0.0.5:554/stream1"
    assert without_secrets("/dev/video0") == "/dev/video0"
    assert without_secrets("rtsp://10.0.0.5/s") == "rtsp://10.0.0.5/s"
