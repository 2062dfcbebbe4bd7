"""JPEG frames decoded only as far as needed: the size from the header, the gate's grey copy at an
eighth of the size, the full frame on demand; hostile bytes refused where they are read."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.jpeg_frame import FrameDecodeError, JpegFrame, jpeg_size, pixels
from edge.motion import MotionGate, small_grey
from edge.tools.bench_clip import _fit, make_empty_room, paste, wild_photos
from tests.edge.conftest import read_clip


def encode(image: np.ndarray, *params: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, list(params))
    assert ok
    return np.asarray(buf, np.uint8).reshape(-1)


@pytest.fixture(scope="module")
def photo(wild_dir: Path) -> np.ndarray:
    image = cv2.imread(str(wild_photos(wild_dir)[3]))
    assert image is not None
    frame = np.full((480, 640, 3), 90, np.uint8)
    paste(frame, _fit(np.asarray(image, np.uint8), 300), 320, 240)
    return frame


@pytest.mark.shared
def test_the_size_comes_from_the_header_and_the_pixels_are_the_decoders(photo: np.ndarray) -> None:
    data = encode(photo)
    frame = JpegFrame.parse(data)
    assert frame is not None and frame.shape == (480, 640, 3) and not frame.decoded
    assert np.array_equal(frame.pixels(), cv2.imdecode(data, cv2.IMREAD_COLOR))
    assert frame.decoded and frame.pixels() is frame.pixels()  # decoded once, kept
    assert pixels(photo) is photo  # a decoded frame is its own pixels


@pytest.mark.shared
def test_a_progressive_jpeg_gives_its_size_too(photo: np.ndarray) -> None:
    frame = JpegFrame.parse(encode(photo, cv2.IMWRITE_JPEG_PROGRESSIVE, 1))
    assert frame is not None and frame.shape == (480, 640, 3)
    assert frame.pixels().shape == (480, 640, 3)


@pytest.mark.shared
def test_the_gates_grey_copy_is_decoded_at_an_eighth_and_matches_the_full_frames(photo: np.ndarray) -> None:
    frame = JpegFrame.parse(encode(photo))
    assert frame is not None
    grey = small_grey(frame)
    assert grey.shape == (60, 80) and grey.dtype == np.float32
    assert not frame.decoded  # the full frame was never needed
    from_pixels = small_grey(cv2.imdecode(encode(photo), cv2.IMREAD_COLOR))
    # Block averages against a 2x2 sample and a blur: the same picture within a few grey levels.
    assert float(np.abs(grey - from_pixels).mean()) < 4.0


@pytest.mark.parametrize(
    ("what", "data"),
    [
        ("empty", b""),
        ("not a jpeg", b"GIF89a" + bytes(100)),
        ("only the start marker", b"\xff\xd8"),
        ("a segment cut short", b"\xff\xd8\xff\xe0\x00\x10JFIF"),
        ("a length under two", b"\xff\xd8\xff\xe0\x00\x01" + bytes(20)),
        ("scan data before any frame header", b"\xff\xd8\xff\xda\x00\x08" + bytes(40)),
        ("a frame header cut short", b"\xff\xd8\xff\xc0\x00\x11\x08\x01"),
        ("a zero-sized frame", b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x00\x03" + bytes(12)),
        ("bytes where a marker should be", b"\xff\xd8\x00\x00\x00\x00\x00\x00"),
        ("fill bytes and nothing else", b"\xff\xd8" + b"\xff" * 70000),
        ("a length that points past the end", b"\xff\xd8\xff\xe1\xff\xff" + bytes(100)),
    ],
)
def test_bytes_without_a_readable_frame_header_are_refused(what: str, data: bytes) -> None:
    assert jpeg_size(data) is None, what
    assert JpegFrame.parse(np.frombuffer(data, np.uint8)) is None, what


def test_random_bytes_behind_a_start_marker_never_crash_the_header_reader() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        junk = b"\xff\xd8" + rng.integers(0, 256, int(rng.integers(0, 400)), dtype=np.uint8).tobytes()
        size = jpeg_size(junk)
        assert size is None or (size[0] > 0 and size[1] > 0)


@pytest.mark.shared
def test_a_header_without_its_data_fails_to_decode_naming_the_source(photo: np.ndarray) -> None:
    data = encode(photo)
    scan = bytes(data).index(b"\xff\xda")
    frame = JpegFrame.parse(data[:scan], where="clip.avi")  # every header, no scan: cut short
    assert frame is not None and frame.shape == (480, 640, 3)
    with pytest.raises(FrameDecodeError, match=r"a JPEG frame from clip.avi cannot be decoded"):
        frame.pixels()


@pytest.mark.shared
def test_on_jpeg_frames_the_gate_ignores_noise_and_a_brightness_ramp_and_sees_a_face(
    tmp_path: Path, photo: np.ndarray
) -> None:
    clip = make_empty_room(tmp_path / "empty.avi", frames=120)
    packets = read_clip(clip, packets=True)
    frames = [JpegFrame.parse(np.asarray(p, np.uint8)) for p in packets]
    assert len(frames) == 120 and all(f is not None for f in frames)
    gate = MotionGate()
    moved = [gate.update(f) for f in frames if f is not None]
    assert moved[0] and sum(moved[1:]) <= 2, f"{sum(moved[1:])} of 119 still frames moved"
    room = cv2.imdecode(np.asarray(packets[-1], np.uint8), cv2.IMREAD_COLOR)
    with_face = room.copy()
    paste(with_face, cv2.resize(photo[90:390, 170:470], (120, 120)), 320, 240)
    arrived = JpegFrame.parse(encode(with_face))
    assert arrived is not None and gate.update(arrived)
    assert not any(f.decoded for f in frames if f is not None)
