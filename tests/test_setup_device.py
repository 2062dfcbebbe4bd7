"""``make setup-device`` (tools/setup-device.sh): what it can show without a Jetson or the network:
the venv it makes per platform, that a Jetson without JetPack's nvcc stops with the fix, and what it
would install from PyPI on JetPack 6 (tools/jetpack_resolve.py; skipped when the index is unreachable)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "setup-device.sh"


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PY": sys.executable, "VENV": str(tmp_path / "venv"), **env}
    # A guard, not a bound: making a venv (ensurepip) took over 300 s on a loaded 2-core machine.
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=900, env=full, cwd=ROOT)


def test_the_script_is_valid_shell() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_a_jetson_venv_sees_the_system_packages_and_pycuda_needs_jetpacks_nvcc(tmp_path: Path) -> None:
    done = run(tmp_path, PLATFORM="jetson", CUDA_HOME=str(tmp_path / "no-cuda"))
    assert done.returncode == 1
    assert "platform: Jetson" in done.stdout
    assert f"{tmp_path}/no-cuda/bin/nvcc not found: pycuda builds against JetPack's CUDA" in done.stderr
    cfg = (tmp_path / "venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg  # JetPack's TensorRT and GStreamer OpenCV
    # NumPy 1.x for JetPack's packages, and the OpenCV wheels built for it (4.12 on need NumPy 2: pip
    # would download seven of them before settling).
    assert (tmp_path / "venv" / "constraints.txt").read_text().split() == ["numpy<2", "opencv-python-headless<4.12"]


@pytest.mark.skipif(Path("/proc/device-tree/model").exists(), reason="this machine has a device tree")
def test_a_pi_chosen_by_hand_without_a_device_tree_says_unknown_model_and_nothing_else(tmp_path: Path) -> None:
    # PLATFORM=pi where the model file is missing (a container, make arm64-check's emulated root).
    done = run(tmp_path, PLATFORM="pi", PY=str(tmp_path / "no-python"))
    assert "platform: Raspberry Pi (unknown)" in done.stdout
    assert done.stderr.strip() == f"setup-device: error: {tmp_path}/no-python not found: install Python 3.10 or newer"


def test_an_unknown_platform_is_refused(tmp_path: Path) -> None:
    done = run(tmp_path, PLATFORM="windows")
    assert done.returncode == 1 and "PLATFORM=windows: use jetson, pi or linux" in done.stderr


# --- JetPack 6 (Python 3.10, glibc 2.35, aarch64): what setup-device would install from PyPI -----------

sys.path.insert(0, str(ROOT / "tools"))
import jetpack_resolve  # noqa: E402  (a script beside setup-device.sh, not a package)


def test_jetpack6_accepts_every_glibc_level_up_to_its_own() -> None:
    # pip does not widen an explicit --platform to older glibc levels: each one is listed.
    tags = jetpack_resolve.platform_tags((2, 35))
    assert tags[0] == "manylinux_2_35_aarch64" and tags[-1] == "manylinux2014_aarch64"
    assert "manylinux_2_28_aarch64" in tags and "manylinux_2_17_aarch64" in tags
    assert not any(tag.startswith(("manylinux_2_36", "manylinux_2_16")) for tag in tags)
    assert jetpack_resolve.wheel_fits(
        "onnxruntime-1.23.2-cp310-cp310-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl", (2, 35)
    )
    assert not jetpack_resolve.wheel_fits("x-1.0-cp310-cp310-manylinux_2_39_aarch64.whl", (2, 35))
    assert not jetpack_resolve.wheel_fits("x-1.0-cp310-cp310-manylinux_2_17_x86_64.whl", (2, 35))


@pytest.mark.slow
def test_jetpack6_resolves_the_device_runtime_to_aarch64_wheels_with_a_current_onnxruntime() -> None:
    try:
        result = jetpack_resolve.resolve(extras="onnxruntime", timeout_s=900)
    except jetpack_resolve.Unreachable as exc:
        pytest.skip(f"{exc}: the resolution needs the package index")
    got = {p["name"].lower().replace("_", "-"): p for p in result["packages"]}
    assert {"numpy", "opencv-python-headless", "paho-mqtt", "pydantic", "pydantic-core", "onnxruntime"} <= set(got)
    for p in result["packages"]:  # binary-only, for this Python and this glibc
        assert jetpack_resolve.wheel_fits(p["wheel"], (2, 35)), p["wheel"]
        assert re.search(r"-(cp310-cp310|cp3\d+-abi3|py3-none|py2\.py3-none)-", p["wheel"]), p["wheel"]
    assert int(got["numpy"]["version"].split(".")[0]) < 2  # JetPack's TensorRT and OpenCV
    assert tuple(int(x) for x in got["opencv-python-headless"]["version"].split(".")[:2]) < (4, 12)
    # With manylinux2014 alone pip falls back to onnxruntime 1.16 (its last glibc 2.17 build).
    assert tuple(int(x) for x in got["onnxruntime"]["version"].split(".")[:2]) >= (1, 17)
    if result["resolved_with"]["markers_python"] == "3.10":
        assert "tomli" in got  # the configuration reader below 3.11
