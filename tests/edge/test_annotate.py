"""Drawing results onto frames: every box's label stays whole inside the picture."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.annotate import COLOURS, draw
from edge.results import FaceResult, FrameResult


def label_run(image: np.ndarray, colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """(row, first column, last column) of the widest row of the label's solid background."""
    solid = np.all(image == np.array(colour, np.uint8), axis=2)
    row = int(solid.sum(axis=1).argmax())
    columns = np.flatnonzero(solid[row])
    return row, int(columns[0]), int(columns[-1])


@pytest.mark.shared
@pytest.mark.parametrize("edge", ["right", "left", "top"])
def test_a_label_stays_whole_inside_the_frame_whatever_edge_the_face_is_at(wild_dir: Path, edge: str) -> None:
    photo = cv2.imread(str(sorted((wild_dir / "images").glob("*.jpg"))[0]))
    image = cv2.resize(photo, (640, 480))
    box = {"right": (560, 200, 80, 80), "left": (0, 200, 80, 80), "top": (300, 0, 80, 80)}[edge]
    face = FaceResult(face_id=2, box=box, emotion="sad", score=0.5, scores={"sad": 0.5})
    label = "#2 sad 0.50"
    (tw, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)

    draw(image, FrameResult(0, 0.0, 640, 480, (face,)))

    _, first, last = label_run(image, COLOURS["sad"])
    assert last - first + 1 >= tw + 4, "the label's background is cut by the frame's edge"
    if edge == "right":
        assert last >= 560  # still beside its box
