"""``make setup-device`` (tools/setup-device.sh): what it can show without a Jetson or the network:
the venv it makes per platform, and that a Jetson without JetPack's nvcc stops with the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "setup-device.sh"


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PY": sys.executable, "VENV": str(tmp_path / "venv"), **env}
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=300, env=full, cwd=ROOT)


def test_the_script_is_valid_shell() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_a_jetson_venv_sees_the_system_packages_and_pycuda_needs_jetpacks_nvcc(tmp_path: Path) -> None:
    done = run(tmp_path, PLATFORM="jetson", CUDA_HOME=str(tmp_path / "no-cuda"))
    assert done.returncode == 1
    assert "platform: Jetson" in done.stdout
    assert f"{tmp_path}/no-cuda/bin/nvcc not found: pycuda builds against JetPack's CUDA" in done.stderr
    cfg = (tmp_path / "venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg  # JetPack's TensorRT and GStreamer OpenCV
    assert (tmp_path / "venv" / "constraints.txt").read_text().strip() == "numpy<2"


def test_an_unknown_platform_is_refused(tmp_path: Path) -> None:
    done = run(tmp_path, PLATFORM="windows")
    assert done.returncode == 1 and "PLATFORM=windows: use jetson, pi or linux" in done.stderr
