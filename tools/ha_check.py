"""`make ha-check`: the device against a real Home Assistant core, on loopback.

Run by tools/ha-check.sh with the Python of Home Assistant's own venv (.venv-ha: Python 3.13 and
homeassistant with its package constraints); the device runs from the project's venv. Everything
listens on 127.0.0.1 only, on free ports: Mosquitto, Home Assistant (a minimal configuration without
default_config, MQTT as a config entry written into .storage, the onboarding API for a token), and
`emotion-edge run` on a clip.

Phases (each check prints one OK/FAIL line; any FAIL exits 1; the report is runs/ha-check/report.json):
 1. the device on a clip of real faces: the device and its six entities appear with the right
    device info; the states follow the clip (faces, occupancy, emotion with its attributes, frame
    rate, problem off); Home Assistant has nothing to complain about.
 2. Home Assistant restarts while the device runs: every state is back at once (no `unknown`).
 3. SIGTERM to the device: every entity `unavailable`.
 4. the device restarts into an empty room: Faces 0 at once (the stale count is replaced),
    occupancy off, emotion none.
 5. the camera is missing: the device runs `degraded`, Home Assistant's Problem sensor is on, with
    the reason as an attribute.
 6. SIGKILL to the device: `unavailable` through the last will.
 7. `emotion-edge mqtt forget`: the device and its entities leave Home Assistant.
 8. Home Assistant's log: no warning or error about MQTT or this device.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DEVICE = "ha-check"
UID = f"emotion_edge_{DEVICE}"
OBJECTS = {
    "emotion": "sensor",
    "faces": "sensor",
    "fps": "sensor",
    "latency": "sensor",
    "occupancy": "binary_sensor",
    "problem": "binary_sensor",
}
# A several-camera device (phase 8): each camera's entities on the one device, beside the device's own.
CAMERAS = ("door", "desk")
CAMERA_OBJECTS = {
    f"{camera}_{entity}": component
    for camera in CAMERAS
    for entity, component in (("emotion", "sensor"), ("faces", "sensor"), ("occupancy", "binary_sensor"),
                              ("problem", "binary_sensor"))
}  # fmt: skip
DEVICE_OBJECTS_WITH_CAMERAS = ("fps", "latency", "problem")
CLASSES = {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise", "none"}
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append({"check": name, "ok": bool(ok), "detail": detail})
        stamp = f"{time.monotonic() - self.started:6.1f}s"
        print(f"{stamp} {'OK  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""), flush=True)
        return ok

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["ok"]]


class Process:
    """A child process with its output in a log file, stopped by signal."""

    def __init__(self, name: str, argv: list[str], log: Path, cwd: Path = ROOT) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


class HomeAssistant:
    def __init__(self, hass: Path, config_dir: Path, mqtt_port: int) -> None:
        self.hass = hass
        self.dir = config_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.token = ""
        self.process: Process | None = None
        self._write_config(mqtt_port)

    def _write_config(self, mqtt_port: int) -> None:
        storage = self.dir / ".storage"
        storage.mkdir(parents=True, exist_ok=True)
        # No default_config: it would load integrations that reach for the network (cloud, ...).
        (self.dir / "configuration.yaml").write_text(
            "homeassistant:\n"
            "  name: ha-check\n  latitude: 0\n  longitude: 0\n  elevation: 0\n"
            "  unit_system: metric\n  time_zone: UTC\n  country: DE\n  currency: EUR\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {self.port}\n"
            "api:\n"
            "logger:\n  default: warning\n  logs:\n    homeassistant.components.mqtt: info\n"
        )
        now = datetime.now(timezone.utc).isoformat()
        entry = {
            "created_at": now,
            "modified_at": now,
            "data": {"broker": "127.0.0.1", "port": mqtt_port},
            "discovery_keys": {},
            "disabled_by": None,
            "domain": "mqtt",
            "entry_id": uuid.uuid4().hex,
            "minor_version": 2,
            "version": 1,
            # discovery on, birth message homeassistant/status "online": Home Assistant's defaults
            "options": {"discovery": True, "discovery_prefix": "homeassistant"},
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "subentries": [],
            "title": "127.0.0.1",
            "unique_id": None,
        }
        (storage / "core.config_entries").write_text(
            json.dumps({"version": 1, "minor_version": 5, "key": "core.config_entries", "data": {"entries": [entry]}})
        )

    def start(self, timeout: float) -> None:
        argv = [str(self.hass), "--config", str(self.dir), "--skip-pip", "--log-no-color"]
        self.process = Process("home-assistant", argv, self.dir / "process.log")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.process.alive():
                raise RuntimeError(f"Home Assistant exited with {self.process.proc.returncode}; see {self.dir}")
            if port_open(self.port):
                try:
                    if self.token:
                        config = self.get("/api/config")
                        if config.get("state") == "RUNNING" and "mqtt" in config.get("components", []):
                            return
                    else:
                        self.onboard()
                        continue
                except (urllib.error.URLError, OSError, ValueError):
                    pass
            time.sleep(1.0)
        raise TimeoutError(f"Home Assistant did not run MQTT within {timeout:.0f} s; see {self.dir}/home-assistant.log")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGTERM, timeout=90)

    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def onboard(self) -> None:
        """The first user through the onboarding API, then a token for it (the auth code flow)."""
        client = self.base + "/"
        user = {"client_id": client, "name": "ha-check", "username": "ha-check", "password": uuid.uuid4().hex}
        user["language"] = "en"
        code = self._request(
            "POST", "/api/onboarding/users", json.dumps(user).encode(), {"Content-Type": "application/json"}
        )["auth_code"]
        form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "client_id": client})
        tokens = self._request(
            "POST", "/auth/token", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"}
        )
        self.token = tokens["access_token"]

    def state(self, entity_id: str) -> dict[str, Any] | None:
        try:
            return self.get(f"/api/states/{entity_id}")  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def ws(self, *commands: dict[str, Any]) -> list[Any]:
        """Results of websocket commands (the registries are not on the REST API)."""
        import aiohttp

        async def run() -> list[Any]:
            async with aiohttp.ClientSession() as session, session.ws_connect(self.base + "/api/websocket") as ws:
                await ws.receive_json()  # auth_required
                await ws.send_json({"type": "auth", "access_token": self.token})
                reply = await ws.receive_json()
                if reply.get("type") != "auth_ok":
                    raise RuntimeError(f"websocket auth failed: {reply}")
                results = []
                for i, command in enumerate(commands, 1):
                    await ws.send_json({"id": i, **command})
                    while True:
                        reply = await ws.receive_json()
                        if reply.get("id") == i:
                            break
                    if not reply.get("success"):
                        raise RuntimeError(f"{command['type']}: {reply.get('error')}")
                    results.append(reply["result"])
                return results

        return asyncio.run(run())

    def entities(self) -> dict[str, str]:
        """Our object id -> entity id, from the entity registry (by unique id)."""
        (registry,) = self.ws({"type": "config/entity_registry/list"})
        wanted = {f"{UID}_{obj}": obj for obj in [*OBJECTS, *CAMERA_OBJECTS]}
        return {wanted[e["unique_id"]]: e["entity_id"] for e in registry if e.get("unique_id") in wanted}

    def device(self) -> dict[str, Any] | None:
        (devices,) = self.ws({"type": "config/device_registry/list"})
        for device in devices:
            if ["mqtt", UID] in device.get("identifiers", []):
                return device  # type: ignore[no-any-return]
        return None


def wait_for(what: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """Poll until ``what()`` is truthy (returning it) or the time is up (returning the last value)."""
    end = time.monotonic() + timeout
    value = None
    while True:
        try:
            value = what()
        except (urllib.error.URLError, OSError, ValueError, RuntimeError):
            value = None  # Home Assistant busy or restarting: ask again
        if value or time.monotonic() >= end:
            return value
        time.sleep(every)


def number(state: dict[str, Any] | None) -> float | None:
    try:
        return float(state["state"]) if state else None
    except (TypeError, ValueError):
        return None


class Device:
    """`emotion-edge run` from the project's venv, with a TOML written for this phase."""

    def __init__(self, venv: Path, workdir: Path, mqtt_port: int, assets: dict[str, str], root: Path = ROOT) -> None:
        self.venv = venv
        self.root = root
        self.workdir = workdir
        self.mqtt_port = mqtt_port
        self.assets = assets
        self.web_port = free_port()
        self.process: Process | None = None
        self.runs = 0

    def start(self, source: str) -> None:
        self.runs += 1
        config = self.workdir / f"device-{self.runs}.toml"
        config.write_text(
            f'[source]\nuri = "{source}"\nloop = true\nrealtime = true\nretry_initial_s = 0.5\nretry_max_s = 2.0\n'
            f'[detector]\nmodel = "{self.assets["detector"]}"\n'
            f'[model]\npath = "{self.assets["model"]}"\n'
            "[stats]\ninterval_s = 2.0\n"
            f'[mqtt]\nhost = "127.0.0.1"\nport = {self.mqtt_port}\ndevice_id = "{DEVICE}"\nkeepalive_s = 5\n'
            "[mqtt.rate]\nstats_interval_s = 2.0\nemotion_none_after_s = 1.0\n"
            f'[web]\nenabled = true\nhost = "127.0.0.1"\nport = {self.web_port}\n'
        )
        argv = [*self._command(), "run", "--config", str(config)]
        self.process = Process("device", argv, self.log(self.runs), cwd=self.root)

    def start_cameras(self, sources: dict[str, str]) -> None:
        """The device with several cameras (``[cameras.NAME]``), one clip each."""
        self.runs += 1
        config = self.workdir / f"device-{self.runs}.toml"
        tables = "".join(f'[cameras.{name}.source]\nuri = "{uri}"\n' for name, uri in sources.items())
        config.write_text(
            "[source]\nloop = true\nrealtime = true\nretry_initial_s = 0.5\nretry_max_s = 2.0\n"
            f'[detector]\nmodel = "{self.assets["detector"]}"\n'
            f'[model]\npath = "{self.assets["model"]}"\n'
            "[stats]\ninterval_s = 2.0\n"
            f'[mqtt]\nhost = "127.0.0.1"\nport = {self.mqtt_port}\ndevice_id = "{DEVICE}"\nkeepalive_s = 5\n'
            "[mqtt.rate]\nstats_interval_s = 2.0\nemotion_none_after_s = 1.0\n" + tables
        )
        argv = [*self._command(), "run", "--config", str(config)]
        self.process = Process("device", argv, self.log(self.runs), cwd=self.root)

    def _command(self) -> list[str]:
        # `python -m` from the checkout's root runs that checkout's code (--device-root: another one)
        return [str(self.venv / "bin" / "python"), "-m", "emotion_edge.cli"]

    def log(self, run: int) -> Path:
        return self.workdir / f"device-{run}.log"

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        return self.process.stop(sig, timeout=30) if self.process is not None else None

    def forget(self, cameras: tuple[str, ...] = ()) -> int:
        argv = [*self._command(), "mqtt", "forget", "--device-id", DEVICE]
        if cameras:
            argv += ["--camera-names", ",".join(cameras)]
        argv += ["--host", "127.0.0.1", "--port", str(self.mqtt_port)]
        return subprocess.run(argv, cwd=self.root, capture_output=True, text=True, timeout=60).returncode


def prepare_assets(venv: Path, workdir: Path) -> dict[str, str]:
    """The demo's clip of real faces, an empty room (grey frames), YuNet and the shipped model."""
    script = f"""
import json, cv2, numpy as np
from pathlib import Path
from edge import paths
from edge.tools.demo import find_detector
from edge.tools.demo_clip import cached_demo_clip
detector = find_detector(None)
empty = Path({str(workdir / "empty-room.avi")!r})
writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
for i in range(30):
    writer.write(np.full((480, 640, 3), 90 + i % 3, np.uint8))
writer.release()
print(json.dumps({{"faces": str(cached_demo_clip(None, detector)), "empty": str(empty),
                  "detector": str(detector.resolve()), "model": str(Path(paths.MODEL).resolve())}}))
"""
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"could not prepare the clips: {done.stderr.strip()[-2000:]}")
    assets: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return assets


def start_mosquitto(workdir: Path) -> tuple[Process, int]:
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise LookupError("Mosquitto is not installed (apt install mosquitto)")
    port = free_port()
    conf = workdir / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    broker = Process("mosquitto", [binary, "-c", str(conf), "-v"], workdir / "mosquitto.log")
    if not wait_for(lambda: port_open(port), 15):
        raise RuntimeError("Mosquitto did not start")
    return broker, port


def complaints(log: Path) -> list[str]:
    """Home Assistant's warnings and errors about MQTT, discovery or this device."""
    if not log.is_file():
        return ["no home-assistant.log"]
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if (" WARNING " in line or " ERROR " in line or " CRITICAL " in line) and (
            "mqtt" in line.lower() or "emotion" in line.lower() or DEVICE in line
        ):
            found.append(line.strip()[:300])
    return found


def run_checks(args: argparse.Namespace) -> int:
    workdir = args.workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    report = Report()
    try:
        broker, mqtt_port = start_mosquitto(workdir)
    except LookupError as exc:
        print(f"ha-check: SKIPPED: {exc}")
        return 0
    assets = prepare_assets(args.venv, workdir)
    ha = HomeAssistant(Path(sys.executable).parent / "hass", workdir / "ha", mqtt_port)
    device = Device(args.venv, workdir, mqtt_port, assets, args.device_root.resolve())
    try:
        ha.start(args.start_timeout)
        report.check("Home Assistant runs with MQTT (config entry, loopback)", True, ha.base)
        phases(report, ha, device, assets, args)
    except Exception as exc:  # a phase that could not even run is a failure, with its reason
        report.check("the check ran to the end", False, f"{type(exc).__name__}: {exc}")
    finally:
        device.stop(signal.SIGTERM)
        ha.stop()
        broker.stop()
    for line in complaints(ha.dir / "home-assistant.log"):
        report.check("Home Assistant logged no complaint about MQTT or the device", False, line)
    if not any(c["check"].startswith("Home Assistant logged") for c in report.checks):
        report.check("Home Assistant logged no complaint about MQTT or the device", True)
    (workdir / "report.json").write_text(json.dumps({"checks": report.checks}, indent=1))
    failed = report.failed
    print(f"ha-check: {len(report.checks) - len(failed)} of {len(report.checks)} checks passed; logs in {workdir}")
    return 1 if failed else 0


def phases(report: Report, ha: HomeAssistant, device: Device, assets: dict[str, str], args: argparse.Namespace) -> None:
    t = args.state_timeout
    # 1. a clip of real faces
    device.start(assets["faces"])
    ids = wait_for(lambda: e if len(e := ha.entities()) == len(OBJECTS) else None, t) or ha.entities()
    report.check("discovery made six entities", len(ids) == len(OBJECTS), json.dumps(ids))
    if len(ids) != len(OBJECTS):
        return
    info = ha.device() or {}
    report.check(
        "the device page: name, model, software and hardware version, live view link",
        info.get("name") == f"emotion-edge {DEVICE}"
        and bool(info.get("model"))
        and bool(info.get("sw_version"))
        and bool(info.get("hw_version"))
        and info.get("configuration_url") == f"http://127.0.0.1:{device.web_port}/",
        json.dumps(
            {k: info.get(k) for k in ("name", "model", "model_id", "sw_version", "hw_version", "configuration_url")}
        ),
    )
    seen_faces = wait_for(lambda: (n := number(ha.state(ids["faces"]))) is not None and n > 0 and n, t)
    report.check("Faces follows the clip (a face in view)", bool(seen_faces), f"faces={seen_faces}")
    face_unit = (ha.state(ids["faces"]) or {}).get("attributes", {}).get("unit_of_measurement")
    report.check("Faces has a unit", face_unit == "faces", f"unit={face_unit!r}")
    occupancy = wait_for(lambda: (s := ha.state(ids["occupancy"])) and s["state"] == "on" and s, t)
    report.check("Occupancy is on while someone is in view", bool(occupancy), _state(occupancy))
    emotion = wait_for(lambda: (s := ha.state(ids["emotion"])) and s["state"] in CLASSES - {"none"} and s, t)
    report.check("Emotion shows the main face's emotion", bool(emotion), _state(emotion))
    attrs = (emotion or {}).get("attributes", {})
    wanted = {"score", "face_id", "faces", "time"}
    report.check(
        "Emotion's attributes: score, face id, faces, ISO time; no v or raw ts",
        wanted <= set(attrs) and not {"v", "ts", "emotion"} & set(attrs) and "T" in str(attrs.get("time")),
        json.dumps({k: v for k, v in attrs.items() if k not in ("friendly_name", "icon", "options", "device_class")}),
    )
    first_time = attrs.get("time")
    refreshed = wait_for(lambda: (s := ha.state(ids["emotion"])) and s["attributes"].get("time") != first_time and s, t)
    report.check(
        "Emotion's attributes are refreshed while a face stays (not only on a change)",
        bool(refreshed),
        f"time {first_time} -> {(refreshed or {}).get('attributes', {}).get('time')}",
    )
    fps = wait_for(lambda: (n := number(ha.state(ids["fps"]))) is not None and n > 0 and n, t)
    report.check("Frame rate is a number", bool(fps), f"fps={fps}")
    problem = wait_for(lambda: (s := ha.state(ids["problem"])) and s["state"] == "off" and s, t)
    report.check("Problem is off while all is well", bool(problem), _state(problem))

    # 2. Home Assistant restarts while the device runs
    ha.stop()
    ha.start(args.start_timeout)
    quick = wait_for(
        lambda: all((s := ha.state(eid)) and s["state"] not in ("unknown", "unavailable") for eid in ids.values()),
        15,
    )
    after = {obj: _state(ha.state(eid)) for obj, eid in ids.items()}
    report.check(
        "after Home Assistant restarts every state is back at once (retained or re-sent on its birth)",
        bool(quick),
        json.dumps(after),
    )

    # 3. a clean stop, with someone in view (so that a stale count would show in 4.)
    before = wait_for(lambda: (n := number(ha.state(ids["faces"]))) is not None and n > 0 and n, t)
    code = device.stop(signal.SIGTERM)
    gone = wait_for(lambda: all((ha.state(eid) or {}).get("state") == "unavailable" for eid in ids.values()), t)
    report.check("SIGTERM: every entity unavailable", bool(gone) and code == 0, f"exit {code}, faces before: {before}")

    # 4. a restart into an empty room
    device.start(assets["empty"])
    empty = wait_for(lambda: (s := ha.state(ids["faces"])) and s["state"] == "0" and s, t, every=0.2)
    report.check("restarted into an empty room: Faces 0 (the stale count replaced)", bool(empty), _state(empty))
    nobody = wait_for(
        lambda: (
            (ha.state(ids["occupancy"]) or {}).get("state") == "off"
            and (ha.state(ids["emotion"]) or {}).get("state") == "none"
        ),
        t,
    )
    report.check(
        "empty room: Occupancy off, Emotion none",
        bool(nobody),
        f"occupancy={_state(ha.state(ids['occupancy']))} emotion={_state(ha.state(ids['emotion']))}",
    )
    device.stop(signal.SIGTERM)

    # 5. the camera is missing: degraded
    device.start("/dev/video-ha-check-missing")
    problem = wait_for(lambda: (s := ha.state(ids["problem"])) and s["state"] == "on" and s, t)
    attributes = (problem or {}).get("attributes", {})
    report.check(
        "camera missing: Problem on, with the health state and the reason",
        bool(problem) and attributes.get("health") == "degraded" and bool(attributes.get("reasons")),
        json.dumps(attributes),
    )

    # 6. a crash: the last will
    device.stop(signal.SIGKILL)
    gone = wait_for(lambda: all((ha.state(eid) or {}).get("state") == "unavailable" for eid in ids.values()), t)
    report.check("SIGKILL: every entity unavailable through the last will", bool(gone))

    # 7. forget
    code = device.forget()
    removed = wait_for(lambda: not ha.entities() and ha.device() is None, t)
    report.check("emotion-edge mqtt forget removes the device and its entities", code == 0 and bool(removed))

    # 8. two cameras in one process: each camera's entities on the one device; one camera lost and back
    two_cameras(report, ha, device, assets, t)


def two_cameras(report: Report, ha: HomeAssistant, device: Device, assets: dict[str, str], t: float) -> None:
    desk = device.workdir / "desk.avi"
    shutil.copy(assets["faces"], desk)
    device.start_cameras({"door": assets["faces"], "desk": str(desk)})
    wanted = {*CAMERA_OBJECTS, *DEVICE_OBJECTS_WITH_CAMERAS}
    ids = wait_for(lambda: e if set(e := ha.entities()) == wanted else None, t) or ha.entities()
    report.check(
        "two cameras: each camera's Emotion, Faces, Occupancy and Problem, and the device's Frame rate, Latency "
        "and Problem (eleven entities)",
        set(ids) == wanted,
        json.dumps(sorted(ids)),
    )
    if set(ids) != wanted:
        return
    (devices,) = ha.ws({"type": "config/device_registry/list"})
    ours = [d for d in devices if ["mqtt", UID] in d.get("identifiers", [])]
    owners = {
        e["device_id"] for e in ha.ws({"type": "config/entity_registry/list"})[0] if e["entity_id"] in ids.values()
    }
    report.check("two cameras: all on one device", len(ours) == 1 and len(owners) == 1, f"{len(ours)} device(s)")
    for camera in CAMERAS:
        emotion = wait_for(
            lambda c=camera: (s := ha.state(ids[f"{c}_emotion"])) and s["state"] in CLASSES - {"none"} and s, t
        )
        report.check(f"two cameras: {camera}'s Emotion follows its clip", bool(emotion), _state(emotion))
        faces = wait_for(lambda c=camera: (n := number(ha.state(ids[f"{c}_faces"]))) is not None and n > 0 and n, t)
        report.check(f"two cameras: {camera}'s Faces counts its face", bool(faces), f"faces={faces}")
    ok = wait_for(
        lambda: all(
            (ha.state(ids[o]) or {}).get("state") == "off" for o in ("door_problem", "desk_problem", "problem")
        ),
        t,
    )
    report.check("two cameras: every Problem off while both run", bool(ok))
    # One camera is lost (its file taken away): its Problem on with the reason, the other's off, the device's on.
    desk.rename(desk.with_suffix(".away"))
    lost = wait_for(lambda: (s := ha.state(ids["desk_problem"])) and s["state"] == "on" and s, t)
    attributes = (lost or {}).get("attributes", {})
    door_problem = (ha.state(ids["door_problem"]) or {}).get("state")
    report.check(
        "desk lost: desk's Problem on with its reason, door's off, the device's on",
        bool(lost)
        and attributes.get("health") == "degraded"
        and bool(attributes.get("reasons"))
        and door_problem == "off"
        and (ha.state(ids["problem"]) or {}).get("state") == "on",
        json.dumps({"desk": attributes, "door": door_problem}),
    )
    # The door's clip has moments without a face: its count is waited for, not read once.
    still = wait_for(lambda: (n := number(ha.state(ids["door_faces"]))) is not None and n > 0 and n, t)
    report.check("desk lost: door still counts its face", bool(still), f"faces={still}")
    # ... and back, without a restart.
    desk.with_suffix(".away").rename(desk)
    back = wait_for(lambda: all((ha.state(ids[o]) or {}).get("state") == "off" for o in ("desk_problem", "problem")), t)
    report.check("desk back: its Problem and the device's off again", bool(back))
    code = device.stop(signal.SIGTERM)
    gone = wait_for(lambda: all((ha.state(eid) or {}).get("state") == "unavailable" for eid in ids.values()), t)
    report.check("two cameras, SIGTERM: every entity unavailable", bool(gone) and code == 0, f"exit {code}")
    code = device.forget(CAMERAS)
    removed = wait_for(lambda: not ha.entities() and ha.device() is None, t)
    report.check(
        "mqtt forget --camera-names removes the device and every camera's entities", code == 0 and bool(removed)
    )


def _state(state: dict[str, Any] | None) -> str:
    return "missing" if not state else str(state.get("state"))


def requirements() -> list[str]:
    """What the integrations Home Assistant loads here need (bootstrap's default integrations, the
    ones always loaded, MQTT and the API, and their dependencies): installed up front, because Home
    Assistant runs with --skip-pip (it would install them on its own at start otherwise)."""
    import homeassistant
    from homeassistant import bootstrap

    components = Path(homeassistant.__file__).parent / "components"
    wanted = {*bootstrap.DEFAULT_INTEGRATIONS, *bootstrap.CORE_INTEGRATIONS, "frontend", "mqtt", "api", "http"}
    wanted |= {"logger", "network", "system_log", "isal", "sensor", "binary_sensor"}
    seen: set[str] = set()
    needed: set[str] = set()
    while wanted:
        domain = wanted.pop()
        if domain in seen:
            continue
        seen.add(domain)
        manifest = components / domain / "manifest.json"
        if manifest.is_file():
            data = json.loads(manifest.read_text())
            needed.update(data.get("requirements", []))
            wanted.update(data.get("dependencies", []))
    return sorted(needed)


def _stopped(*_: object) -> None:
    print("ha-check: FAILED: stopped by SIGTERM (the time limit?); stopping what it started", flush=True)
    sys.exit(124)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv", help="the project's venv (runs the device)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "ha-check")
    parser.add_argument(
        "--device-root", type=Path, default=ROOT, help="the checkout whose device runs (default: this one)"
    )
    parser.add_argument("--start-timeout", type=float, default=240.0, help="seconds for Home Assistant to start")
    parser.add_argument("--state-timeout", type=float, default=60.0, help="seconds for a state to show")
    parser.add_argument("--requirements", action="store_true", help="print the integrations' requirements and exit")
    args = parser.parse_args()
    if args.requirements:
        print("\n".join(requirements()))
        return 0
    # `timeout` (ha-check.sh) ends a run that hangs with SIGTERM: stop Home Assistant, the device and
    # the broker on the way out (the finally blocks), never leave them running.
    signal.signal(signal.SIGTERM, _stopped)
    return run_checks(args)


if __name__ == "__main__":
    sys.exit(main())
