"""``emotion-edge doctor`` on this machine, for real: a camera (a real clip), the shipped model, the
YuNet file, ONNX Runtime, a real broker; the Jetson parts, which cannot apply here, say "absent"
and why. Board detection and the GPU-node check also run on made-up Jetson trees."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.service.doctor import (
    ABSENT,
    FAIL,
    OK,
    Board,
    check_detector_backend,
    check_gpu_nodes,
    detect_board,
    l4t_release,
)
from tests.edge.mqtt.broker import Broker

ROOT = Path(__file__).resolve().parents[3]


def write_config(tmp_path: Path, clip: Path, yunet: Path, model: Path, port: int) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[source]\nuri = "{clip}"\n\n[detector]\nmodel = "{yunet}"\n\n[model]\npath = "{model}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nconnect_timeout_s = 3\n'
    )
    return config


def doctor(config: Path, *extra: str, cwd: Path = ROOT) -> tuple[int, dict[str, dict[str, object]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOTION_EDGE_")}
    out = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "doctor", "--config", str(config), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )
    report = json.loads(out.stdout)
    assert report["ok"] == (out.returncode == 0), out.stderr
    return out.returncode, {c["name"]: c for c in report["checks"]}


def test_doctor_on_this_machine(
    tmp_path: Path,
    broker: Broker,
    numbered_clip: Callable[[int], Path],
    yunet_model: Path,
    shipped_model: Path,
) -> None:
    config = write_config(tmp_path, numbered_clip(10), yunet_model, shipped_model, broker.port)
    code, checks = doctor(config)
    assert code == 0, [c for c in checks.values() if c["status"] == FAIL]
    for name in ("board", "python", "opencv", "camera", "yunet", "model", "onnxruntime", "broker"):
        assert checks[name]["status"] == OK, checks[name]
    assert "a 160x120 frame" in str(checks["camera"]["detail"])
    assert "the official file" in str(checks["yunet"]["detail"]) or "loads as YuNet" in str(checks["yunet"]["detail"])
    assert "7 classes" in str(checks["model"]["detail"])
    assert "connected" in str(checks["broker"]["detail"])
    if detect_board().kind != "jetson":
        # What cannot apply here says so, and why.
        assert checks["gpu-nodes"]["status"] == ABSENT and "not a Jetson" in str(checks["gpu-nodes"]["detail"])
        for name in ("tensorrt", "cuda", "engine"):
            if checks[name]["status"] == ABSENT:
                assert checks[name]["detail"], name
    assert checks["service"]["status"] in (OK, ABSENT)
    # `needed` says what the device needs to pass, for the checks that passed too.
    for name in ("python", "opencv", "camera", "yunet", "model", "onnxruntime", "broker"):
        assert checks[name]["needed"] is True, checks[name]
    assert checks["board"]["needed"] is False


def test_doctor_finds_the_face_detector_where_run_demo_and_bench_find_it(
    tmp_path: Path, broker: Broker, numbered_clip: Callable[[int], Path], yunet_model: Path, shipped_model: Path
) -> None:
    # The configured file is absent, as in the reference config on a checkout; `run` then takes
    # models/, else ../shared/models/ beside the checkout (edge.paths.locate_detector).
    absent = tmp_path / "models" / "face_detection_yunet.onnx"
    config = write_config(tmp_path, numbered_clip(10), absent, shipped_model, broker.port)
    code, checks = doctor(config, "--no-camera")
    assert code == 0, [c for c in checks.values() if c["status"] == FAIL]
    yunet = checks["yunet"]
    assert yunet["status"] == OK and yunet["needed"] is True, yunet
    assert "face_detection_yunet.onnx" in str(yunet["detail"]) and f"{absent} is absent" in str(yunet["detail"])


def test_a_needed_check_that_fails_sets_the_exit_status(
    tmp_path: Path, numbered_clip: Callable[[int], Path], shipped_model: Path
) -> None:
    from tests.ports import free_port

    config = write_config(tmp_path, numbered_clip(10), tmp_path / "no-yunet.onnx", shipped_model, free_port())
    # From a folder with no models/ and no ../shared: YuNet is nowhere to be found.
    code, checks = doctor(config, "--no-camera", cwd=tmp_path)
    assert code == 1
    assert checks["yunet"]["status"] == FAIL and "emotion-edge models fetch" in str(checks["yunet"]["fix"])
    assert checks["broker"]["status"] == FAIL and checks["broker"]["needed"]
    assert checks["camera"]["status"] == ABSENT


def test_the_text_output_is_one_line_per_check(
    tmp_path: Path, numbered_clip: Callable[[int], Path], shipped_model: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[source]\nuri = "{numbered_clip(5)}"\n[detector]\nkind = "haar"\n[model]\npath = "{shipped_model}"\n'
        "[mqtt]\nenabled = false\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "doctor", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    lines = out.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == [
        "board", "python", "opencv", "camera", "yunet", "detector", "model", "onnxruntime",
        "tensorrt", "cuda", "gpu-nodes", "engine", "broker", "service",
    ]  # fmt: skip
    assert lines[-1] == "all needed checks pass" and out.returncode == 0
    assert any(line.startswith("absent ") and "[mqtt] enabled = false" in line for line in lines)


@pytest.mark.shared
def test_doctor_says_which_backend_the_detector_runs_on_and_why(device_config) -> None:  # type: ignore[no-untyped-def]
    default = check_detector_backend(device_config())
    assert default.status == OK and default.detail.startswith(
        "opencv; detector.kind = 'yunet': OpenCV's FaceDetectorYN"
    )
    ours = check_detector_backend(device_config(detector={"kind": "yunet-onnxruntime"}))
    assert ours.status == OK and ours.detail.startswith(
        "onnxruntime; detector.kind = 'yunet-onnxruntime': ONNX Runtime"
    )
    auto = check_detector_backend(device_config(detector={"kind": "yunet-auto"}))
    assert auto.status == OK and auto.detail.startswith("opencv; detector.kind = 'yunet-auto': TensorRT not used (")
    assert "TensorRT is not installed" in auto.detail  # this machine has none
    gpu = check_detector_backend(device_config(detector={"kind": "yunet-tensorrt"}))
    assert gpu.status == FAIL and gpu.needed and "TensorRT cannot run here: TensorRT is not installed" in gpu.detail
    assert "make setup-device" in gpu.fix


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64", "L4T R36.4.3 (JetPack 6)"),
        ("# R35 (release), REVISION: 5.0, GCID: 35550185, BOARD: t186ref", "L4T R35.5.0 (JetPack 5)"),
        ("garbled", "L4T release unknown"),
    ],
)
def test_jetson_releases(release: str, expected: str) -> None:
    assert l4t_release(release) == expected


def test_boards_from_made_up_trees(tmp_path: Path) -> None:
    jetson = tmp_path / "jetson"
    (jetson / "etc").mkdir(parents=True)
    (jetson / "proc/device-tree").mkdir(parents=True)
    (jetson / "etc/nv_tegra_release").write_text("# R36 (release), REVISION: 3.0, GCID: 36923193\n")
    (jetson / "proc/device-tree/model").write_text("NVIDIA Jetson Orin Nano Developer Kit\0")
    assert detect_board(jetson) == Board("jetson", "NVIDIA Jetson Orin Nano Developer Kit", "L4T R36.3.0 (JetPack 6)")
    pi = tmp_path / "pi"
    (pi / "proc/device-tree").mkdir(parents=True)
    (pi / "proc/device-tree/model").write_text("Raspberry Pi 5 Model B Rev 1.0\0")
    assert detect_board(pi).kind == "pi" and detect_board(pi).model == "Raspberry Pi 5 Model B Rev 1.0"


def test_gpu_nodes_on_a_made_up_jetson(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    (dev / "nvgpu/igpu0").mkdir(parents=True)
    try:
        for name, minor in (("nvmap", 1), ("nvhost-gpu", 2), ("nvgpu/igpu0/ctrl", 3)):
            os.mknod(dev / name, stat.S_IFCHR | 0o660, os.makedev(10, minor))
    except PermissionError:
        pytest.skip("making device nodes needs root")
    jetson = Board("jetson", "Orin", "L4T R36.3.0 (JetPack 6)")
    check = check_gpu_nodes(jetson, dev, tmp_path / "dropins")
    assert check.status == OK and "3 nodes" in check.detail
    assert check_gpu_nodes(jetson, tmp_path / "empty", tmp_path).status == FAIL
    assert check_gpu_nodes(Board("pi", "Pi 5", ""), tmp_path / "empty", tmp_path).status == ABSENT


def test_the_services_credential_path_is_read_from_its_original_outside_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge.fields import ConfigError
    from edge.service import doctor

    config = tmp_path / "config.toml"
    config.write_text(
        '[mqtt.auth]\nusername = "kitchen"\npassword_file = "/run/credentials/emotion-edge.service/mqtt-password"\n'
    )
    original = tmp_path / "mqtt-password"
    monkeypatch.setattr(doctor, "ROOT_PASSWORD_FILE", original)
    with pytest.raises(ConfigError, match=r"run doctor with sudo"):
        doctor.doctor_config(config)
    original.write_text("secret\n")
    loaded = doctor.doctor_config(config, "/dev/video3")
    assert loaded.mqtt.auth.password_file == original and loaded.mqtt.auth.username == "kitchen"
    assert loaded.mqtt.auth.password() == "secret" and loaded.source.uri == "/dev/video3"


def test_doctor_checks_each_camera_of_a_several_camera_device_by_name(
    tmp_path: Path, broker: Broker, numbered_clip: Callable[[int], Path], yunet_model: Path, shipped_model: Path
) -> None:
    config = write_config(tmp_path, numbered_clip(10), yunet_model, shipped_model, broker.port)
    text = config.read_text().replace("[source]\n", "[cameras.door.source]\n")
    config.write_text(text + f'\n[cameras.desk.source]\nuri = "{tmp_path / "unplugged.avi"}"\n')
    code, checks = doctor(config)
    assert checks["camera door"]["status"] == OK and "a 160x120 frame" in str(checks["camera door"]["detail"])
    desk = checks["camera desk"]
    assert desk["status"] == FAIL and desk["needed"] is True and "unplugged.avi" in str(desk["detail"])
    assert "camera" not in checks  # each camera by its name
    assert code == 1  # a needed camera that fails fails the device
