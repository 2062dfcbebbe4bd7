"""Frame sources chosen by URI: cameras, Jetson CSI cameras, network streams, video files, image
folders and Raspberry Pi cameras.

Each source is a small class with ``open()``, ``read()`` and ``close()``; ``open_source`` picks one
from the URI. ``read()`` returns the next BGR frame and skips unreadable frames itself (counting
them in ``bad_frames``); it raises ``SourceEnded`` when a finite source is done and
``SourceFailure`` when the device or stream broke (the capture thread then retries with backoff).
``open()`` raises ``SourceOpenError`` with the URI and the likely cause.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from edge.detect import Frame
from edge.jpeg_frame import FrameDecodeError, JpegFrame, Picture

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
# A live source whose failed reads have taken this long has stalled, whatever bad_frame_limit says.
STALL_S = 2.0
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
# Linux's PATH_MAX: no path a system call takes is longer, and no camera's URL comes near it.
MAX_URI = 4096
SHOWN = 80  # characters of a rejected value echoed in its error: enough to recognise it, never a flood
WAIT_HINT = "set source.wait_for_file = true (run --wait-for-file) to wait for a file or folder that appears later"
URI_FORMS = (
    "/dev/videoN or N (V4L2 camera), csi://N (Jetson CSI camera), rtsp://... or http(s)://... (stream), "
    "a video file, a directory of images, picamera2://N (Raspberry Pi camera)"
)


class SourceError(RuntimeError):
    """Base of the source errors; messages name the URI."""


class SourceOpenError(SourceError):
    """The source cannot be opened; the message names the URI and the likely cause. ``permanent``:
    waiting will not help (a missing library, not a missing camera), so nothing waits for it."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SourceFailure(SourceError):
    """The source broke while running (unplugged camera, dropped stream); worth retrying."""


class SourceEnded(Exception):
    """A finite source (a file without ``loop``, a folder) has no more frames."""


@dataclass(frozen=True)
class SourceSettings:
    """What a source is asked for; a camera may deliver something else, which it logs."""

    width: int = 640
    height: int = 480
    fps: float = 30.0
    fourcc: str = "MJPG"
    loop: bool = False
    # This many unreadable frames in a row means the source itself failed (or, for a file, ended).
    bad_frame_limit: int = 5
    # Hand over MJPG frames as JPEGs decoded when needed (edge.jpeg_frame), where the source can:
    # the device's loop then decodes only the frames its work needs. Off: every frame decoded.
    jpeg_frames: bool = False


class Source(Protocol):
    uri: str
    # Live sources (cameras, streams) run at their own pace and are retried when they fail;
    # the others (files, folders) can be read as fast as wanted and can end.
    live: bool
    bad_frames: int

    def open(self) -> None: ...

    def read(self) -> Picture: ...

    def close(self) -> None: ...

    @property
    def nominal_fps(self) -> float:
        """The rate the source delivers at, or would play at in real time."""
        ...


def shorten(text: str, limit: int = SHOWN) -> str:
    """``text`` on one line and at most ``limit`` characters, cut in the middle (a path's start and
    its file name are what identify it): for a value echoed in an error message."""
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]", "?", text)
    if len(text) <= limit:
        return text
    tail = limit // 4
    return f"{text[: limit - tail - 1]}…{text[-tail:]}"


def redact(uri: str) -> str:
    """The URI without its password, for logs and messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def has_gstreamer() -> bool:
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line.split(":", 1)[1]
    return False


class _CaptureSource:
    """A source read through ``cv2.VideoCapture``; subclasses say how to open it and why it failed."""

    live = True

    def __init__(self, uri: str, settings: SourceSettings) -> None:
        self.uri = uri
        self.settings = settings
        self.bad_frames = 0
        self._cap: cv2.VideoCapture | None = None
        self._shown = redact(uri)  # as logs and each JPEG frame's errors name it (once, not per frame)
        # Sources whose frames arrive as JPEGs (settings.jpeg_frames: an MJPG file, a USB MJPG camera):
        self.jpeg = False  # handed over as JPEGs now
        self._jpeg_checked = False  # the first JPEG decoded
        self._jpeg_refused = False  # a first JPEG did not decode: decoded as before, until restart

    def _create(self) -> cv2.VideoCapture:
        raise NotImplementedError

    def _why_not_opened(self) -> str:
        raise NotImplementedError

    def _after_open(self, cap: cv2.VideoCapture) -> None:
        """Hook for sources that configure the device once it is open."""

    def open(self) -> None:
        self.close()
        cap = self._create()
        if not cap.isOpened():
            cap.release()
            raise SourceOpenError(f"{self._shown}: {self._why_not_opened()}")
        self._after_open(cap)
        self._cap = cap

    def _read_one(self) -> Picture | None:
        if self._cap is None:
            raise SourceFailure(f"{self._shown} is not open")
        ok, frame = self._cap.read()
        if not ok or frame is None or frame.size == 0:
            return None
        return self._picture(np.asarray(frame, dtype=np.uint8))

    def _picture(self, data: Frame) -> Picture | None:
        """What a read gives as the frame (None: an unreadable one); hook for raw-mode sources."""
        return data

    def _first_jpeg_decodes(self, picture: Picture | None, fallback: str, level: int = logging.WARNING) -> bool:
        """The check of a JPEG source's first frame of an opening: one that decodes lets its frames
        through as JPEGs; one that does not sends the source back to ``fallback``'s decoding until
        restart, said once in the log at ``level``."""
        if decodes(picture):
            self._jpeg_checked = True
            log.info("%s: its MJPG frames reach the loop as JPEGs, decoded only when needed", self._shown)
            return True
        log.log(
            level,
            "%s: its first MJPG frame does not decode as a JPEG here; %s decodes its frames",
            self._shown,
            fallback,
        )
        self.jpeg, self._jpeg_refused = False, True
        return False

    def _no_more_frames(self) -> Picture:
        raise SourceFailure(
            f"{self._shown}: no frame in {self.settings.bad_frame_limit} reads (device unplugged or stream dropped)"
        )

    def read(self) -> Picture:
        started = time.monotonic()
        for attempt in range(self.settings.bad_frame_limit):
            frame = self._read_one()
            if frame is not None:
                # Failed reads followed by a good one were corrupt frames, not the end.
                self.bad_frames += attempt
                return frame
            if self.live and time.monotonic() - started > STALL_S:
                break  # a stalled stream: each read waits out its timeout, so do not wait five
        return self._no_more_frames()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    @property
    def nominal_fps(self) -> float:
        fps = float(self._cap.get(cv2.CAP_PROP_FPS)) if self._cap is not None else 0.0
        return fps if 0.0 < fps < 1000.0 else self.settings.fps


def fourcc_of(cap: cv2.VideoCapture) -> str:
    """The capture's pixel format or codec as its four characters (``MJPG``, ``YUYV`` ...)."""
    return int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1").upper()


def decodes(picture: Picture | None) -> bool:
    """Whether ``picture`` is a JPEG frame that decodes (a source's check of its first one)."""
    if not isinstance(picture, JpegFrame):
        return False
    try:
        picture.pixels()
    except FrameDecodeError:
        return False
    return True


V4L2_MAJOR = 81  # the character-device major number of every video4linux node (Documentation/admin-guide/devices.txt)


def list_video_devices() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("video*"))


class V4L2Source(_CaptureSource):
    """A USB or built-in camera: ``/dev/videoN`` (or any /dev path, such as /dev/v4l/by-id/...)
    or a bare index ``N``. Asks for ``fourcc`` (MJPG keeps USB bandwidth low), size and fps. With
    ``jpeg_frames`` an MJPG camera's frames are handed over as its JPEGs, decoded only when needed
    (``edge.jpeg_frame``), once the first of each opening has decoded; else OpenCV decodes them."""

    def __init__(self, uri: str, settings: SourceSettings, device: str | int) -> None:
        super().__init__(uri, settings)
        self.device = device

    def _create(self) -> cv2.VideoCapture:
        if isinstance(self.device, str):
            if not os.path.exists(self.device):
                present = ", ".join(list_video_devices()) or "none"
                raise SourceOpenError(
                    f"{self.uri}: no such device (video devices present: {present}); "
                    "is the camera plugged in, and is this the right index?"
                )
            if not os.access(self.device, os.R_OK | os.W_OK):
                raise SourceOpenError(
                    f"{self.uri}: permission denied; add this user to the 'video' group "
                    "(sudo usermod -aG video $USER, then log in again)"
                )
            return cv2.VideoCapture(self.device, cv2.CAP_V4L2)
        return cv2.VideoCapture(self.device, cv2.CAP_ANY)

    def open(self) -> None:
        try:
            super().open()
        except SourceOpenError as exc:
            # /dev/null or a disk is no camera however long we wait; a video node that is busy may free up.
            exc.permanent = exc.permanent or not self._may_be_a_camera()
            raise

    def _may_be_a_camera(self) -> bool:
        if not isinstance(self.device, str) or not sys.platform.startswith("linux"):
            return True
        try:
            st = os.stat(self.device)
        except FileNotFoundError:
            return True  # not plugged in yet
        except OSError:
            return False
        return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == V4L2_MAJOR

    def _why_not_opened(self) -> str:
        return (
            "the device exists but OpenCV cannot open it as a camera: is another program using it, "
            "or is this a metadata node rather than a capture node (try the next /dev/videoN)?"
        )

    def _after_open(self, cap: cv2.VideoCapture) -> None:
        s = self.settings
        if s.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*s.fourcc[:4].ljust(4)))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, s.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, s.height)
        cap.set(cv2.CAP_PROP_FPS, s.fps)
        # A driver-side queue would hand us stale frames; the capture thread does the buffering.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if got != (s.width, s.height):
            log.warning("%s: asked for %dx%d, the camera delivers %dx%d", self.uri, s.width, s.height, *got)
        self.jpeg, self._jpeg_checked = False, False
        if s.jpeg_frames and not self._jpeg_refused and cap.getBackendName() == "V4L2" and fourcc_of(cap) == "MJPG":
            # Not converting, OpenCV's V4L2 backend hands over the driver's buffer as it came: one
            # whole JPEG per frame (modules/videoio/src/cap_v4l.cpp, a 1 x bytesused 8-bit row).
            self.jpeg = bool(cap.set(cv2.CAP_PROP_CONVERT_RGB, 0))

    def _picture(self, data: Frame) -> Picture | None:
        if not self.jpeg:
            return data
        frame = JpegFrame.parse(data, where=self._shown)
        if self._jpeg_checked or self._first_jpeg_decodes(frame, "OpenCV"):
            return frame
        # Buffers that are not whole JPEGs libjpeg reads (a camera's MJPG variant, a driver's layout):
        # OpenCV decodes them from the next frame on, as it did before; this one is skipped.
        if self._cap is not None:
            self._cap.set(cv2.CAP_PROP_CONVERT_RGB, 1)
        return None


def csi_pipeline(sensor_id: int, settings: SourceSettings) -> str:
    """GStreamer pipeline from a Jetson CSI sensor to BGR frames, dropping what the app has not taken.

    Argus is asked for the frame rate only, in NV12, so it captures one of the sensor's native modes
    (asking it for 640x480 directly makes it squeeze a 16:9 mode into 4:3, and faces with it).
    ``nvvidconv`` (the VI/VIC hardware) then scales to ``settings.width``; the height is left free
    with square pixels, so nvvidconv's caps fixation keeps the sensor's aspect ratio (a 16:9 mode
    gives 640x360), and only that small frame is converted to BGR on the CPU."""
    s = settings
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM), format=NV12, framerate={round(s.fps)}/1 ! "
        f"nvvidconv ! video/x-raw, format=BGRx, width={s.width}, pixel-aspect-ratio=1/1 ! "
        "videoconvert ! video/x-raw, format=BGR ! "
        "appsink drop=true max-buffers=1 sync=false"
    )


class CsiSource(_CaptureSource):
    """A Jetson CSI camera through ``nvarguscamerasrc``; needs an OpenCV built with GStreamer (JetPack's)."""

    def __init__(self, uri: str, settings: SourceSettings, sensor_id: int) -> None:
        super().__init__(uri, settings)
        self.sensor_id = sensor_id

    def _create(self) -> cv2.VideoCapture:
        if not has_gstreamer():
            raise SourceOpenError(
                f"{self.uri}: this OpenCV ({cv2.__version__}) was built without GStreamer, which CSI cameras "
                "need; on a Jetson use JetPack's OpenCV (create the venv with --system-site-packages and "
                "pip uninstall opencv-python-headless from it)",
                permanent=True,
            )
        return cv2.VideoCapture(csi_pipeline(self.sensor_id, self.settings), cv2.CAP_GSTREAMER)

    def _after_open(self, cap: cv2.VideoCapture) -> None:
        got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        log.info("%s: the sensor's native mode scaled to %dx%d (aspect ratio kept)", self.uri, *got)

    def _why_not_opened(self) -> str:
        return (
            f"nvarguscamerasrc cannot open sensor {self.sensor_id}: is the ribbon cable seated and the "
            "camera listed by `ls /dev/video*`? If so, restart the daemon: sudo systemctl restart nvargus-daemon"
        )


class StreamSource(_CaptureSource):
    """An RTSP/RTMP/HTTP(S) stream through FFmpeg, with open and read timeouts so a dead
    server fails instead of hanging."""

    timeout_ms = 5000

    def _create(self) -> cv2.VideoCapture:
        if not hasattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC"):  # OpenCV before 4.5.2: FFmpeg's own timeouts
            return cv2.VideoCapture(self.uri, cv2.CAP_FFMPEG)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.timeout_ms]
        return cv2.VideoCapture(self.uri, cv2.CAP_FFMPEG, params)

    def _why_not_opened(self) -> str:
        return (
            "cannot open the stream: check the address, port, path and credentials, that the server is up "
            "and reachable from here, and that it serves a format FFmpeg reads"
        )


class VideoFileSource(_CaptureSource):
    """A video file; ends at its last frame, or starts again when ``loop`` is set."""

    live = False

    def __init__(self, uri: str, settings: SourceSettings, path: Path) -> None:
        super().__init__(uri, settings)
        self.path = path
        self.loops = 0
        self._first: Picture | None = None  # a looping file checks its first JPEG once, not on every pass

    def _create(self) -> cv2.VideoCapture:
        return cv2.VideoCapture(str(self.path), cv2.CAP_ANY)

    def _after_open(self, cap: cv2.VideoCapture) -> None:
        self.jpeg = False
        if not self.settings.jpeg_frames or self._jpeg_refused or cap.getBackendName() != "FFMPEG":
            return
        # FFmpeg's raw mode hands over each packet undecoded: an MJPG packet is one whole JPEG.
        if fourcc_of(cap) == "MJPG":
            self.jpeg = bool(cap.set(cv2.CAP_PROP_FORMAT, -1))

    def _picture(self, data: Frame) -> Picture | None:
        return JpegFrame.parse(data, where=self._shown) if self.jpeg else data

    def open(self) -> None:
        try:
            super().open()
        except SourceOpenError as exc:
            # A file that is there and cannot be decoded stays so: at start, exit 2 instead of waiting.
            exc.permanent = self.path.exists()
            raise
        # A container can open and still hold no frame FFmpeg decodes (a recording stopped before its
        # first frame, every frame corrupt): that is found now, like a file that does not open, not
        # after bad_frame_limit failed reads in the loop (which ended in exit 1 instead of 2).
        self._first = self._read_one()
        # Packets that are not whole JPEGs (an MJPG variant libjpeg does not read) are a file's format,
        # not a fault: said at info.
        if self.jpeg and not self._jpeg_checked and not self._first_jpeg_decodes(self._first, "FFmpeg", logging.INFO):
            self.open()
            return
        if self._first is None:
            self.close()
            raise SourceOpenError(
                f"{self._shown}: the file opens but its first frame cannot be decoded (a recording with "
                "no frames, or corrupt ones): give a video that plays",
                permanent=True,
            )

    def read(self) -> Picture:
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        return super().read()

    def _why_not_opened(self) -> str:
        if not self.path.exists():
            return "no such file: it was deleted or moved while the device ran (or is not there yet)"
        return "OpenCV cannot decode this file: is it a video in a container and codec FFmpeg reads (mp4, avi, mkv)?"

    def _no_more_frames(self) -> Picture:
        if not self.settings.loop:
            raise SourceEnded(f"{self.uri}: end of file")
        # Reopening is the one rewind every container and backend supports (and reads the first frame).
        self.open()
        self.loops += 1
        return self.read()


class ImageDirSource:
    """The images of a folder in name order, as frames; ends after the last unless ``loop``.
    Unreadable files are skipped, logged and counted."""

    live = False

    def __init__(self, uri: str, settings: SourceSettings, path: Path) -> None:
        self.uri = uri
        self.settings = settings
        self.path = path
        self.bad_frames = 0
        self.loops = 0
        self._files: list[Path] = []
        self._next = 0
        self._good_this_pass = 0
        self._reported: set[str] = set()  # unreadable files already named in the log

    def open(self) -> None:
        """Lists the images and finds the first that decodes. A folder with none (empty, or only
        unreadable files) raises a ``permanent`` error: at start that is exit 2, not a wait that
        nothing will end (a reopen while running retries it all the same)."""
        try:
            files = sorted(p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        except OSError as exc:
            raise SourceOpenError(
                f"{self.uri}: cannot list this directory ({exc.strerror or exc})", permanent=True
            ) from exc
        if not files:
            raise SourceOpenError(
                f"{self.uri}: no images ({', '.join(IMAGE_SUFFIXES)}) in this directory", permanent=True
            )
        first = next((i for i, f in enumerate(files) if cv2.imread(str(f), cv2.IMREAD_COLOR) is not None), None)
        if first is None:
            raise SourceOpenError(
                f"{self.uri}: none of its {len(files)} images can be read (not images, truncated, or not "
                f"readable by this user; the first is {files[0].name})",
                permanent=True,
            )
        self._files = files
        self._next = 0
        self._good_this_pass = 0

    def read(self) -> Picture:
        while True:
            if self._next >= len(self._files):
                if self._good_this_pass == 0:
                    raise SourceFailure(f"{self.uri}: none of its {len(self._files)} images could be read")
                if not self.settings.loop:
                    raise SourceEnded(f"{self.uri}: last image read")
                self._next, self._good_this_pass = 0, 0
                self.loops += 1
            path = self._files[self._next]
            self._next += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                self.bad_frames += 1
                # Named once per file (a looping folder meets it on every pass); counted every time.
                if path.name not in self._reported and len(self._reported) < 1000:
                    self._reported.add(path.name)
                    log.warning(
                        "%s: skipping %s: missing or not a readable image (each such file is named once, "
                        "all are counted in bad_frames)",
                        self.uri,
                        path.name,
                    )
                continue
            self._good_this_pass += 1
            return np.asarray(image, dtype=np.uint8)

    def close(self) -> None:
        self._files = []

    @property
    def nominal_fps(self) -> float:
        return self.settings.fps


class Picamera2Source:
    """A Raspberry Pi camera through libcamera's ``picamera2``."""

    live = True

    def __init__(self, uri: str, settings: SourceSettings, index: int) -> None:
        self.uri = uri
        self.settings = settings
        self.index = index
        self.bad_frames = 0
        self._camera: Any = None

    def open(self) -> None:
        self.close()
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceOpenError(
                f"{self.uri}: picamera2 is not installed; on Raspberry Pi OS run `sudo apt install "
                "python3-picamera2` and create the venv with --system-site-packages",
                permanent=True,
            ) from exc
        cameras = Picamera2.global_camera_info()
        if self.index >= len(cameras):
            raise SourceOpenError(
                f"{self.uri}: no camera {self.index} (libcamera sees {len(cameras)}); check the ribbon cable "
                "and `rpicam-hello --list-cameras`"
            )
        try:
            camera = Picamera2(self.index)
            s = self.settings
            # libcamera's RGB888 is laid out B, G, R in memory: OpenCV's order already.
            config = camera.create_video_configuration(
                main={"size": (s.width, s.height), "format": "RGB888"}, controls={"FrameRate": s.fps}
            )
            camera.configure(config)
            camera.start()
        except Exception as exc:  # picamera2 raises many untyped errors (busy, unsupported mode)
            raise SourceOpenError(f"{self.uri}: picamera2 cannot start camera {self.index} ({exc})") from exc
        self._camera = camera

    def read(self) -> Picture:
        if self._camera is None:
            raise SourceFailure(f"{self.uri} is not open")
        try:
            frame = self._camera.capture_array("main")
        except Exception as exc:  # a camera that vanished raises from deep inside libcamera
            raise SourceFailure(f"{self.uri}: capture failed ({exc})") from exc
        return np.ascontiguousarray(frame[:, :, :3], dtype=np.uint8)

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
                self._camera.close()
            finally:
                self._camera = None

    @property
    def nominal_fps(self) -> float:
        return self.settings.fps


def _index(uri: str, scheme: str, rest: str) -> int:
    if not re.fullmatch(r"\d+", rest):
        raise SourceOpenError(f"{uri}: {scheme}://N needs a camera number N (such as {scheme}://0)")
    return int(rest)


def make_source(uri: str | int, settings: SourceSettings | None = None) -> Source:
    """The source for a URI (not yet opened). Raises ``SourceOpenError`` for a URI no source takes."""
    settings = settings or SourceSettings()
    text = str(uri).strip()
    if not text:
        raise SourceOpenError(f"empty source URI; use one of: {URI_FORMS}")
    if len(text) > MAX_URI:
        raise SourceOpenError(
            f"{shorten(redact(text))}: a source URI of {len(text)} characters; no path or URL is over {MAX_URI}: "
            "check source.uri (or --source)",
            permanent=True,
        )
    if re.fullmatch(r"\d+", text):
        # A bare index means /dev/videoN on Linux, where opening by path gives clearer errors.
        device: str | int = f"/dev/video{text}" if sys.platform.startswith("linux") else int(text)
        return V4L2Source(text, settings, device)
    if text.startswith("/dev/"):
        return V4L2Source(text, settings, text)
    match = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*)://(.*)", text)
    if match:
        scheme, rest = match.group(1).lower(), match.group(2)
        if scheme == "csi":
            return CsiSource(text, settings, _index(text, scheme, rest))
        if scheme == "picamera2":
            return Picamera2Source(text, settings, _index(text, scheme, rest))
        if scheme in STREAM_SCHEMES:
            return StreamSource(text, settings)
        if scheme == "file":
            text = rest
        else:
            raise SourceOpenError(
                f"{shorten(redact(text))}: unknown source scheme {shorten(scheme, 20)!r}; use one of: {URI_FORMS}"
            )
    path = Path(text).expanduser()
    kind = path_kind(text, path)
    if kind == "dir":
        return ImageDirSource(text, settings, path)
    if kind == "file":
        if not os.access(path, os.R_OK):
            raise SourceOpenError(f"{shorten(text)}: permission denied reading this file", permanent=True)
        return VideoFileSource(text, settings, path)
    raise SourceOpenError(f"{shorten(text)}: no such file or directory; a source is one of: {URI_FORMS}; {WAIT_HINT}")


# Why a path that exists (or cannot be looked at) is no source: waiting would not change any of these.
_PATH_ERRORS = {
    errno.ELOOP: "too many levels of symbolic links (a link loop): point the source at the file or folder itself",
    errno.ENAMETOOLONG: "file name too long (a name is at most 255 bytes, a path 4096): check source.uri",
    errno.ENOTDIR: "a part of this path is a file, not a folder: check source.uri",
    errno.EACCES: "permission denied on a folder along this path: let the user running the device read it",
}


def path_kind(uri: str, path: Path) -> str:
    """``"file"``, ``"dir"`` or ``"missing"`` for a file-system source; raises a permanent
    ``SourceOpenError`` naming the reason for anything else (a FIFO, a socket, a device node, a link
    loop, a name too long), which no amount of waiting would make a video or a folder of images."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        why = _PATH_ERRORS.get(exc.errno or 0, f"cannot use this path ({exc.strerror or exc})")
        raise SourceOpenError(f"{shorten(uri)}: {why}", permanent=True) from None
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    what = (
        "a named pipe (FIFO)"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device node (cameras are /dev/videoN)"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )
    raise SourceOpenError(
        f"{shorten(uri)}: {what}, not a video file or a folder of images; give a file, a folder, or a "
        f"camera or stream URI ({URI_FORMS})",
        permanent=True,
    )


class LateSource:
    """A file or folder that is not there yet (a path that does not exist at start): each ``open()``
    looks again, and once the path exists the real source (``make_source``) takes over. The capture
    thread waits for it like a camera that is not plugged in yet."""

    live = False

    def __init__(self, uri: str, settings: SourceSettings) -> None:
        self.uri = uri
        self.settings = settings
        self._source: Source | None = None

    @property
    def bad_frames(self) -> int:
        return self._source.bad_frames if self._source is not None else 0

    @bad_frames.setter
    def bad_frames(self, value: int) -> None:
        if self._source is not None:
            self._source.bad_frames = value

    def open(self) -> None:
        if self._source is None:
            if is_missing_path(self.uri):
                raise SourceOpenError(f"{shorten(self.uri)}: no such file or directory yet")
            source = make_source(self.uri, self.settings)
            source.open()
            self._source = source
            return
        self._source.open()

    def read(self) -> Picture:
        if self._source is None:
            raise SourceFailure(f"{self.uri} is not open")
        return self._source.read()

    def close(self) -> None:
        if self._source is not None:
            self._source.close()

    @property
    def nominal_fps(self) -> float:
        return self._source.nominal_fps if self._source is not None else self.settings.fps


def is_missing_path(uri: str | int) -> bool:
    """True for a URI that is a plain file-system path (not a camera, an index or a URL) that does not
    exist. A path that cannot be looked at (a link loop, a name too long) is not missing: ``make_source``
    says what is wrong with it."""
    text = str(uri).strip()
    if len(text) > MAX_URI:
        return False
    if text.startswith("file://"):
        text = text[7:]
    elif not text or text.isdigit() or text.startswith("/dev/") or re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        return False
    try:
        return path_kind(text, Path(text).expanduser()) == "missing"
    except SourceOpenError:
        return False


def open_source(uri: str | int, settings: SourceSettings | None = None) -> Source:
    """``make_source`` and ``open`` in one step, timing the open for the log."""
    source = make_source(uri, settings)
    started = time.perf_counter()
    source.open()
    log.info("opened source %s in %.2f s", redact(source.uri), time.perf_counter() - started)
    return source
