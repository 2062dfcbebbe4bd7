"""Downloading the face detector: the official YuNet release, checked against a pinned SHA-256."""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from edge import paths
from edge.checksum import sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFile:
    name: str
    url: str
    sha256: str
    size: int


# OpenCV zoo, models/face_detection_yunet (MIT licence); the SHA-256 is that of the Git LFS object.
YUNET = ModelFile(
    name="face_detection_yunet_2023mar.onnx",
    url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    size=232_589,
)
DEFAULT_DEST = Path(paths.DETECTOR)


class FetchError(RuntimeError):
    """A download failed or did not match its checksum; the message says how to get the file by hand."""


def _by_hand(model: ModelFile, dest: Path) -> str:
    return (
        f"on a machine with internet access download {model.url} , check that its SHA-256 is {model.sha256}, "
        f"and copy it to {dest} (or put it anywhere and set detector.model to its path)"
    )


def fetch(model: ModelFile, dest: Path, force: bool = False, timeout_s: float = 30.0) -> Path:
    """Download ``model`` to ``dest`` unless a file with the right checksum is already there.

    A file at ``dest`` with another checksum is kept (it may be a model the user chose) unless
    ``force``. The download goes to a temporary file and replaces ``dest`` only once verified.
    """
    if dest.is_file():
        have = sha256_file(dest)
        if have == model.sha256:
            log.info("%s is already there and verified", dest)
            return dest
        if not force:
            raise FetchError(
                f"{dest} exists with SHA-256 {have}, not the official {model.name} ({model.sha256}); "
                "it is left alone: use --force to replace it, or keep it and set detector.model to it"
            )
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(model.url, timeout=timeout_s) as response, partial.open("wb") as out:
            while chunk := response.read(1 << 16):
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise FetchError(f"cannot download {model.name} ({reason}); offline? {_by_hand(model, dest)}") from exc
    got = sha256_file(partial)
    if got != model.sha256:
        partial.unlink(missing_ok=True)
        raise FetchError(
            f"the download from {model.url} has SHA-256 {got}, expected {model.sha256}: not saved; "
            f"try again, or {_by_hand(model, dest)}"
        )
    os.replace(partial, dest)
    log.info("saved %s to %s (SHA-256 verified)", model.name, dest)
    return dest
