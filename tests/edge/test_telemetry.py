"""Nothing but MQTT leaves the device: ONNX Runtime's telemetry is off in every process of the project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def telemetry_dir(home: Path) -> Path:
    return home / ".cache" / "Microsoft"


def isolated_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY")}
    return {**env, "HOME": str(home)}


@pytest.mark.shared
def test_a_run_leaves_no_onnxruntime_telemetry_behind(
    tmp_path: Path, face_clip: Path, shipped_model: Path, yunet_model: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    # What the installed ONNX Runtime does by itself: a device ID and an event queue under ~/.cache.
    subprocess.run([sys.executable, "-c", "import onnxruntime"], env=isolated_env(plain), check=True, timeout=60)
    if not telemetry_dir(plain).exists():
        pytest.skip("this ONNX Runtime writes no telemetry files: nothing to turn off")
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nuri = "{face_clip}"\nrealtime = false\n[detector]\nmodel = "{yunet_model}"\n'
        f'[model]\npath = "{shipped_model}"\n[mqtt]\nenabled = false\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(config), "--max-frames", "2"],
        cwd=ROOT,
        env=isolated_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not telemetry_dir(home).exists(), list(telemetry_dir(home).rglob("*"))


def test_every_session_the_project_makes_has_telemetry_off(tmp_path: Path, shipped_model: Path) -> None:
    code = (
        "from edge.classify import OnnxRuntimeClassifier; from edge.model_meta import read_onnx_metadata; "
        f"OnnxRuntimeClassifier({str(shipped_model)!r}); read_onnx_metadata({str(shipped_model)!r})"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=isolated_env(tmp_path), check=True, timeout=60)
    assert not telemetry_dir(tmp_path).exists()
