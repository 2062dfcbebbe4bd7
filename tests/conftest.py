"""Shared fixtures: where ../shared lives, and skips with a reason when it is absent."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-session array cache, so tests never touch (or depend on) the user's cache."""
    return tmp_path_factory.mktemp("cache")


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
