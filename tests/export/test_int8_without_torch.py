"""`emotion-edge export int8` runs where torch is absent (a device, a slim workstation): it needs
ONNX Runtime, onnx and the data set, and imports nothing that loads torch."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from tests.test_boundaries import ROOT, WITHOUT_TORCH

pytestmark = pytest.mark.shared


def small_dataset(archive: Path, out: Path, per_class: int = 10) -> Path:
    """A few of FER2013's own images per class and split, as an image-folder tree."""
    taken: Counter[tuple[str, str, str]] = Counter()
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 4:
                continue
            split, label, name = parts[-3], parts[-2], parts[-1]
            group = (split, label, name.split("_")[0])
            if taken[group] >= per_class:
                continue
            taken[group] += 1
            target = out / split / label / name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
    return out


def test_export_int8_runs_without_torch_and_never_imports_it(
    shipped_model: Path, fer_archive: Path, tmp_path: Path
) -> None:
    data = small_dataset(fer_archive, tmp_path / "faces")
    out = tmp_path / "model-int8.onnx"
    argv = ["export", "int8", str(shipped_model), "--data", str(data), "--out", str(out), "--calibration-images", "50"]
    code = (
        WITHOUT_TORCH
        + f"status = main({argv!r})\n"
        + "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'torch')\n"
        + "print('torch modules:', loaded)\n"
        + "sys.exit(status)\n"
    )
    env_cache = {"EMOTION_EDGE_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env_cache},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch modules: []" in result.stdout
    assert f"wrote {out}" in result.stdout and "calibrated on 50 Training images" in result.stdout
    assert "INT8 - FP32 top-1" in result.stdout  # the comparison ran too, on ONNX Runtime alone
    from edge.model_meta import read_onnx_metadata

    info = read_onnx_metadata(str(out))
    assert info.extra["precision"] == "int8" and info.metrics["fp32_test_top1"] >= 0
