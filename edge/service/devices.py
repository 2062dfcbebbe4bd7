"""The Jetson GPU's device nodes, and the systemd drop-in that lets the service reach them.

``DevicePolicy=closed`` with ``DeviceAllow=char-NAME`` entries cannot cover a Jetson's GPU: a
``char-NAME`` entry matches the *group* names listed in ``/proc/devices``, not node names, and the
GPU's nodes (``/dev/nvhost-*``, ``/dev/nvgpu/igpu0/*``) sit under platform names such as
``17000000.gpu``, while ``/dev/nvmap`` is a ``misc`` device (allowing ``char-misc`` would allow every
misc device). So the installer lists the nodes that exist on this Jetson, by path, in a drop-in
(``/etc/systemd/system/emotion-edge.service.d/jetson-gpu.conf``); systemd resolves each path to its
major:minor when the service starts. Stdlib only: ``systemd/jetson_devices.py`` runs it from a
checkout, ``emotion-edge doctor`` uses the same list.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

# Relative to /dev. nvgpu (Orin and earlier, JetPack 5 and 6): /dev/nvmap, /dev/nvhost-* and, from
# L4T r35, /dev/nvgpu/igpu0/*; host1x syncpoint fences (r36); NVIDIA's OpenRM driver (Thor, JetPack 7)
# uses /dev/nvidia*; NvSci IPC, used by CUDA's interop paths.
GPU_PATTERNS = ("nvmap", "nvhost-*", "nvgpu/*/*", "host1x-fence", "nvidia*", "nvsciipc")
DROPIN_NAME = "jetson-gpu.conf"


@dataclass(frozen=True)
class Node:
    path: str  # as the service sees it: /dev/...
    major: int
    minor: int
    group: str  # the name /proc/devices gives its major ("misc", "17000000.gpu", ...)


def proc_device_groups(proc_devices: Path) -> dict[int, str]:
    """Major number -> group name, for the character devices in ``/proc/devices``."""
    groups: dict[int, str] = {}
    try:
        text = proc_devices.read_text()
    except OSError:
        return groups
    in_char = False
    for line in text.splitlines():
        if line.startswith("Character devices"):
            in_char = True
            continue
        if line.startswith("Block devices"):
            in_char = False
            continue
        parts = line.split(None, 1)
        if in_char and len(parts) == 2 and parts[0].isdigit():
            groups.setdefault(int(parts[0]), parts[1].strip())
    return groups


def gpu_nodes(
    dev: Path = Path("/dev"), proc_devices: Path = Path("/proc/devices"), any_file: bool = False
) -> list[Node]:
    """The Jetson GPU's character device nodes under ``dev`` (``any_file``: accept plain files, for
    made-up trees where device nodes cannot be created)."""
    groups = proc_device_groups(proc_devices)
    found: dict[str, Node] = {}
    for pattern in GPU_PATTERNS:
        for path in sorted(dev.glob(pattern)):
            try:
                st = path.stat()
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode):
                major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
            elif any_file and stat.S_ISREG(st.st_mode):
                major = minor = -1
            else:
                continue
            shown = "/dev/" + path.relative_to(dev).as_posix()
            found[shown] = Node(shown, major, minor, groups.get(major, "?"))
    return sorted(found.values(), key=lambda n: n.path)


def dropin(nodes: list[Node], origin: str = "") -> str:
    """The ``[Service]`` drop-in allowing exactly these nodes (paths; systemd allows no comment after
    a value, so each node's note is the line above it)."""
    lines = [
        "# The Jetson GPU's device nodes, allowed by path: written by emotion-edge's installer",
        f"# (systemd/jetson_devices.py){' ' + origin if origin else ''} from the nodes that exist. A char-NAME",
        "# entry would not do: it matches group names in /proc/devices, and the GPU's groups are platform",
        "# names such as 17000000.gpu (/dev/nvmap is a misc device). After a JetPack upgrade run",
        "# `sudo make install-service` again to rewrite it.",
        "[Service]",
    ]
    for node in nodes:
        if node.major >= 0:
            lines.append(f"# {node.path}: char {node.major}:{node.minor}, group {node.group!r} in /proc/devices")
        lines.append(f"DeviceAllow={node.path} rw")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="jetson_devices.py", description="Write the systemd drop-in allowing this Jetson's GPU device nodes."
    )
    p.add_argument("--dev", type=Path, default=Path("/dev"), help="the device tree (default /dev)")
    p.add_argument("--proc-devices", type=Path, default=Path("/proc/devices"))
    p.add_argument("--out", type=Path, help="write the drop-in here (default: print it)")
    p.add_argument("--any-file", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    nodes = gpu_nodes(args.dev, args.proc_devices, args.any_file)
    if not nodes:
        print(
            f"jetson_devices: no Jetson GPU device node under {args.dev} ({', '.join(GPU_PATTERNS)}): "
            "is this a Jetson with JetPack's GPU driver loaded?",
            file=sys.stderr,
        )
        return 1
    text = dropin(nodes)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        print(f"jetson_devices: {args.out}: {len(nodes)} GPU device nodes allowed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
