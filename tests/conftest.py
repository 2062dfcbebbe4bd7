"""Shared fixtures: where ../shared lives, and skips with a reason when it is absent."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# The suite runs several workers on few cores (Makefile, PYTEST_FLAGS): OpenMP threads that spin
# while they wait for work take the cores from the other workers (a 4-epoch smoke training took
# 36 s instead of 20 s beside two busy processes). Set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FER_ARCHIVE = SHARED / "datasets" / "fer2013.tar.gz"
WILD = SHARED / "media" / "wild"
YUNET = SHARED / "models" / "face_detection_yunet.onnx"
SHIPPED_MODEL = ROOT / "models" / "emotion-edge-fp32.onnx"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: this test needs the ../shared data beside the checkout")
    return path


@pytest.fixture(scope="session")
def fer_archive() -> Path:
    return _require(FER_ARCHIVE)


@pytest.fixture(scope="session")
def wild_dir() -> Path:
    return _require(WILD)


@pytest.fixture(scope="session")
def yunet_model() -> Path:
    return _require(YUNET)


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every xdist worker of this run sees (its own base folder's parent); without
    xdist, this session's base folder."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder ``make`` fills once per test run, whichever worker asks first; the others wait for
    it and share it (read-only: a test that writes copies it first)."""
    folder = _shared_root(tmp_path_factory) / f"made-once-{name}"
    with _locked(folder.with_suffix(".lock")):
        done = folder / ".done"
        if not done.exists():
            folder.mkdir(exist_ok=True)
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The array cache of this test run, shared by its workers (a cache file appears whole, by an
    atomic rename), so tests never touch (or depend on) the user's cache."""
    folder = _shared_root(tmp_path_factory) / "array-cache"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def fer(fer_archive: Path, cache_dir: Path):  # type: ignore[no-untyped-def]
    from train.dataset import load_dataset

    return load_dataset(fer_archive, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    """The released FP32 model (``EMOTION_EDGE_TEST_MODEL`` overrides it during development)."""
    override = os.environ.get("EMOTION_EDGE_TEST_MODEL")
    path = Path(override) if override else SHIPPED_MODEL
    if not path.is_file():
        pytest.skip(f"{path} is absent: export the release model first (make export)")
    return path
