"""``emotion-edge doctor``: checks this device, one line per check, with the fix for what fails.

Each check says ``OK``, ``FAIL`` or ``absent`` (the thing does not apply here, and why: no TensorRT
on a Raspberry Pi, no broker when MQTT is off). The exit status is 1 when a *needed* check fails:
the camera, the model, ONNX Runtime, the broker when MQTT is on, and on a Jetson (or with
``model.backend = "tensorrt"``) TensorRT, CUDA and the GPU's device nodes. ``--json`` prints the
same as a list of objects for scripts (and for the acceptance report). Heavy imports (OpenCV,
ONNX Runtime, TensorRT, pycuda, paho) happen inside each check, so one broken part never hides
the others.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import json
import os
import platform
import pwd
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.flags import SOURCE_HELP

if TYPE_CHECKING:
    from edge.config import DeviceConfig

OK, FAIL, ABSENT = "OK", "FAIL", "absent"
SERVICE = "emotion-edge"
SERVICE_USER = "emotion-edge"
DROPIN_DIR = Path("/etc/systemd/system/emotion-edge.service.d")


@dataclass
class Check:
    name: str
    status: str  # OK, FAIL or absent
    detail: str
    fix: str = ""
    needed: bool = False  # the device needs this check to pass (set for passed checks too)

    def line(self) -> str:
        text = (
            f"{self.status:<7}{self.name:<13}{self.detail}"
            if len(self.name) < 13
            else (f"{self.status:<7}{self.name} {self.detail}")
        )
        if self.fix and self.status != OK:
            text += f" -> {self.fix}"
        return text


@dataclass(frozen=True)
class Board:
    kind: str  # jetson, pi, linux
    model: str
    release: str  # L4T / JetPack, or the OS


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").replace("\0", "").strip()
    except OSError:
        return ""


def l4t_release(text: str) -> str:
    """``# R36 (release), REVISION: 3.0, ...`` -> ``L4T R36.3.0 (JetPack 6)``."""
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    if not match:
        return "L4T release unknown"
    major = int(match.group(1))
    jetpack = {32: "4", 34: "5 (developer preview)", 35: "5", 36: "6", 38: "7"}.get(major, "?")
    return f"L4T R{major}.{match.group(2)} (JetPack {jetpack})"


def detect_board(root: Path = Path("/")) -> Board:
    model = _read(root / "proc/device-tree/model")
    tegra = root / "etc/nv_tegra_release"
    if tegra.exists():
        return Board("jetson", model or "NVIDIA Jetson", l4t_release(_read(tegra)))
    if "Raspberry Pi" in model:
        return Board("pi", model, _os_name(root))
    return Board("linux", model or f"{platform.machine()} Linux", _os_name(root))


def _os_name(root: Path) -> str:
    for line in _read(root / "etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


# --- the checks ----------------------------------------------------------------------------------


def check_board(board: Board) -> Check:
    names = {"jetson": "Jetson", "pi": "Raspberry Pi", "linux": "Linux"}
    return Check("board", OK, f"{names[board.kind]}: {board.model}; {board.release}")


def check_python() -> Check:
    v = sys.version_info
    venv = sys.prefix != sys.base_prefix
    system_site = False
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    if venv and cfg.is_file():
        system_site = "include-system-site-packages = true" in cfg.read_text()
    where = f"venv {sys.prefix}{' with system site-packages' if system_site else ''}" if venv else sys.executable
    if v < (3, 10):
        return Check("python", FAIL, f"{platform.python_version()} ({where})", "emotion-edge needs Python 3.10+", True)
    return Check("python", OK, f"{platform.python_version()} ({where})")


def check_opencv(config: DeviceConfig, board: Board) -> Check:
    try:
        import cv2
    except ImportError as exc:
        return Check(
            "opencv", FAIL, f"not importable ({exc})", "make setup-device (or pip install opencv-python-headless)", True
        )
    from edge.sources import has_gstreamer

    gst = has_gstreamer()
    detail = f"{cv2.__version__} from {Path(cv2.__file__).parent}, GStreamer {'YES' if gst else 'NO'}"
    csi = any(str(c.source.uri).startswith("csi://") for c in config.camera_configs().values())
    if csi and not gst:
        return Check(
            "opencv",
            FAIL,
            detail,
            "csi:// needs JetPack's OpenCV: make setup-device (removes the pip wheel from the venv)",
            True,
        )
    if board.kind == "jetson" and not gst:
        return Check("opencv", OK, detail + " (csi:// cameras would not open)", "make setup-device")
    return Check("opencv", OK, detail)


def check_camera(config: DeviceConfig, timeout_s: float) -> Check:
    """Open the configured source and wait for one frame, at most ``timeout_s``."""
    from edge.sources import SourceSettings, make_source, redact

    s = config.source
    shown = redact(str(s.uri))
    result: dict[str, Any] = {}

    def grab() -> None:
        source = None
        try:
            source = make_source(s.uri, SourceSettings(s.width, s.height, s.fps, s.fourcc, s.loop, s.bad_frame_limit))
            source.open()
            frame = source.read()
            result["frame"] = frame.shape
        except Exception as exc:  # the source's own message names the cause
            result["error"] = exc
        finally:
            if source is not None:
                with contextlib.suppress(Exception):
                    source.close()

    worker = threading.Thread(target=grab, name="doctor-camera", daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        return Check(
            "camera",
            FAIL,
            f"{shown} opened no frame within {timeout_s:.0f} s",
            "is another program using it (the service: sudo systemctl stop emotion-edge)? "
            "For csi://: sudo systemctl restart nvargus-daemon",
            True,
        )
    if "error" in result:
        error = str(result["error"])
        text = error if error.startswith(shown) else f"{shown}: {error}"
        return Check("camera", FAIL, text, "see the message; `v4l2-ctl --list-devices`", True)
    h, w = result["frame"][:2]
    return Check("camera", OK, f"{shown}: a {w}x{h} frame in {time.monotonic() - started:.1f} s")


def check_detector_backend(config: DeviceConfig) -> Check:
    """Which backend the face detector runs on here, and why (``yunet-auto``: why not TensorRT)."""
    from edge.yunet_net import plan_backend

    plan = plan_backend(config.detector.kind)
    detail = f"detector.kind = {config.detector.kind!r}: {plan.reason}"
    if not plan.backend:
        return Check("detector", FAIL, detail, plan.fix, True)
    return Check("detector", OK, f"{plan.backend}; {detail}")


def check_detector(config: DeviceConfig) -> Check:
    from edge.registry import runs_yunet

    d = config.detector
    if not runs_yunet(d.kind):
        return Check("yunet", ABSENT, f"detector.kind = {d.kind!r}: YuNet is not used")
    from edge.checksum import sha256_file
    from edge.fetch import YUNET
    from edge.paths import locate_detector

    configured = Path(d.model)
    fix = f"emotion-edge models fetch --dest {configured}"
    found = locate_detector(d.model)  # where `run`, `demo` and `bench` look, in the same order
    if found is None:
        return Check("yunet", FAIL, f"{configured} is missing", fix, True)
    path = Path(found)
    digest = sha256_file(path)
    if digest != YUNET.sha256:
        # Another YuNet release may serve; a file OpenCV cannot load as one may not.
        try:
            import cv2

            cv2.FaceDetectorYN.create(str(path), "", (320, 320))
        except Exception as exc:
            return Check(
                "yunet",
                FAIL,
                f"{path} does not load as YuNet ({exc})",
                f"emotion-edge models fetch --dest {path} --force",
                True,
            )
        return Check(
            "yunet",
            OK,
            f"{path} loads as YuNet, but is not the pinned file (SHA-256 {digest[:12]}…, pinned {YUNET.sha256[:12]}…)"
            + _instead(configured, path),
        )
    return Check("yunet", OK, f"{path} (SHA-256 {digest[:12]}…, the official file)" + _instead(configured, path))


def _instead(configured: Path, found: Path) -> str:
    return "" if found == configured else f"; detector.model {configured} is absent, so `run` uses this one"


def check_model(config: DeviceConfig) -> Check:
    path = Path(config.model.path)
    if not path.is_file():
        return Check(
            "model", FAIL, f"{path} is missing", "set model.path to an exported .onnx file (models/ ships two)", True
        )
    try:
        from edge.model_meta import read_onnx_metadata

        info = read_onnx_metadata(str(path))
    except Exception as exc:
        return Check("model", FAIL, f"{path}: {exc}", "re-export it with `emotion-edge export onnx`", True)
    qdq = b"QuantizeLinear" in path.read_bytes()
    return Check(
        "model",
        OK,
        f"{path}: {info.name} {info.version}, {len(info.classes)} classes, input {info.input_shape}"
        f"{', INT8 Q/DQ' if qdq else ', FP32'}",
    )


def check_onnxruntime() -> Check:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        from edge.classify import ORT_MISSING

        return Check("onnxruntime", FAIL, f"not importable ({exc})", ORT_MISSING, True)
    return Check("onnxruntime", OK, f"{ort.__version__}, providers {', '.join(ort.get_available_providers())}")


def _tensorrt_needed(config: DeviceConfig, board: Board) -> bool:
    return config.model.backend == "tensorrt" or (board.kind == "jetson" and config.model.backend == "auto")


def check_tensorrt(config: DeviceConfig, board: Board) -> Check:
    needed = _tensorrt_needed(config, board)
    if config.model.backend == "onnxruntime":
        return Check("tensorrt", ABSENT, 'model.backend = "onnxruntime": TensorRT is not used')
    try:
        import tensorrt as trt
    except ImportError as exc:
        if not needed:
            return Check("tensorrt", ABSENT, f"not installed ({exc}); only a Jetson or an NVIDIA GPU host has it")
        return Check(
            "tensorrt", FAIL, f"not importable ({exc})", "sudo apt install nvidia-jetpack, then make setup-device", True
        )
    version = str(getattr(trt, "__version__", "?"))
    if not hasattr(trt, "Builder"):
        return Check(
            "tensorrt",
            FAIL if needed else ABSENT,
            "only tensorrt-stubs (type stubs) are importable",
            "install TensorRT",
            needed,
        )
    match = re.match(r"(\d+)\.(\d+)", version)
    major_minor = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if major_minor < (8, 6):
        return Check(
            "tensorrt", FAIL, f"{version}: too old", "emotion-edge supports TensorRT 8.6, 10.x and 11.x", needed
        )
    kind = "strongly typed INT8" if major_minor >= (10, 0) else "weakly typed INT8+FP16"
    note = "; FP16 engines need an FP16 model (11.x removed BuilderFlag.FP16)" if major_minor[0] >= 11 else ""
    return Check(
        "tensorrt", OK, f"{version} from {Path(trt.__file__).parent} (builds {kind} engines{note})", needed=needed
    )


def check_cuda(config: DeviceConfig, board: Board) -> Check:
    needed = _tensorrt_needed(config, board)
    if config.model.backend == "onnxruntime":
        return Check("cuda", ABSENT, 'model.backend = "onnxruntime": CUDA is not used')
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        if not needed:
            return Check("cuda", ABSENT, f"pycuda is not installed ({exc}); only the TensorRT backend uses it")
        return Check(
            "cuda",
            FAIL,
            f"pycuda is not importable ({exc})",
            "make setup-device (builds pycuda with JetPack's nvcc)",
            True,
        )
    try:
        cuda.init()
        count = cuda.Device.count()
        if count == 0:
            return Check(
                "cuda", FAIL, "CUDA initialises but sees no GPU", "check the driver (nvidia-smi / tegrastats)", needed
            )
        device = cuda.Device(0)
        major, minor = device.compute_capability()
        context = device.retain_primary_context()
        context.push()
        try:
            free, total = cuda.mem_get_info()
        finally:
            cuda.Context.pop()
            context.detach()
        driver = cuda.get_driver_version()
    except Exception as exc:  # pycuda's errors derive from Exception only
        return Check(
            "cuda",
            FAIL,
            f"CUDA does not initialise ({type(exc).__name__}: {exc})",
            "the user needs the GPU's device nodes (the video group; see the gpu-nodes line)",
            needed,
        )
    return Check(
        "cuda",
        OK,
        f"{device.name()} (compute {major}.{minor}), driver {driver}, {free >> 20} of {total >> 20} MiB free",
        needed=needed,
    )


def _user_can_open(path: Path, user: str | None) -> bool:
    """Whether ``user`` (None: this process) may open ``path`` for reading and writing."""
    if user is None:
        return os.access(path, os.R_OK | os.W_OK)
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return False
    st = path.stat()
    if entry.pw_uid == 0:
        return True
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    mode = st.st_mode
    if st.st_uid == entry.pw_uid:
        return bool(mode & stat.S_IRUSR and mode & stat.S_IWUSR)
    if st.st_gid in groups:
        return bool(mode & stat.S_IRGRP and mode & stat.S_IWGRP)
    return bool(mode & stat.S_IROTH and mode & stat.S_IWOTH)


def service_user() -> str | None:
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None
    return SERVICE_USER


def check_gpu_nodes(board: Board, dev: Path = Path("/dev"), dropin_dir: Path = DROPIN_DIR) -> Check:
    from edge.service.devices import DROPIN_NAME, gpu_nodes

    nodes = gpu_nodes(dev)
    if not nodes:
        if board.kind != "jetson":
            return Check(
                "gpu-nodes",
                ABSENT,
                "no Jetson GPU device nodes (/dev/nvmap, /dev/nvhost-*, /dev/nvgpu/*): not a Jetson",
            )
        return Check(
            "gpu-nodes",
            FAIL,
            "no GPU device nodes under /dev",
            "is JetPack's GPU driver loaded? (lsmod | grep nvgpu)",
            True,
        )
    user = service_user()
    who = user or "this user"
    closed = [n.path for n in nodes if not _user_can_open(Path(n.path.replace("/dev", str(dev), 1)), user)]
    detail = f"{len(nodes)} nodes ({', '.join(n.path for n in nodes[:4])}{', …' if len(nodes) > 4 else ''})"
    if closed:
        return Check(
            "gpu-nodes",
            FAIL,
            f"{who} cannot open {', '.join(closed)}",
            f"sudo usermod -aG video {user or '$USER'}" + ("" if user else " (then log in again)"),
            board.kind == "jetson",
        )
    dropin = dropin_dir / DROPIN_NAME
    if user is not None and board.kind == "jetson":
        allowed = set(re.findall(r"^DeviceAllow=(\S+) rw$", _read(dropin), re.M))
        missing = [n.path for n in nodes if n.path not in allowed]
        if missing:
            return Check(
                "gpu-nodes",
                FAIL,
                f"{detail}; the service's drop-in {dropin} does not allow {', '.join(missing)}",
                "sudo make install-service (rewrites it from the nodes that exist)",
                True,
            )
        return Check("gpu-nodes", OK, f"{detail}, open to {who} and allowed by {dropin}")
    return Check("gpu-nodes", OK, f"{detail}, open to {who}")


def check_engine_cache(config: DeviceConfig, cuda_ok: bool) -> Check:
    m = config.model
    if m.backend == "onnxruntime":
        return Check("engine", ABSENT, 'model.backend = "onnxruntime": no TensorRT engine')
    from edge.tensorrt.engine_manager import default_engine_path

    model = Path(m.path)
    engine = (
        Path(m.engine)
        if m.engine
        else default_engine_path(model, m.precision, Path(m.engine_dir) if m.engine_dir else None)
    )
    folder = engine.parent
    user = service_user()
    where = f"{folder} ({'the service user ' + user if user else 'this user'})"
    if not cuda_ok:
        state = "present" if engine.is_file() else "not built yet"
        return Check("engine", ABSENT, f"{engine} {state}; it is only used with TensorRT and CUDA (see above)")
    if not folder.is_dir():
        return Check("engine", FAIL, f"{folder} does not exist", f"create it, writable by {user or 'this user'}", True)
    writable = os.access(folder, os.W_OK) if user is None else _user_can_write_dir(folder, user)
    if not engine.is_file():
        if not writable:
            return Check(
                "engine",
                FAIL,
                f"no engine, and {where} cannot write one",
                "set model.engine_dir to a writable folder",
                True,
            )
        return Check("engine", OK, f"{engine} not built yet: the first start builds it (minutes), or `make engine`")
    try:
        from edge.tensorrt.backend import device_facts
        from edge.tensorrt.engine_cache import EngineMismatch, check_engine

        sidecar = check_engine(engine, model, device_facts(), m.precision, config.detector.max_faces)
    except EngineMismatch as exc:
        state = OK if m.rebuild_engine and writable else FAIL
        action = "will be rebuilt on start" if state == OK else "cannot be used"
        return Check(
            "engine",
            state,
            f"{engine} {action}: {'; '.join(exc.reasons)}",
            exc.args[0].split("Rebuild it: ")[-1],
            state == FAIL,
        )
    except Exception as exc:
        return Check("engine", FAIL, f"{engine}: {type(exc).__name__}: {exc}", "delete it so it is rebuilt", True)
    return Check(
        "engine",
        OK,
        f"{engine}: {sidecar.precision}, TensorRT {sidecar.tensorrt_version}, batch 1..{sidecar.max_batch}, matches",
    )


def _user_can_write_dir(folder: Path, user: str) -> bool:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return False
    st = folder.stat()
    if entry.pw_uid == 0 or st.st_uid == entry.pw_uid:
        return bool(st.st_mode & stat.S_IWUSR)
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    if st.st_gid in groups:
        return bool(st.st_mode & stat.S_IWGRP)
    return bool(st.st_mode & stat.S_IWOTH)


def check_broker(config: DeviceConfig, timeout_s: float) -> Check:
    mqtt_config = config.mqtt
    if not mqtt_config.enabled:
        return Check("broker", ABSENT, "[mqtt] enabled = false: nothing is published")
    from edge.mqtt.client.connection import Endpoint, connect, describe_exception, describe_refusal, new_client

    client_id = f"emotion-edge-doctor-{os.getpid()}"
    ep = Endpoint.of(mqtt_config, client_id)
    auth = f"user {mqtt_config.auth.username}" if mqtt_config.auth.username else "no credentials"
    how = f"{ep}, {'TLS' if mqtt_config.tls.enabled else 'plain TCP'}, {auth}"
    answer: dict[str, Any] = {}
    done = threading.Event()
    try:
        client = new_client(mqtt_config, client_id)

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            answer["reason"] = reason
            done.set()

        client.on_connect = on_connect
        connect(client, mqtt_config)
        deadline = time.monotonic() + timeout_s
        while not done.is_set() and time.monotonic() < deadline:
            client.loop(timeout=0.1)
        client.disconnect()
    except Exception as exc:
        failure = describe_exception(exc, ep)
        return Check("broker", FAIL, f"{how}: {failure.message}", "check [mqtt] in the configuration", True)
    if not done.is_set():
        return Check(
            "broker", FAIL, f"{how}: no answer within {timeout_s:.0f} s", "is the broker up and reachable?", True
        )
    reason = answer["reason"]
    if getattr(reason, "is_failure", False):
        return Check(
            "broker", FAIL, f"{how}: {describe_refusal(reason, ep).message}", "check [mqtt.auth] / [mqtt.tls]", True
        )
    return Check("broker", OK, f"{how}: connected")


def check_service() -> Check:
    systemctl = shutil.which("systemctl")
    if systemctl is None or not Path("/run/systemd/system").is_dir():
        return Check("service", ABSENT, "systemd is not running here")
    out = subprocess.run(
        [systemctl, "show", SERVICE, "-p", "LoadState,ActiveState,SubState,Result,StatusText,NRestarts"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    props = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    if props.get("LoadState") != "loaded":
        return Check("service", ABSENT, f"{SERVICE}.service is not installed", "sudo make install-service")
    state = f"{props.get('ActiveState')}/{props.get('SubState')}"
    status = props.get("StatusText", "")
    restarts = props.get("NRestarts", "0")
    detail = f"{state}{', ' + repr(status) if status else ''}, {restarts} restarts, result {props.get('Result')}"
    if props.get("ActiveState") == "failed":
        return Check("service", FAIL, detail, f"journalctl -u {SERVICE} -b", False)
    return Check("service", OK, detail)


# --- running them --------------------------------------------------------------------------------


def run_checks(
    config: DeviceConfig,
    camera: bool = True,
    camera_timeout_s: float = 10.0,
    broker_timeout_s: float = 5.0,
    board: Board | None = None,
) -> list[Check]:
    board = board or detect_board()
    checks: list[Check] = [check_board(board), check_python()]
    # One camera: the check is "camera"; several ([cameras.NAME]): "camera NAME" for each, one by one
    # (each opens its own source, as the device will).
    cameras = config.camera_configs()
    several = len(cameras) > 1

    def camera_step(name: str) -> Callable[[], Check]:
        if not camera:
            return lambda: _named(Check("camera", ABSENT, "skipped (--no-camera)"), name, several)
        return lambda: _named(check_camera(config.for_camera(name), camera_timeout_s), name, several)

    camera_steps = [camera_step(name) for name in cameras]
    steps: list[Callable[[], Check]] = [
        lambda: check_opencv(config, board),
        *camera_steps,
        lambda: check_detector(config),
        lambda: check_detector_backend(config),
        lambda: check_model(config),
        check_onnxruntime,
        lambda: check_tensorrt(config, board),
        lambda: check_cuda(config, board),
        lambda: check_gpu_nodes(board),
    ]
    for step in steps:
        checks.append(_guarded(step))
    cuda_ok = any(c.name == "cuda" and c.status == OK for c in checks) and any(
        c.name == "tensorrt" and c.status == OK for c in checks
    )
    checks.append(_guarded(lambda: check_engine_cache(config, cuda_ok)))
    checks.append(_guarded(lambda: check_broker(config, broker_timeout_s)))
    checks.append(_guarded(check_service))
    for check in checks:
        if check.status == OK:
            check.needed = _needed(check.name, config, board)
    return checks


ALWAYS_NEEDED = frozenset({"python", "opencv", "camera", "detector", "yunet", "model", "onnxruntime", "broker"})
TENSORRT_PARTS = frozenset({"tensorrt", "cuda", "gpu-nodes", "engine"})


def _needed(name: str, config: DeviceConfig, board: Board) -> bool:
    """Whether the device needs this check to pass, whatever its outcome here: ``needed`` says what
    the check is for, not whether it failed (a failed check sets it itself, from what it found)."""
    name = name.split(" ", 1)[0]  # "camera door" is a camera check
    return name in ALWAYS_NEEDED or (name in TENSORRT_PARTS and _tensorrt_needed(config, board))


def _named(check: Check, camera: str, several: bool) -> Check:
    """A camera's check, named after the camera when the device has several."""
    if several:
        check.name = f"camera {camera}"
    return check


def _guarded(step: Callable[[], Check]) -> Check:
    try:
        return step()
    except Exception as exc:  # a check that breaks is a failed check, never a traceback
        name = getattr(step, "__name__", "check").removeprefix("check_")
        return Check(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}", "run with -v", True)


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == FAIL and c.needed]


def add_doctor(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor", help="check this device: board, camera, model, TensorRT, CUDA, GPU nodes, broker, service"
    )
    p.add_argument(
        "--config", type=Path, help="the configuration to check (default: $EMOTION_EDGE_CONFIG, else defaults)"
    )
    p.add_argument("--source", help=f"{SOURCE_HELP} (the one to check)")
    p.add_argument("--no-camera", action="store_true", help="do not open the camera (the service may hold it)")
    p.add_argument("--camera-timeout", type=float, default=10.0, help="seconds to wait for a frame (default 10)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=cmd_doctor)


SERVICE_CREDENTIALS = "/run/credentials/emotion-edge.service/"
ROOT_PASSWORD_FILE = Path("/etc/emotion-edge/mqtt-password")


def doctor_config(path: Path | None, source: str | None = None) -> DeviceConfig:
    """The configuration as the service loads it. Its MQTT password file is usually the copy systemd
    hands the service alone (LoadCredential=, under /run/credentials/), which exists only inside the
    service: from a shell the broker check reads the original, /etc/emotion-edge/mqtt-password
    (root only: run doctor with sudo)."""
    from edge.config import load_config
    from edge.fields import ConfigError

    overrides: dict[str, dict[str, Any]] = {"source": {"uri": source}}
    try:
        return load_config(path, overrides=overrides)
    except ConfigError as exc:
        if SERVICE_CREDENTIALS not in str(exc):
            raise
        if not os.access(ROOT_PASSWORD_FILE, os.R_OK):
            raise ConfigError(
                f"{exc}; outside the service that copy does not exist: run doctor with sudo, so it can read "
                f"{ROOT_PASSWORD_FILE} instead"
            ) from exc
        overrides["mqtt"] = {"auth": {"password_file": str(ROOT_PASSWORD_FILE)}}
        return load_config(path, overrides=overrides)


def cmd_doctor(args: argparse.Namespace) -> int:
    from edge.service.cli import config_path

    config = doctor_config(config_path(args), args.source)
    checks = run_checks(config, camera=not args.no_camera, camera_timeout_s=args.camera_timeout)
    bad = failed(checks)
    if args.json:
        print(json.dumps({"ok": not bad, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for check in checks:
            print(check.line())
        print(f"{len(bad)} needed check{'s' if len(bad) != 1 else ''} failed" if bad else "all needed checks pass")
    return 1 if bad else 0
