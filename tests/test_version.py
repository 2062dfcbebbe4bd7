"""What the package says about itself: its version (one, the package's), the default model's name and
version, and metadata that installs without deprecation warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

import edge
from edge.model_meta import read_onnx_metadata

ROOT = Path(__file__).resolve().parents[1]


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def version_output(cwd: Path) -> subprocess.CompletedProcess[str]:
    probe = (
        "import sys\n"
        "from emotion_edge.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print('onnxruntime loaded:', 'onnxruntime' in sys.modules, 'exit', code)\n"
    )
    return subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_the_package_has_one_version_and_it_is_the_release() -> None:
    assert project()["version"] == edge.__version__ == "2.1.0"


def test_version_prints_the_package_and_the_default_models_name_and_version() -> None:
    info = read_onnx_metadata(str(ROOT / "models" / "emotion-edge-fp32.onnx"))
    done = version_output(ROOT)
    assert done.stdout.startswith(f"emotion-edge {edge.__version__}\n"), done.stdout + done.stderr
    assert f"model {info.name} {info.version} (models/emotion-edge-fp32.onnx)" in done.stdout
    assert "exit 0" in done.stdout


def test_version_without_the_model_says_so_and_loads_no_runtime(tmp_path: Path) -> None:
    done = version_output(tmp_path)
    assert done.stdout.startswith(f"emotion-edge {edge.__version__}\n"), done.stdout + done.stderr
    assert "models/emotion-edge-fp32.onnx is missing" in done.stdout
    assert "onnxruntime loaded: False exit 0" in done.stdout
    assert "Traceback" not in done.stderr


def test_the_package_metadata_builds_without_deprecation_warnings(tmp_path: Path) -> None:
    build = "from setuptools import build_meta\nimport sys\nbuild_meta.prepare_metadata_for_build_wheel(sys.argv[1])\n"
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", build, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Warning" not in done.stderr, done.stderr[-3000:]  # each would print on every install
    metadata = next(tmp_path.glob("*.dist-info/METADATA")).read_text()
    assert "License-Expression: MIT" in metadata  # PEP 639
