"""YuNet's raw outputs to faces, in numpy: what OpenCV's ``FaceDetectorYN`` does after its forward pass.

The network sees a BGR image padded (bottom and right, with zeros) to a multiple of 32 and gives, per
stride (8, 16, 32) and per cell of that stride's grid (row-major), a class score ``cls``, an
objectness ``obj``, a box ``bbox`` (centre offset in cells, log width and height in cells) and five
landmarks ``kps`` (offsets in cells). A face's score is ``sqrt(cls * obj)`` (both clipped to 0..1).
Rows come out as OpenCV's do, ``[x, y, w, h, 5 x (lx, ly), score]`` in the padded image's pixels, in
the order OpenCV keeps them: after non-maximum suppression on the boxes truncated to whole pixels,
highest score first (ties in grid order), at most ``top_k``. Matching OpenCV this closely lets the
network run on any backend (ONNX Runtime, TensorRT) and still find the faces ``FaceDetectorYN`` finds.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

STRIDES = (8, 16, 32)
DIVISOR = 32  # the coarsest stride: the padded input is a whole number of its cells
OUTPUT_NAMES = tuple(f"{part}_{stride}" for part in ("cls", "obj", "bbox", "kps") for stride in STRIDES)
INPUT_NAME = "input"
# Per anchor: values in each output (cls and obj one, bbox four, kps five points of two).
WIDTHS = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}
ROW = 15  # x, y, w, h, ten landmark coordinates, score

F32 = npt.NDArray[np.float32]


def padded_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) rounded up to a multiple of 32, as ``FaceDetectorYN.setInputSize`` does."""
    return ((width - 1) // DIVISOR + 1) * DIVISOR, ((height - 1) // DIVISOR + 1) * DIVISOR


def anchors(pad_width: int, pad_height: int) -> int:
    """How many grid cells (anchors) all three strides have for a padded input of this size."""
    return sum((pad_width // s) * (pad_height // s) for s in STRIDES)


def to_blob(image: npt.NDArray[np.uint8], pad_width: int, pad_height: int) -> F32:
    """The network's input: the BGR image as float 0..255, NCHW, zero-padded bottom and right."""
    h, w = image.shape[:2]
    blob = np.zeros((1, 3, pad_height, pad_width), np.float32)
    blob[0, :, :h, :w] = image.transpose(2, 0, 1)
    return blob


@lru_cache(maxsize=8)
def _grid(pad_width: int, pad_height: int) -> tuple[F32, F32]:
    """Each anchor's (column, row) in its stride's grid, and its stride, all strides in output order."""
    cells, strides = [], []
    for s in STRIDES:
        rows, cols = np.mgrid[0 : pad_height // s, 0 : pad_width // s]
        cells.append(np.stack([cols.ravel(), rows.ravel()], axis=1))
        strides.append(np.full(cols.size, s))
    grid = np.concatenate(cells).astype(np.float32)
    stride = np.concatenate(strides).astype(np.float32)[:, None]
    grid.setflags(write=False)
    stride.setflags(write=False)
    return grid, stride


def _gather(outputs: dict[str, npt.NDArray[np.float32]], part: str, pad_width: int, pad_height: int) -> F32:
    width = WIDTHS[part]
    pieces = []
    for s in STRIDES:
        name = f"{part}_{s}"
        values = np.asarray(outputs[name], dtype=np.float32).reshape(-1, width)
        expected = (pad_width // s) * (pad_height // s)
        if len(values) != expected:
            raise ValueError(
                f"YuNet output {name} has {len(values)} anchors, a {pad_width}x{pad_height} input has {expected}: "
                "the model is not YuNet, or the input was not padded to a multiple of 32"
            )
        pieces.append(values)
    return np.concatenate(pieces)


def decode(
    outputs: dict[str, npt.NDArray[np.float32]],
    pad_width: int,
    pad_height: int,
    score_threshold: float,
    nms_threshold: float,
    top_k: int = 5000,
) -> F32:
    """The faces in YuNet's ``outputs`` for a ``pad_width`` x ``pad_height`` input: N x 15 rows."""
    cls = np.clip(_gather(outputs, "cls", pad_width, pad_height)[:, 0], 0.0, 1.0)
    obj = np.clip(_gather(outputs, "obj", pad_width, pad_height)[:, 0], 0.0, 1.0)
    score = np.sqrt(cls * obj)
    kept = np.flatnonzero(~(score < np.float32(score_threshold)))  # OpenCV drops only what is below
    if len(kept) == 0:
        return np.empty((0, ROW), np.float32)
    grid, stride = _grid(pad_width, pad_height)
    cell, s = grid[kept], stride[kept]
    bbox = _gather(outputs, "bbox", pad_width, pad_height)[kept]
    kps = _gather(outputs, "kps", pad_width, pad_height)[kept]
    centre = (cell + bbox[:, :2]) * s
    size = np.exp(bbox[:, 2:]) * s
    rows = np.empty((len(kept), ROW), np.float32)
    rows[:, :2] = centre - size / np.float32(2)
    rows[:, 2:4] = size
    rows[:, 4:14] = ((kps.reshape(-1, 5, 2) + cell[:, None, :]) * s[:, :, None]).reshape(-1, 10)
    rows[:, 14] = score[kept]
    if len(rows) == 1:
        return rows  # OpenCV runs no suppression on a single candidate
    return rows[nms(rows[:, :4], rows[:, 14], score_threshold, nms_threshold, top_k)]


def nms(
    boxes: F32, scores: F32, score_threshold: float, nms_threshold: float, top_k: int = 5000
) -> npt.NDArray[np.intp]:
    """Greedy non-maximum suppression as OpenCV's ``dnn::NMSBoxes`` on integer rectangles: the
    indices kept, best first. Candidates score strictly above the threshold; ties keep their order;
    a box is dropped when its intersection over union with a kept one exceeds ``nms_threshold``."""
    # C++'s int() truncates toward zero; OpenCV's YuNet rounds its boxes that way before NMS.
    rect = np.trunc(boxes).astype(np.int64)
    x0, y0, w, h = rect[:, 0], rect[:, 1], rect[:, 2], rect[:, 3]
    x1, y1 = x0 + w, y0 + h
    area = w * h
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] > np.float32(score_threshold)]
    if top_k > 0:
        order = order[:top_k]
    kept: list[int] = []
    for i in order:
        if kept:
            k = np.asarray(kept)
            iw = np.minimum(x1[i], x1[k]) - np.maximum(x0[i], x0[k])
            ih = np.minimum(y1[i], y1[k]) - np.maximum(y0[i], y0[k])
            inter = np.where((iw > 0) & (ih > 0), iw * ih, 0)
            union = area[i] + area[k] - inter
            # Two empty rectangles count as the same rectangle (OpenCV's jaccardDistance is 0 there).
            overlap = np.where(area[i] + area[k] > 0, inter / np.maximum(union, 1), 1.0)
            if np.any(overlap > nms_threshold):
                continue
        kept.append(int(i))
    return np.asarray(kept, dtype=np.intp)
