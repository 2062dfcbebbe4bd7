"""The Jetson GPU drop-in, generated from the device nodes that exist (made-up /dev and
/proc/devices trees of an Orin on JetPack 6, a Xavier on JetPack 5 and a Thor on JetPack 7)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge.service.devices import dropin, gpu_nodes, proc_device_groups

ROOT = Path(__file__).resolve().parents[3]

ORIN_JP6 = {  # node: (major, minor)
    "nvmap": (10, 121),
    "nvhost-ctrl-gpu": (508, 1),
    "nvhost-gpu": (508, 2),
    "nvhost-as-gpu": (508, 3),
    "host1x-fence": (235, 0),
    "nvgpu/igpu0/ctrl": (507, 0),
    "nvgpu/igpu0/as": (507, 1),
    "nvgpu/igpu0/channel": (507, 2),
    "video0": (81, 0),  # a camera: not the drop-in's business (the unit allows char-video4linux)
    "null": (1, 3),
}
ORIN_PROC = """Character devices:
  1 mem
 10 misc
 81 video4linux
235 host1x-fence
507 17000000.gpu
508 17000000.gpu

Block devices:
  7 loop
259 blkext
"""
XAVIER_JP5 = {"nvmap": (10, 121), "nvhost-ctrl": (235, 0), "nvhost-gpu": (493, 0), "nvhost-vic": (236, 0)}
THOR_JP7 = {"nvidia0": (195, 0), "nvidiactl": (195, 255), "nvidia-uvm": (511, 0), "nvmap": (10, 121)}


def make_tree(tmp_path: Path, nodes: dict[str, tuple[int, int]], proc: str = ORIN_PROC) -> tuple[Path, Path, bool]:
    """Character device nodes where this user may make them (root), plain files otherwise."""
    dev = tmp_path / "dev"
    real = True
    for name, (major, minor) in nodes.items():
        path = dev / name
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mknod(path, stat.S_IFCHR | 0o660, os.makedev(major, minor))
        except PermissionError:
            real = False
            path.write_text("")
    (tmp_path / "devices").write_text(proc)
    return dev, tmp_path / "devices", real


def test_proc_devices_groups_are_character_devices_only(tmp_path: Path) -> None:
    (tmp_path / "devices").write_text(ORIN_PROC)
    groups = proc_device_groups(tmp_path / "devices")
    assert groups[507] == "17000000.gpu" and groups[10] == "misc"
    assert 259 not in groups  # a block device
    assert proc_device_groups(tmp_path / "absent") == {}


def test_the_orin_dropin_lists_the_gpu_nodes_by_path(tmp_path: Path) -> None:
    dev, proc, real = make_tree(tmp_path, ORIN_JP6)
    nodes = gpu_nodes(dev, proc, any_file=not real)
    assert [n.path for n in nodes] == [
        "/dev/host1x-fence",
        "/dev/nvgpu/igpu0/as",
        "/dev/nvgpu/igpu0/channel",
        "/dev/nvgpu/igpu0/ctrl",
        "/dev/nvhost-as-gpu",
        "/dev/nvhost-ctrl-gpu",
        "/dev/nvhost-gpu",
        "/dev/nvmap",
    ]
    text = dropin(nodes)
    allows = [line for line in text.splitlines() if line.startswith("DeviceAllow=")]
    assert allows == [f"DeviceAllow={n.path} rw" for n in nodes]
    assert not any("*" in line or "char-" in line for line in allows)  # paths, never globs or groups
    assert text.splitlines()[5] == "[Service]"
    # systemd takes no comment after a value: every note is a line of its own.
    assert all(line.startswith(("#", "[", "DeviceAllow=")) for line in text.splitlines())
    if real:
        assert "# /dev/nvgpu/igpu0/ctrl: char 507:0, group '17000000.gpu' in /proc/devices" in text
        assert "# /dev/nvmap: char 10:121, group 'misc' in /proc/devices" in text


def test_plain_files_are_not_device_nodes(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "nvmap").write_text("not a device")
    assert gpu_nodes(tmp_path / "dev", tmp_path / "devices") == []


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        (XAVIER_JP5, ["/dev/nvhost-ctrl", "/dev/nvhost-gpu", "/dev/nvhost-vic", "/dev/nvmap"]),
        (THOR_JP7, ["/dev/nvidia-uvm", "/dev/nvidia0", "/dev/nvidiactl", "/dev/nvmap"]),
    ],
)
def test_other_jetsons(tmp_path: Path, nodes: dict[str, tuple[int, int]], expected: list[str]) -> None:
    dev, proc, real = make_tree(tmp_path, nodes)
    assert [n.path for n in gpu_nodes(dev, proc, any_file=not real)] == expected


def test_the_script_writes_the_dropin_and_fails_where_there_is_no_jetson_gpu(tmp_path: Path) -> None:
    dev, proc, real = make_tree(tmp_path, ORIN_JP6)
    out = tmp_path / "jetson-gpu.conf"
    cmd = [sys.executable, str(ROOT / "systemd" / "jetson_devices.py"), "--dev", str(dev), "--proc-devices", str(proc)]
    done = subprocess.run([*cmd, "--out", str(out), *([] if real else ["--any-file"])], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "8 GPU device nodes allowed" in done.stderr
    assert out.read_text().count("DeviceAllow=") == 8
    empty = tmp_path / "empty"
    empty.mkdir()
    none = subprocess.run([*cmd[:2], "--dev", str(empty)], capture_output=True, text=True)
    assert none.returncode == 1 and "no Jetson GPU device node" in none.stderr
