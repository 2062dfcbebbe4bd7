"""systemd's view of a two-camera device: READY with the first camera's frame, the watchdog fed while
the loops run, and a STATUS line that names the camera that is not ok."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.edge.service.service_manager import ServiceManager

pytestmark = pytest.mark.shared
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.realtime(reason="two watchdog pings in 2 s at a 1 s watchdog is a wall-clock rate")
def test_status_names_the_camera_that_is_not_ok_while_the_other_keeps_the_watchdog_fed(
    tmp_path: Path, face_clip: Path, shipped_model: Path, yunet_model: Path, manager: ServiceManager
) -> None:
    missing = tmp_path / "desk.avi"  # the desk camera's file is not there: waited for, as a camera is
    config = tmp_path / "two.toml"
    config.write_text(
        f"[source]\nloop = true\nwait_for_file = true\nretry_initial_s = 0.2\nretry_max_s = 0.5\n"
        f'[detector]\nmodel = "{yunet_model}"\n[model]\npath = "{shipped_model}"\n[mqtt]\nenabled = false\n'
        f'[cameras.door.source]\nuri = "{face_clip}"\n[cameras.desk.source]\nuri = "{missing}"\n'
    )
    env = {**os.environ, **manager.env(watchdog_usec=1_000_000)}
    process = subprocess.Popen(
        [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(config)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        ready = manager.wait_for(lambda n: n.fields.get("READY") == "1", 60, what="READY=1")
        status = manager.wait_for(
            lambda n: "1 of 2 cameras ok" in n.fields.get("STATUS", "") and "desk degraded" in n.fields["STATUS"],
            20, what="STATUS naming the desk camera",
        )  # fmt: skip
        assert "desk.avi" in status.fields["STATUS"] and "door" not in status.fields["STATUS"].split(";", 1)[1]
        time.sleep(2.0)
        assert len(manager.with_key("WATCHDOG", "1", since=ready.at)) >= 2  # the door camera's loop runs
        face_clip_copy = tmp_path / "desk.avi"
        face_clip_copy.write_bytes(face_clip.read_bytes())  # the desk camera appears
        manager.wait_for(
            lambda n: n.fields.get("STATUS", "").startswith("2 of 2 cameras ok"), 30, what="STATUS with both ok"
        )
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    stopping = manager.wait_for(lambda n: n.fields.get("STOPPING") == "1", 5, "STOPPING=1")
    assert stopping.fields["STATUS"] == "stopping: door: stopped, desk: stopped"
