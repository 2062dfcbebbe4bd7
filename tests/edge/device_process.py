"""`emotion-edge run` as a child process, for the end-to-end tests: started, stopped the way
systemd stops it, and killed whatever happens in between."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def device_running(config: Path) -> Iterator[subprocess.Popen[str]]:
    """``run --config CONFIG``, alive after its first half second; killed if the block fails."""
    process = subprocess.Popen(
        [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        assert process.poll() is None, process.communicate()[1]
        yield process
    finally:
        if process.poll() is None:
            process.kill()


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, as systemd sends it: the device must exit 0; its stderr is returned."""
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return stderr
