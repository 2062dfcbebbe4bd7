"""What `make setup-device` would install from PyPI on JetPack 6 (Ubuntu 22.04: Python 3.10, glibc
2.35, aarch64), resolved here with pip's own resolver, as `pip download --only-binary=:all:
--platform ... --python-version 3.10` does.

The glibc tags matter: pip does not widen an explicit ``--platform manylinux_2_35_aarch64`` to the
older glibc levels a real 2.35 system accepts, so with only ``manylinux2014_aarch64`` (glibc 2.17)
pip silently falls back to the last release built for it (onnxruntime 1.16, where 1.17 on is
``manylinux_2_27/2_28``). Every level from 2.17 to the target's is listed, as pip on the Jetson
itself would accept.

Markers (``tomli; python_version < '3.11'``) are evaluated by the interpreter pip runs in, so the
resolution runs in a Python 3.10 when one is found (PATH or pyenv), else in this Python with a note.
This machine's own pip configuration (local wheel folders, constraints) is left out: the index is
PIP_INDEX_URL or PyPI, as on the device. pycuda (the jetson extra) has no aarch64 wheel: setup-device
compiles it against JetPack's CUDA, so it is not part of a binary-only resolution.

    python3 tools/jetpack_resolve.py [--json FILE]      # prints the resolved set; rc 0 when it resolves
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = (3, 10)
GLIBC = (2, 35)
OS = "Ubuntu 22.04 (Jetson Linux r36)"
# What setup-device installs on a Jetson, less pycuda (compiled there): its extras and its constraint.
EXTRAS = "onnxruntime,demo"
# JetPack's TensorRT and OpenCV are built against NumPy 1.x; OpenCV's wheels from 4.12 on need NumPy 2
# (setup-device.sh writes the same constraints).
CONSTRAINTS = ["numpy<2", "opencv-python-headless<4.12"]
# pip settings of this machine that would not exist on a device (local wheel folders, caps).
LOCAL_PIP_SETTINGS = ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT", "PIP_NO_INDEX", "PIP_REQUIREMENT")
NETWORK_ERRORS = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ReadTimeoutError",
)


class Unreachable(RuntimeError):
    """The package index could not be reached: nothing can be said about the resolution."""


def platform_tags(glibc: tuple[int, int] = GLIBC, arch: str = "aarch64") -> list[str]:
    """Every manylinux tag a system with this glibc accepts, newest first (PEP 600, and PEP 599's
    manylinux2014 alias of 2.17)."""
    major, minor = glibc
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 16, -1)]
    return [*tags, f"manylinux2014_{arch}"]


def find_python(version: tuple[int, int]) -> str | None:
    """A Python of exactly this version: PATH, pyenv's versions, /usr/bin."""
    name = f"python{version[0]}.{version[1]}"
    candidates = [
        shutil.which(name),
        *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version[0]}.{version[1]}*/bin/{name}"))),
        f"/usr/bin/{name}",
    ]
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        check = subprocess.run(
            [candidate, "-c", f"import sys, pip; sys.exit(sys.version_info[:2] != {version!r})"], capture_output=True
        )
        if check.returncode == 0:
            return candidate
    return None


def requirements(pyproject: Path, extras: str) -> list[str]:
    """The project's dependencies and those of the extras, as pyproject.toml states them (the project
    itself is not built: its build backend would be fetched and run just to say the same)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in filter(None, extras.split(",")):
        reqs += project["optional-dependencies"][extra]
    return reqs


def pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LOCAL_PIP_SETTINGS}
    env["PIP_CONFIG_FILE"] = os.devnull  # no /etc/pip.conf, /etc/xdg/pip, ~/.config/pip
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def resolve(
    python: str | None = None, project: Path = ROOT, extras: str = EXTRAS, timeout_s: float = 1200
) -> dict[str, Any]:
    """The resolved set for JetPack 6: {"python", "markers", "platforms", "packages": [{name, version,
    wheel}]}. Raises Unreachable when the index cannot be reached, RuntimeError when it does not resolve."""
    target = PYTHON
    interpreter = python or find_python(target) or sys.executable
    platforms = platform_tags()
    with tempfile.TemporaryDirectory(prefix="jetpack-resolve-") as tmp:
        env = pip_env()
        pip_version = _pip_version(interpreter)
        newer = _newer_pip_here(pip_version)
        if newer is not None:
            # An older pip downloads every wheel to read its requirements (onnxruntime and numpy alone
            # are 30 MB); a current one reads the index's metadata files. pip is pure Python: this
            # Python's pip runs in the target interpreter, which still evaluates the markers.
            (Path(tmp) / "pip").symlink_to(newer)
            env["PYTHONPATH"] = tmp
            pip_version = _pip_version(interpreter, env)
        report = Path(tmp) / "report.json"
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(CONSTRAINTS) + "\n")
        cmd = [
            interpreter,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
            "--target",
            str(Path(tmp) / "target"),  # older pips want one with --platform; --dry-run writes nothing
            "--only-binary=:all:",
            "--python-version",
            f"{target[0]}.{target[1]}",
            "--implementation",
            "cp",
            "--abi",
            f"cp{target[0]}{target[1]}",
            "-c",
            str(constraints),
        ]
        for tag in platforms:
            cmd += ["--platform", tag]
        cmd += requirements(project / "pyproject.toml", extras)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"pip did not finish resolving in {timeout_s:.0f} s (a slow index or a busy machine)"
            ) from None
        if done.returncode != 0:
            text = done.stderr + done.stdout
            if any(e in text for e in NETWORK_ERRORS):
                raise Unreachable(f"the package index is unreachable: {_last_line(text)}")
            raise RuntimeError(f"no binary-only resolution for JetPack 6: {_last_line(text)}")
        data = json.loads(report.read_text())
    packages = []
    for item in data["install"]:
        meta = item["metadata"]
        url = item["download_info"]["url"]
        packages.append({"name": meta["name"], "version": meta["version"], "wheel": url.rsplit("/", 1)[-1]})
    markers = data.get("environment", {})
    return {
        "target": {
            "python": f"{target[0]}.{target[1]}",
            "glibc": f"{GLIBC[0]}.{GLIBC[1]}",
            "arch": "aarch64",
            "os": OS,
        },
        "resolved_with": {
            "python": markers.get("python_full_version"),
            "pip": pip_version,
            "markers_python": markers.get("python_version"),
            "markers_machine": markers.get("platform_machine"),
        },
        "extras": extras,
        "constraints": CONSTRAINTS,
        "platforms": platforms,
        "left_out": {"pycuda": "no aarch64 wheel: setup-device compiles it against JetPack's CUDA"},
        "packages": sorted(packages, key=lambda p: p["name"].lower()),
    }


def wheel_fits(wheel: str, glibc: tuple[int, int], arch: str = "aarch64") -> bool:
    """Whether a wheel's platform tags include one this system accepts (a pure-Python wheel does)."""
    plat = wheel[:-4].split("-")[-1]
    for tag in plat.split("."):
        if tag == "any":
            return True
        if tag == f"manylinux2014_{arch}":
            return True
        m = re.fullmatch(rf"manylinux_(\d+)_(\d+)_{arch}", tag)
        if m and (int(m[1]), int(m[2])) <= glibc:
            return True
    return False


def _pip_version(python: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True, env=env or pip_env())
    return done.stdout.split()[1] if done.returncode == 0 and done.stdout else "unknown"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def _newer_pip_here(than: str) -> Path | None:
    """This Python's pip package folder, when it is newer than the target interpreter's pip."""
    try:
        import pip
    except ImportError:
        return None
    if than != "unknown" and _version_key(pip.__version__) <= _version_key(than):
        return None
    return Path(pip.__file__).resolve().parent


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="jetpack_resolve.py")
    parser.add_argument("--json", type=Path, help="write the resolved set here too")
    parser.add_argument("--python", help="the Python 3.10 to resolve with (default: found)")
    args = parser.parse_args(argv)
    try:
        result = resolve(args.python)
    except (Unreachable, RuntimeError) as exc:
        print(f"jetpack-resolve: {exc}", file=sys.stderr)
        return 2
    used, target = result["resolved_with"], result["target"]
    print(
        f"JetPack 6 ({target['os']}, Python {target['python']}, glibc {target['glibc']}): [{result['extras']}] "
        f"with {', '.join(result['constraints'])}; resolved by pip {used['pip']} on Python {used['python']}"
    )
    for p in result["packages"]:
        print(f"  {p['name']:<24} {p['version']:<12} {p['wheel']}")
    if used["markers_python"] != result["target"]["python"]:
        print(f"  note: markers evaluated for Python {used['markers_python']} (no Python 3.10 found here)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
