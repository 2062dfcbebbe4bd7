"""A JPEG frame (a clip's MJPG packet), decoded only as far as the frame's work needs.

Decoding a 640x480 JPEG costs more than 1 ms of CPU, about a tenth of what the every-frame pipeline
spends on a frame and more than everything else an empty room costs. Most frames under the cadence
need only the motion gate's small grey copy, which libjpeg decodes at an eighth of the size (its
DCT scaling skips most of the inverse transform): about a third of the cost. The full colour frame is
decoded when something asks for it (the detector, a crop, the live view) and kept for the others.

``shape`` comes from the JPEG's frame header, so a frame's size is known without decoding it; a
packet without a readable header is refused where it is read (``JpegFrame.parse``), the way a frame
the decoder cannot read is skipped by the source.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edge.detect import Frame

# Start-of-frame markers (baseline, progressive, lossless, arithmetic ...): 0xC0-0xCF except DHT
# (C4), JPG (C8) and DAC (CC), which are not frame headers.
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length (TEM, RST0-7).
STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])
REDUCED = (
    (8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
    (4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
    (2, cv2.IMREAD_REDUCED_GRAYSCALE_2),
)


class FrameDecodeError(ValueError):
    """A JPEG frame whose header is readable but whose data the decoder refused."""


class JpegFrame:
    """One frame as its JPEG bytes; ``pixels()`` the BGR frame, ``reduced_grey(width)`` a grey copy."""

    def __init__(self, data: npt.NDArray[np.uint8], width: int, height: int, where: str = "") -> None:
        self.data = data
        self.shape = (height, width, 3)  # as the decoded frame's, without decoding it
        self.where = where
        self._pixels: Frame | None = None

    @classmethod
    def parse(cls, data: npt.NDArray[np.uint8], where: str = "") -> JpegFrame | None:
        """The frame, or None when ``data`` is not a JPEG with a frame header (``where`` names the
        source in a later decoding error)."""
        flat = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
        size = jpeg_size(flat[:65536].tobytes())
        return None if size is None else cls(flat, *size, where=where)

    @property
    def decoded(self) -> bool:
        return self._pixels is not None

    def pixels(self) -> Frame:
        if self._pixels is None:
            image = cv2.imdecode(self.data, cv2.IMREAD_COLOR)
            if image is None or image.shape[:2] != self.shape[:2]:
                raise FrameDecodeError(
                    f"a JPEG frame{f' from {self.where}' if self.where else ''} cannot be decoded "
                    f"({self.data.size} bytes): a corrupt frame, skipped"
                )
            self._pixels = np.asarray(image, dtype=np.uint8)
        return self._pixels

    def reduced_grey(self, width: int) -> npt.NDArray[np.uint8] | None:
        """A grey copy decoded at the largest of libjpeg's scales (1/8, 1/4, 1/2) that keeps it at
        least ``width`` pixels across; None when none does (a narrow frame) or the decoder refuses."""
        for factor, flag in REDUCED:
            if -(-self.shape[1] // factor) >= width:
                grey = cv2.imdecode(self.data, flag)
                return None if grey is None else np.asarray(grey, dtype=np.uint8)
        return None


Picture = Frame | JpegFrame  # what a source hands over: decoded pixels or a JPEG decoded on demand


def pixels(picture: Picture) -> Frame:
    """The BGR frame of either kind of picture."""
    return picture.pixels() if isinstance(picture, JpegFrame) else picture


def jpeg_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header, or None when ``head`` (the first bytes of the
    file, up to 64 KiB) holds none: not a JPEG, cut short, or a zero-sized frame."""
    if head[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 4 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker == 0xFF:  # fill bytes before a marker
            at += 1
            continue
        if marker in STANDALONE:
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        length = int.from_bytes(head[at + 2 : at + 4], "big")
        if length < 2:
            return None
        if marker in SOF_MARKERS:
            if length < 7 or at + 9 > len(head):
                return None
            height = int.from_bytes(head[at + 5 : at + 7], "big")
            width = int.from_bytes(head[at + 7 : at + 9], "big")
            return (width, height) if width and height else None
        at += 2 + length
    return None
