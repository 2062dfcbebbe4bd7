"""`emotion-edge run` with two cameras, against a real broker: one process, one connection, a stream
per camera, the device's stats with every camera's figures, and one camera lost and back while
the other goes on."""

from __future__ import annotations

import shutil
from pathlib import Path

import jsonschema
import pytest

from edge.mqtt.schemas import load_schema
from tests.edge.device_process import device_running, stop
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber

pytestmark = pytest.mark.shared
BASE = "emotion-edge/shop"


def two_cameras(tmp_path: Path, door: Path, desk: Path, model: Path, yunet: Path, port: int) -> Path:
    config = tmp_path / "two-cameras.toml"
    config.write_text(
        f"[source]\nloop = true\nretry_initial_s = 0.2\nretry_max_s = 0.5\n"
        f'[detector]\nmodel = "{yunet}"\n[model]\npath = "{model}"\n[stats]\ninterval_s = 0.5\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\ndevice_id = "shop"\n'
        f"[mqtt.rate]\nstats_interval_s = 0.5\nemotion_none_after_s = 1.0\n"
        f'[cameras.door.source]\nuri = "{door}"\n'
        f'[cameras.desk.source]\nuri = "{desk}"\n'
    )
    return config


def cameras_in(stats: dict) -> dict:  # type: ignore[type-arg]
    return stats.get("cameras", {})


def test_two_cameras_publish_their_own_streams_and_one_lost_leaves_the_other_running(
    face_clip: Path, four_face_clip: Path, shipped_model: Path, yunet_model: Path, broker: Broker,
    subscriber: Subscriber, tmp_path: Path,
) -> None:  # fmt: skip
    door, desk = tmp_path / "door.avi", tmp_path / "desk.avi"
    shutil.copy(face_clip, door)
    shutil.copy(four_face_clip, desk)
    config = two_cameras(tmp_path, door, desk, shipped_model, yunet_model, broker.port)
    with device_running(config) as process:
        subscriber.wait_topic(f"{BASE}/availability", "online", timeout=60)
        # Each camera's stream on its own topics, validated against the contract's schemas.
        for camera, faces in (("door", 1), ("desk", 4)):
            seen = subscriber.wait_for(
                lambda r, c=camera, n=faces: r.topic == f"{BASE}/{c}/faces" and len(r.json()["faces"]) == n,
                30, what=f"{camera}'s faces",
            )  # fmt: skip
            jsonschema.validate(seen.json(), load_schema("faces"))
            emotion = subscriber.wait_topic(f"{BASE}/{camera}/emotion", timeout=30)
            jsonschema.validate(emotion.json(), load_schema("emotion"))
            presence = subscriber.wait_for(
                lambda r, c=camera: r.topic == f"{BASE}/{c}/presence" and r.json()["faces"] > 0, 30, what="presence"
            )
            jsonschema.validate(presence.json(), load_schema("presence"))
        assert not subscriber.on(f"{BASE}/faces")  # no stream at the device's level with named cameras
        both_ok = subscriber.wait_for(
            lambda r: r.topic == f"{BASE}/stats"
            and {c: s["state"] for c, s in cameras_in(r.json()).items()} == {"door": "ok", "desk": "ok"},
            30, what="stats with both cameras ok",
        ).json()  # fmt: skip
        jsonschema.validate(both_ok, load_schema("stats"))
        assert both_ok["state"] == "ok" and both_ok["reasons"] == []
        assert both_ok["cameras"]["desk"]["source"] == str(desk)
        # Home Assistant: each camera's entities on the one device.
        configs = {r.topic for r in subscriber.received if r.topic.startswith("homeassistant/") and r.payload}
        for entity in ("sensor/shop/door_emotion", "sensor/shop/desk_faces", "binary_sensor/shop/desk_problem"):
            assert f"homeassistant/{entity}/config" in configs, sorted(configs)

        # The desk camera is lost: the device says degraded, naming it; the door camera goes on.
        door_frames = both_ok["cameras"]["door"]["frames"]
        desk.rename(tmp_path / "desk-away.avi")
        mark = subscriber.mark()
        lost = subscriber.wait_for(
            lambda r: r.topic == f"{BASE}/stats" and cameras_in(r.json()).get("desk", {}).get("state") == "degraded"
            and cameras_in(r.json())["door"]["frames"] > door_frames,
            30, start=mark, what="stats with desk degraded",
        ).json()  # fmt: skip
        assert lost["state"] == "degraded" and cameras_in(lost)["door"]["state"] == "ok"
        assert any(r.startswith("camera desk: ") and "desk.avi" in r for r in lost["reasons"]), lost["reasons"]
        assert all(not r.startswith("camera door") for r in lost["reasons"])
        subscriber.wait_for(
            lambda r: r.topic == f"{BASE}/desk/emotion" and r.json()["emotion"] == "none", 30, start=mark,
            what="desk's emotion going to none",
        )  # fmt: skip
        # ... and back: both ok again, without a restart.
        (tmp_path / "desk-away.avi").rename(desk)
        mark = subscriber.mark()
        subscriber.wait_for(
            lambda r: r.topic == f"{BASE}/stats" and r.json()["state"] == "ok"
            and cameras_in(r.json()).get("desk", {}).get("state") == "ok",
            30, start=mark, what="stats with desk ok again",
        )  # fmt: skip
        subscriber.wait_for(
            lambda r: r.topic == f"{BASE}/desk/faces" and len(r.json()["faces"]) == 4, 30, start=mark,
            what="desk's faces again",
        )  # fmt: skip
        stderr = stop(process)
    subscriber.wait_topic(f"{BASE}/availability", "offline", timeout=10)
    assert "Traceback" not in stderr


def test_a_window_or_a_results_file_with_two_cameras_is_refused_naming_the_keys(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "two.toml"
    config.write_text(
        '[mqtt]\nenabled = false\n[output]\nresults = "r.jsonl"\n'
        '[cameras.door.source]\nuri = "/dev/video1"\n[cameras.desk.source]\nuri = "/dev/video2"\n'
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(config)],
        capture_output=True, text=True, timeout=60, cwd=root,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "output.results: a window, a recording and a results file serve one camera" in line


def test_the_live_view_serves_every_camera_on_one_port_chosen_by_name(
    face_clip: Path, four_face_clip: Path, shipped_model: Path, yunet_model: Path, tmp_path: Path
) -> None:
    import json
    import time
    import urllib.error
    import urllib.request

    from tests.ports import free_port

    port = free_port()
    config = tmp_path / "two.toml"
    config.write_text(
        f'[source]\nloop = true\n[detector]\nmodel = "{yunet_model}"\n[model]\npath = "{shipped_model}"\n'
        f'[mqtt]\nenabled = false\n[web]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
        f'[cameras.door.source]\nuri = "{face_clip}"\n[cameras.desk.source]\nuri = "{four_face_clip}"\n'
    )
    base = f"http://127.0.0.1:{port}"

    def state(query: str = "") -> dict:  # type: ignore[type-arg]
        with urllib.request.urlopen(f"{base}/api/state{query}", timeout=5) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def faces_of(query: str, n: int) -> dict:  # type: ignore[type-arg]
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                s = state(query)
                if len(s.get("faces") or []) == n:
                    return s
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"no state with {n} faces for {query!r}")

    with device_running(config) as process:
        first = faces_of("", 1)  # the first camera by default
        assert first["camera"] == "door" and first["cameras"] == ["door", "desk"]
        desk = faces_of("?camera=desk", 4)
        assert desk["camera"] == "desk" and desk["device"]["source"] == str(four_face_clip)
        with urllib.request.urlopen(f"{base}/frame.jpg?camera=desk", timeout=10) as r:
            assert r.headers["Content-Type"] == "image/jpeg" and r.read(3) == b"\xff\xd8\xff"
        try:
            urllib.request.urlopen(f"{base}/api/state?camera=nope", timeout=5)
            raise AssertionError("an unknown camera was served")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404 and "the cameras are: door, desk" in exc.read().decode()
        with urllib.request.urlopen(f"{base}/", timeout=5) as r:
            assert b'id="camera"' in r.read()  # the page's camera chooser
        stop(process)
