"""A real ``emotion-edge run`` under a notify socket says which classifier backend runs, and why,
in its STATUS line (what ``systemctl status`` shows), and releases the classifier when it stops."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.tensorrt.support import probe
from tests.edge.service.service_manager import ServiceManager

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def manager() -> Iterator[ServiceManager]:
    m = ServiceManager()
    yield m
    m.close()


def test_the_status_line_names_the_backend_and_why(
    tmp_path: Path,
    manager: ServiceManager,
    numbered_clip: Callable[[int], Path],
    shipped_model: Path,
    yunet_model: Path,
) -> None:
    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nuri = "{numbered_clip(40)}"\nrealtime = false\n'
        f'[detector]\nmodel = "{yunet_model}"\n[model]\npath = "{shipped_model}"\n[mqtt]\nenabled = false\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOTION_EDGE_")}
    done = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(config), "--max-frames", "20"],
        cwd=ROOT,
        env={**env, **manager.env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    ready = manager.wait_for(lambda n: n.fields.get("READY") == "1", 10, "READY=1")
    status = ready.fields["STATUS"]
    assert ", 1 frames; onnxruntime: " in status
    if not probe().installed:  # this machine: no TensorRT, which is expected here and said so (INFO)
        assert "; onnxruntime: TensorRT is not installed; ONNX Runtime " in status
        assert "TensorRT failed" not in done.stderr
    assert "releasing the" not in done.stderr  # the classifier was closed without trouble
