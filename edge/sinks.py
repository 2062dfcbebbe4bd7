"""Result sinks that ship with the loop (the MQTT publisher lives in ``edge.mqtt``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import IO, Any

from edge.results import FrameResult


class SinkError(RuntimeError):
    """A sink cannot be set up; the message names its file or address."""


class JsonLinesSink:
    """Appends one JSON object per line: ``{"type": "frame", ...}`` for every processed frame and
    ``{"type": "stats", ...}`` for every stats report. Writes are buffered and flushed with each
    stats report, so the file lags the loop by at most one stats interval."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._fh: IO[str] | None = self.path.open("a", encoding="utf-8", buffering=1 << 16)
        except OSError as exc:
            raise SinkError(f"output.results {self.path}: cannot open for writing ({exc.strerror})") from exc
        self.frames = 0

    def _write(self, record: dict[str, Any]) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")

    def handle_frame(self, result: FrameResult) -> None:
        self._write({"type": "frame", **dataclasses.asdict(result)})
        self.frames += 1

    def handle_stats(self, stats: dict[str, Any]) -> None:
        self._write({"type": "stats", **stats})
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
