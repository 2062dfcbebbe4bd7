"""What a command prints besides its own messages: nothing. OpenCV's own warnings (OpenCV 5 warns
``setPreferableTarget`` each time a YuNet detector is made) stay out of a normal run; -v lets them in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.edge.conftest import write_numbered_clip

ROOT = Path(__file__).resolve().parents[1]


def run(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMOTION_EDGE_", "OPENCV_"))}
    return subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", *extra, "run", "--config", str(config), "--max-frames", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.shared
def test_a_run_prints_no_opencv_warnings_unless_asked_with_verbose(
    tmp_path: Path, yunet_model: Path, shipped_model: Path
) -> None:
    clip = write_numbered_clip(tmp_path / "clip.avi", 5)
    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nuri = "{clip}"\n[detector]\nmodel = "{yunet_model}"\n'
        f'[model]\npath = "{shipped_model}"\n[mqtt]\nenabled = false\n'
    )
    verbose = run(config, "-v")
    assert verbose.returncode == 0, verbose.stderr[-2000:]
    if "setPreferableTarget" not in verbose.stderr:
        pytest.skip("this OpenCV does not warn about setPreferableTarget: nothing to silence")
    quiet = run(config)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "[ WARN:" not in quiet.stderr and "setPreferableTarget" not in quiet.stderr, quiet.stderr[-2000:]
