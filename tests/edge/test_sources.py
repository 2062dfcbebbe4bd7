"""Sources chosen by URI: each kind that can run here is read for real; the others fail clearly."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.sources import (
    CsiSource,
    ImageDirSource,
    Picamera2Source,
    SourceEnded,
    SourceOpenError,
    SourceSettings,
    StreamSource,
    V4L2Source,
    VideoFileSource,
    csi_pipeline,
    has_gstreamer,
    make_source,
    open_source,
    redact,
)
from tests.edge.conftest import frame_level


def read_all(source, limit: int = 1000) -> list[np.ndarray]:
    frames = []
    with pytest.raises(SourceEnded):
        while len(frames) < limit:
            frames.append(source.read())
    return frames


# --- choosing a source by URI -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("/dev/video0", V4L2Source),
        ("/dev/v4l/by-id/usb-cam-video-index0", V4L2Source),
        ("0", V4L2Source),
        (2, V4L2Source),
        ("csi://0", CsiSource),
        ("rtsp://user:secret@10.0.0.5:554/stream1", StreamSource),
        ("http://camera.local/video.mjpg", StreamSource),
        ("https://camera.local/video.mjpg", StreamSource),
        ("picamera2://0", Picamera2Source),
    ],
)
def test_each_uri_form_picks_its_source(uri: str | int, kind: type) -> None:
    assert isinstance(make_source(uri), kind)


def test_a_bare_index_means_that_video_device() -> None:
    source = make_source("3")
    assert isinstance(source, V4L2Source)
    assert source.device == ("/dev/video3" if sys.platform.startswith("linux") else 3)


def test_files_and_folders_pick_their_sources(tmp_path: Path, numbered_clip: Callable[[int], Path]) -> None:
    clip = numbered_clip(3)
    assert isinstance(make_source(str(clip)), VideoFileSource)
    assert isinstance(make_source(f"file://{clip}"), VideoFileSource)
    assert isinstance(make_source(str(tmp_path)), ImageDirSource)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", r"empty source URI; use one of: /dev/videoN or N"),
        ("   ", r"empty source URI"),
        ("ftp://host/clip.mp4", r"unknown source scheme 'ftp'; use one of: .*csi://N"),
        ("csi://front", r"csi://front: csi://N needs a camera number N \(such as csi://0\)"),
        ("picamera2://", r"picamera2://N needs a camera number"),
        ("/no/such/clip.mp4", r"/no/such/clip.mp4: no such file or directory; a source is one of"),
        ("-1", r"-1: no such file or directory"),
    ],
)
def test_bad_uris_are_refused_with_the_accepted_forms(uri: str, message: str) -> None:
    with pytest.raises(SourceOpenError, match=message):
        make_source(uri)


def test_passwords_never_appear_in_messages() -> None:
    assert redact("rtsp://admin:hunter2@10.0.0.5:554/s") == "rtsp://admin:***@10.0.0.5:554/s"
    assert redact("rtsp://10.0.0.5/s") == "rtsp://10.0.0.5/s"
    with pytest.raises(SourceOpenError) as err:
        make_source("gopher://admin:hunter2@host/x")
    assert "hunter2" not in str(err.value)


# --- devices that are not here: their error paths -----------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="V4L2 device paths are Linux's")
def test_a_missing_camera_device_names_the_uri_and_the_devices_present() -> None:
    with pytest.raises(SourceOpenError, match=r"^/dev/video97: no such device \(video devices present: .*\); is the"):
        open_source("/dev/video97")
    with pytest.raises(SourceOpenError, match=r"^97: no such device"):
        open_source(97)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="V4L2 device paths are Linux's")
def test_a_device_node_that_is_not_a_camera_is_refused() -> None:
    # /dev/null exists and is readable and writable, but is no capture device.
    with pytest.raises(SourceOpenError, match=r"^/dev/null: the device exists but OpenCV cannot open it as a camera"):
        open_source("/dev/null")


@pytest.mark.skipif(has_gstreamer(), reason="this OpenCV has GStreamer, so a CSI open would try the hardware")
def test_csi_without_gstreamer_says_to_use_jetpacks_opencv() -> None:
    with pytest.raises(SourceOpenError, match=r"^csi://0: this OpenCV .* without GStreamer.*JetPack's OpenCV"):
        open_source("csi://0")


def test_the_csi_pipeline_captures_a_native_mode_and_scales_keeping_the_aspect_ratio() -> None:
    pipeline = csi_pipeline(1, SourceSettings(width=640, height=480, fps=59.9))
    assert pipeline.startswith("nvarguscamerasrc sensor-id=1 ! ")
    stages = [stage.strip() for stage in pipeline.split("!")]
    # Argus gets the rate only (NV12 in NVMM memory): it picks a native sensor mode, never a squeezed 640x480.
    assert stages[1] == "video/x-raw(memory:NVMM), format=NV12, framerate=60/1"
    # nvvidconv scales to the width; with square pixels and the height free it keeps the mode's aspect ratio.
    assert stages[2] == "nvvidconv"
    assert stages[3] == "video/x-raw, format=BGRx, width=640, pixel-aspect-ratio=1/1"
    assert "height" not in pipeline
    assert pipeline.endswith("appsink drop=true max-buffers=1 sync=false")


def test_picamera2_missing_says_how_to_install_it() -> None:
    try:
        import picamera2  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("picamera2 is installed here")
    with pytest.raises(SourceOpenError, match=r"^picamera2://0: picamera2 is not installed; .*python3-picamera2"):
        open_source("picamera2://0")


def test_an_unreachable_stream_fails_at_open_naming_the_likely_causes() -> None:
    with pytest.raises(SourceOpenError, match=r"^rtsp://user:\*\*\*@127.0.0.1:1/live: cannot open the stream: check"):
        open_source("rtsp://user:pw@127.0.0.1:1/live")


# --- files and folders, for real ----------------------------------------------------------------


def test_a_video_file_is_read_in_order_and_then_ends(numbered_clip: Callable[[int], Path]) -> None:
    source = open_source(str(numbered_clip(12)))
    frames = read_all(source)
    assert [frame_level(f) for f in frames] == list(range(12))
    assert source.bad_frames == 0
    source.close()


def test_a_looping_file_starts_again_at_the_end(numbered_clip: Callable[[int], Path]) -> None:
    source = open_source(str(numbered_clip(5)), SourceSettings(loop=True))
    levels = [frame_level(source.read()) for _ in range(13)]
    assert levels == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2]
    assert isinstance(source, VideoFileSource) and source.loops == 2
    source.close()


def corrupt_frame(clip: Path, index: int) -> None:
    """Overwrite the start of the index-th JPEG in an MJPG AVI, as a damaged file would have it."""
    data = bytearray(clip.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i] == 0xFF and data[i + 1] == 0xD8 and data[i + 2] == 0xFF]
    data[starts[index] : starts[index] + 600] = bytes(600)
    clip.write_bytes(bytes(data))


def test_a_corrupt_frame_is_skipped_and_counted_not_taken_for_the_end(numbered_clip: Callable[[int], Path]) -> None:
    clip = numbered_clip(12)
    corrupt_frame(clip, 5)
    source = open_source(str(clip))
    levels = [frame_level(f) for f in read_all(source)]
    # Reading goes on past the damage to the last frame. (FFmpeg's decoder may take the damaged
    # frame's neighbour with it; which frames it drops is its business, that reading goes on is ours.)
    assert levels[:5] == [0, 1, 2, 3, 4] and levels[-1] == 11
    assert 5 not in levels and levels == sorted(levels) and len(levels) >= 10
    assert source.bad_frames >= 1
    source.close()


def test_a_file_that_is_not_a_video_fails_at_open(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video\n")
    with pytest.raises(SourceOpenError, match=r"notes.mp4: OpenCV cannot decode this file"):
        open_source(str(fake))


def test_a_folder_of_images_is_read_in_name_order_skipping_unreadable_ones(tmp_path: Path) -> None:
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"frame-{i:02d}.png"), np.full((40, 60, 3), 5 + 10 * i, np.uint8))
    (tmp_path / "frame-01b.jpg").write_bytes(b"\xff\xd8 truncated")
    (tmp_path / "readme.txt").write_text("not an image, not counted\n")
    source = open_source(str(tmp_path))
    frames = read_all(source)
    assert [frame_level(f) for f in frames] == [0, 1, 2, 3]
    assert frames[0].shape == (40, 60, 3)
    assert source.bad_frames == 1


def test_a_folder_can_loop(tmp_path: Path) -> None:
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8, 3), 5 + 10 * i, np.uint8))
    source = open_source(str(tmp_path), SourceSettings(loop=True))
    assert [frame_level(source.read()) for _ in range(5)] == [0, 1, 0, 1, 0]


def test_a_folder_without_images_fails_at_open(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SourceOpenError, match=r"no images \(.jpg, .jpeg, .png.*\) in this directory"):
        open_source(str(tmp_path))


@pytest.mark.shared
def test_real_photos_come_through_a_folder_source_unchanged(wild_dir: Path) -> None:
    source = open_source(str(wild_dir / "images"))
    first = source.read()
    expected = cv2.imread(str(sorted((wild_dir / "images").glob("*.jpg"))[0]))
    assert np.array_equal(first, expected)
