"""`make arm64-check`: the device part installed and run on arm64, under emulation, as a Raspberry Pi
(or any arm64 Debian) user would: one JSON report (runs/arm64-check.json).

Every board this project is flashed to is arm64. On an x86 host Debian's qemu-user-static runs arm64
programs through binfmt_misc; debootstrap makes an arm64 Debian 12 root (Python 3.11, glibc 2.36: what
Raspberry Pi OS bookworm has), cached outside the checkout and reused. In it, a clean clone of this
repository's HEAD is installed with the README's own steps (apt line, `make setup-device`), then
`emotion-edge doctor`, `emotion-edge demo` on a few frames and the device tests run there. JetPack 6's
Python 3.10 cannot run here: its install is resolved with pip instead (tools/jetpack_resolve.py).

What emulation proves: the wheels exist and install, the code runs and behaves on arm64. Not speed
(floating point runs 100-250 times slower, integer code about 30): tests that need real-time speed
carry the ``realtime`` marker and are left out, each listed in the report with its reason. Nor
TensorRT, the CSI camera or a board's devices: they need the board.

Runs as root (chroot, mounts); the mounts it makes are undone on exit, failure and Ctrl+C included.
Settings: --root (ARM64_ROOT, default ~/.cache/emotion-edge/arm64-root), --platform (pi: the Pi
guide's venv with system site-packages and NumPy<2; linux: a plain venv), --tests, -k, --frames.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetpack_resolve  # noqa: E402  (a sibling script, not a package)

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
HOST_TOOLS = {
    "qemu-aarch64-static": "qemu-user-static",
    "update-binfmts": "binfmt-support",
    "debootstrap": "debootstrap",
}
# The README's apt lines (the Pi guide's and the "any Linux box" one) as far as Debian has them:
# python3-picamera2 comes from Raspberry Pi's own archive (so the venv's NumPy is pip's, below 2).
# mosquitto: the broker the tests prefer; make: `make setup-device`.
APT_PACKAGES = ["python3-venv", "git", "mosquitto-clients", "v4l-utils", "mosquitto", "make", "ca-certificates"]
# The tests' tools from the dev extra (and onnx, from the train extra: the tests forge broken models
# with it); ruff, mypy and selenium check the source or drive a browser, not the device, and are left
# out. Without onnx and jinja2 the first full run skipped 32 device tests.
TEST_TOOLS = ("pytest", "pytest-timeout", "jsonschema", "amqtt", "jinja2", "onnx")
DEFAULT_TESTS = ["tests/edge", "tests/test_setup_device.py"]
# Where the clone lives in the root; ../shared beside it holds the photos and YuNet the tests use.
WORK = "/opt/emotion-edge"
# A Raspberry Pi 5's four Cortex-A76 cores as the kernel shows them. qemu-user passes the host's x86
# /proc/cpuinfo through, and onnxruntime's cpuinfo parser crashes on it (SIGSEGV at import).
CPUINFO_A76 = "".join(
    f"processor\t: {n}\nBogoMIPS\t: 108.00\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n"
    for n in range(4)
)
CHROOT_ENV = {
    "HOME": "/root",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_DEFAULT_TIMEOUT": "120",
    # pip's bytecode compilation (--compile, its default) is most of an emulated install's CPU (sympy,
    # scipy: thousands of files) and says nothing about arm64: modules compile on first import instead.
    "PIP_COMPILE": "0",
}


def say(msg: str) -> None:
    print(f"arm64-check: {msg}", flush=True)


class Failed(Exception):
    """A step that stops the check, with what to do about it."""


class Mounts:
    """The mounts made inside the root, undone in reverse order (lazily when something still holds one)."""

    def __init__(self) -> None:
        self.made: list[Path] = []

    def mount(self, *args: str, target: Path) -> None:
        run_host(["mount", *args, str(target)])
        self.made.append(target)

    def undo(self) -> list[str]:
        left = []
        while self.made:
            target = self.made.pop()
            if (
                subprocess.run(["umount", str(target)], capture_output=True).returncode != 0
                and subprocess.run(["umount", "-l", str(target)], capture_output=True).returncode != 0
            ):
                left.append(str(target))
        return left


def run_host(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise Failed(f"{shlex.join(cmd)} failed (rc {done.returncode}): {(done.stderr or done.stdout).strip()[-400:]}")
    return done


def mounted_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(prefix)]


def ensure_host_tools() -> list[str]:
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        say(f"installing {' '.join(missing)} (apt)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run_host(["apt-get", "update", "-q"], env=env)
        run_host(["apt-get", "install", "-y", "-q", *missing], env=env)
    return missing


def ensure_binfmt() -> str:
    """arm64 programs run through qemu: binfmt_misc mounted and the qemu-aarch64 handler enabled."""
    if os.uname().machine == "aarch64":
        return "native arm64 (no emulation)"
    misc = Path("/proc/sys/fs/binfmt_misc")
    if not (misc / "register").exists():
        run_host(["mount", "-t", "binfmt_misc", "binfmt_misc", str(misc)])
    if not (misc / "qemu-aarch64").exists():
        run_host(["update-binfmts", "--enable", "qemu-aarch64"])
    handler = (misc / "qemu-aarch64").read_text() if (misc / "qemu-aarch64").exists() else ""
    if not handler.startswith("enabled"):
        raise Failed("the qemu-aarch64 binfmt handler is not enabled: update-binfmts --enable qemu-aarch64")
    interpreter = next(
        (line.split(maxsplit=1)[1] for line in handler.splitlines() if line.startswith("interpreter")), "?"
    )
    flags = next((line.split(":", 1)[1].strip() for line in handler.splitlines() if line.startswith("flags")), "")
    if "F" not in flags:  # without F the interpreter must exist inside the root too
        raise Failed(f"the qemu-aarch64 handler lacks the F flag ({flags}): reinstall qemu-user-static")
    return f"qemu-user ({interpreter}, flags {flags})"


def ensure_root(root: Path, mirror: str) -> str:
    """The cached arm64 Debian root; a half-made one (interrupted debootstrap) is made again."""
    done_mark = root / ".emotion-edge-root"
    if done_mark.exists():
        return f"reused ({done_mark.read_text().strip()})"
    partial = root.with_name(root.name + ".partial")
    for path in (root, partial):
        if path.exists():
            if mounted_under(path):
                raise Failed(f"{path} still has mounts ({', '.join(mounted_under(path))}): umount them first")
            shutil.rmtree(path)
    say(f"debootstrap --arch=arm64 {SUITE} into {partial} (several minutes, once)")
    root.parent.mkdir(parents=True, exist_ok=True)
    run_host(
        [
            "debootstrap",
            "--arch=arm64",
            "--variant=minbase",
            f"--include={','.join(APT_PACKAGES)}",
            SUITE,
            str(partial),
            mirror,
        ]
    )
    partial.rename(root)
    stamp = f"debootstrap {SUITE} arm64 from {mirror} at {now()}"
    done_mark.write_text(stamp + "\n")
    return f"built ({stamp})"


def mount_root(root: Path, mounts: Mounts) -> None:
    """/proc with an arm64 cpuinfo, a private /dev (no host devices: like a board with no camera
    plugged in), /sys read-only, and the network files."""
    mounts.mount("-t", "proc", "proc", target=root / "proc")
    cpuinfo = root / "etc" / "emotion-edge-cpuinfo"
    cpuinfo.write_text(CPUINFO_A76)
    mounts.mount("--bind", str(cpuinfo), target=root / "proc" / "cpuinfo")
    mounts.mount("-t", "sysfs", "-o", "ro", "sysfs", target=root / "sys")
    dev = root / "dev"
    mounts.mount("-t", "tmpfs", "-o", "mode=755,nosuid", "dev", target=dev)
    for name, major, minor in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]:
        os.mknod(dev / name, 0o20666, os.makedev(major, minor))
    for sub in ("pts", "shm"):
        (dev / sub).mkdir()
    mounts.mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts", target=dev / "pts")
    os.symlink("pts/ptmx", dev / "ptmx")
    mounts.mount("-t", "tmpfs", "-o", "mode=1777", "shm", target=dev / "shm")
    for link, to in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ]:
        os.symlink(to, dev / link)
    shutil.copyfile("/etc/resolv.conf", root / "etc" / "resolv.conf")
    # A site whose HTTPS goes through an inspecting proxy gives pip its CA bundle (PIP_CERT or
    # SSL_CERT_FILE); the root's Debian bundle lacks that CA, so the host's travels in with it.
    bundle = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    if bundle and Path(bundle).is_file():
        shutil.copyfile(bundle, root / "etc" / "emotion-edge-host-ca.pem")
        CHROOT_ENV["PIP_CERT"] = CHROOT_ENV["SSL_CERT_FILE"] = "/etc/emotion-edge-host-ca.pem"
    hosts = root / "etc" / "hosts"
    if "localhost" not in (hosts.read_text() if hosts.exists() else ""):
        hosts.write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")


def in_root(root: Path, script: str, log: Path, timeout_s: float | None = None, cwd: str = "/") -> tuple[int, str]:
    """A bash script run inside the root (arm64), its output appended to the log and returned."""
    cmd = [
        "chroot",
        str(root),
        "/usr/bin/env",
        "-i",
        *[f"{k}={v}" for k, v in CHROOT_ENV.items()],
        "/bin/bash",
        "-c",
        f"cd {shlex.quote(cwd)} && {script}",
    ]
    started = time.monotonic()
    lines: list[str] = []
    timed_out = threading.Event()
    with log.open("a") as f:
        f.write(f"\n### {script}\n")
        f.flush()
        # Its own session: an interrupted check ends the whole tree (pip, pytest, brokers), so nothing
        # keeps running in the root or holds its mounts.
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout_s, kill) if timeout_s else None
        if timer:
            timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # the log follows the step as it runs
                f.write(line)
                f.flush()
                lines.append(line)
            rc = proc.wait()
        except BaseException:
            kill()
            proc.wait()
            raise
        finally:
            if timer:
                timer.cancel()
        rc = 124 if timed_out.is_set() else rc
        out = "".join(lines)
        f.write(f"\n### rc {rc} after {time.monotonic() - started:.0f} s\n")
    return rc, out


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def wheels_from(pip_output: str) -> list[str]:
    """The wheel files pip fetched or took from its cache, in its own words."""
    found = re.findall(r"(?:Downloading|Using cached|Processing)\s+(?:\S*/)?([\w.+-]+\.whl)", pip_output)
    return sorted(set(found), key=str.lower)


def junit_summary(path: Path) -> dict[str, Any]:
    tree = ET.parse(path)
    cases = tree.getroot().iter("testcase")
    passed, failed, skipped = [], [], []
    for case in cases:
        name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skip = case.find("skipped")
        if failure is not None:
            failed.append(
                {
                    "test": name,
                    "why": (failure.get("message") or "").splitlines()[0][:300] if failure.get("message") else "",
                }
            )
        elif skip is not None:
            skipped.append({"test": name, "why": (skip.get("message") or "")[:300]})
        else:
            passed.append(name)
    return {"passed": len(passed), "failed": len(failed), "skipped": len(skipped), "failures": failed, "skips": skipped}


def realtime_tests(python: str, tests: list[str], checkout: Path) -> list[dict[str, str]]:
    """The tests the emulated run leaves out (marker ``realtime``) and each one's reason: the clone's
    tests collected by this checkout's pytest on the host (collecting under emulation takes minutes)."""
    code = (
        "import json, sys, pytest\n"
        "class P:\n"
        "    items = []\n"
        "    def pytest_collection_modifyitems(self, items):\n"
        "        for i in items:\n"
        "            m = i.get_closest_marker('realtime')\n"
        "            why = m.kwargs.get('reason') or (m.args[0] if m.args else '') if m else None\n"
        "            if m: P.items.append({'test': i.nodeid, 'why': why})\n"
        "pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', *sys.argv[1:]], plugins=[P()])\n"
        "print('REALTIME=' + json.dumps(P.items))\n"
    )
    done = subprocess.run([python, "-c", code, *tests], capture_output=True, text=True, cwd=checkout)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("REALTIME=")), None)
    if line is None:
        return [{"test": "?", "why": f"could not collect here: {(done.stderr or done.stdout).strip()[-300:]}"}]
    return list(json.loads(line[len("REALTIME=") :]))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="arm64-check", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--root",
        type=Path,
        default=Path(os.environ.get("ARM64_ROOT", "~/.cache/emotion-edge/arm64-root")).expanduser(),
        help="the cached arm64 Debian root (env ARM64_ROOT)",
    )
    p.add_argument("--mirror", default=os.environ.get("ARM64_MIRROR", MIRROR), help="Debian mirror for debootstrap")
    p.add_argument("--platform", choices=["pi", "linux"], default="pi", help="setup-device's PLATFORM (default pi)")
    p.add_argument("--frames", type=int, default=30, help="demo frames (default 30: the first faces appear by then)")
    p.add_argument("--tests", nargs="*", default=DEFAULT_TESTS, help="test paths, inside the clone")
    p.add_argument("-k", dest="keyword", help="pytest -k expression, to run a subset")
    p.add_argument("--test-timeout", type=int, default=900, help="pytest-timeout per test, seconds (default 900)")
    p.add_argument("--no-tests", action="store_true", help="install, doctor and demo only")
    p.add_argument("--no-jetpack", action="store_true", help="skip the JetPack 6 resolution")
    p.add_argument(
        "--more-tests",
        action="store_true",
        help="run (more) tests in the clone the last run installed, adding them to its report",
    )
    p.add_argument("--json", type=Path, default=ROOT / "runs" / "arm64-check.json", help="the report")
    p.add_argument("--log", type=Path, default=ROOT / "runs" / "arm64-check.log", help="everything run in the root")
    return p.parse_args(argv)


def check(args: argparse.Namespace, report: dict[str, Any], mounts: Mounts) -> None:
    steps = report["steps"]
    log: Path = args.log
    if os.geteuid() != 0:
        raise Failed("needs root (chroot and mounts): sudo make arm64-check")
    steps["host_tools_installed"] = ensure_host_tools()
    report["emulation"] = ensure_binfmt()
    steps["root"] = ensure_root(args.root, args.mirror)
    root: Path = args.root
    if mounted_under(root):
        raise Failed(
            f"{root} has mounts left from another run ({', '.join(mounted_under(root))}): "
            "is one still running? else umount them"
        )
    mount_root(root, mounts)

    def step(name: str, script: str, timeout_s: float | None = None, cwd: str = "/") -> str:
        started = time.monotonic()
        say(f"{name} ...")
        rc, out = in_root(root, script, log, timeout_s, cwd)
        steps[name] = {"rc": rc, "seconds": round(time.monotonic() - started)}
        say(f"{name}: rc {rc} in {steps[name]['seconds']} s")
        args.json.write_text(json.dumps(report, indent=2) + "\n")  # a partial report, should the check be cut
        if rc != 0:
            steps[name]["tail"] = out.strip().splitlines()[-15:]
        return out

    clone = f"{WORK}/emotion-edge"
    if args.more_tests:
        if report.get("commit") != run_host(["git", "-C", str(ROOT), "rev-parse", "HEAD"]).stdout.strip():
            raise Failed(f"--more-tests: {args.json} is from another commit than HEAD: run without it first")
        if not (root / clone.lstrip("/") / ".venv" / "bin" / "pytest").exists():
            raise Failed("--more-tests: the clone in the root has no installed tests: run without it first")
        run_tests(args, report, step, clone)
        return
    # debootstrap put them in; apt runs (emulated: minutes) only for what a reused root lacks.
    pkgs = " ".join(APT_PACKAGES)
    install = f"apt-get update -q && apt-get install -y -q --no-install-recommends {pkgs}"
    out = step("apt", f"dpkg-query -W {pkgs} >/dev/null 2>&1 || ({install})")
    if steps["apt"]["rc"] != 0:
        raise Failed("apt inside the root failed (see the log)")
    arch = step("uname", "uname -m; ldd --version | head -n1; python3 -V; . /etc/os-release; echo $PRETTY_NAME").split(
        "\n"
    )
    report["root"] = {
        "path": str(root),
        "machine": arch[0].strip(),
        "glibc": arch[1].strip().split()[-1],
        "python": arch[2].strip().split()[-1],
        "os": arch[3].strip(),
    }

    # A clean clone of HEAD (what a user gets from `git clone`), and beside it the bits of ../shared the
    # tests use (photos, YuNet); not the data sets.
    work = root / WORK.lstrip("/")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    run_host(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(work / "emotion-edge")])
    report["commit"] = run_host(["git", "-C", str(work / "emotion-edge"), "rev-parse", "HEAD"]).stdout.strip()
    shared = ROOT.parent / "shared"
    for sub in ("models", "media"):
        if (shared / sub).is_dir():
            shutil.copytree(shared / sub, work / "shared" / sub)

    out = step("setup-device", f"PLATFORM={args.platform} make setup-device", cwd=clone)
    report["install"] = {
        "command": f"PLATFORM={args.platform} make setup-device",
        "wheels": wheels_from(out),
        "output_tail": out.strip().splitlines()[-6:],
    }
    if steps["setup-device"]["rc"] != 0:
        raise Failed("make setup-device failed inside the root (see the report's tail and the log)")
    versions = step(
        "versions",
        (
            ".venv/bin/python - <<'EOF'\n"
            "import importlib.metadata as md, json, sys\n"
            "import numpy, cv2, onnxruntime as ort\n"
            "dists = {d.metadata['Name']: d for d in md.distributions()}\n"
            "dists = sorted(dists.items(), key=lambda kv: kv[0].lower())\n"
            "print(json.dumps({'python': sys.version.split()[0], 'numpy': numpy.__version__,\n"
            "  'numpy_from': numpy.__file__,\n"
            "  'opencv': cv2.__version__, 'onnxruntime': ort.__version__, 'providers': ort.get_available_providers(),\n"
            "  'installed': {n: d.version for n, d in dists}}))\n"
            "EOF"
        ),
        cwd=clone,
    )
    try:
        report["versions"] = json.loads(versions.strip().splitlines()[-1])
    except (ValueError, IndexError):
        report["versions"] = {"error": versions.strip().splitlines()[-5:]}

    # `emotion-edge models fetch` downloads YuNet from GitHub, which this machine cannot reach: the same
    # file goes where fetch puts it, by hand, as fetch's own offline message says.
    if (work / "shared" / "models" / "face_detection_yunet.onnx").exists():
        shutil.copyfile(
            work / "shared" / "models" / "face_detection_yunet.onnx",
            work / "emotion-edge" / "models" / "face_detection_yunet.onnx",
        )
    out = step("doctor", ".venv/bin/emotion-edge doctor", cwd=clone)
    report["doctor"] = [line for line in out.splitlines() if re.match(r"^(OK|FAIL|WARN|absent)\s", line)]
    out = step("demo", f".venv/bin/emotion-edge demo --frames {args.frames} --no-web --out runs/demo", cwd=clone)
    messages = work / "emotion-edge" / "runs" / "demo" / "messages.jsonl"
    seen: dict[str, int] = {}
    faces = 0
    if messages.exists():
        for line in messages.read_text().splitlines():
            msg = json.loads(line)
            kind = msg["topic"].rsplit("/", 1)[-1] if not msg["topic"].startswith("homeassistant/") else "discovery"
            seen[kind] = seen.get(kind, 0) + 1
            if kind == "presence" and isinstance(msg["payload"], dict):
                faces = max(faces, int(msg["payload"].get("faces") or 0))
    report["demo"] = {
        "frames": args.frames,
        "messages": seen,
        "most_faces_in_presence": faces,
        "summary": [ln for ln in out.splitlines() if ln.startswith("What the subscriber received")],
        "stopped": [ln.split(" INFO ", 1)[-1] for ln in out.splitlines() if "stopped (" in ln][-1:],
        "outputs": sorted(p.name for p in messages.parent.iterdir()) if messages.parent.exists() else [],
    }

    if args.no_tests:
        return
    tools = " ".join(shlex.quote(t) for t in dev_tools())
    step("test-tools", f".venv/bin/pip install -q {tools}", cwd=clone)
    run_tests(args, report, step, clone)


def run_tests(args: argparse.Namespace, report: dict[str, Any], step: Any, clone: str) -> None:
    """One pytest run in the clone, leaving out the realtime tests; appended to report["test_runs"]
    (--more-tests adds runs to the same report)."""
    marker = "not realtime"
    keyword = f" -k {shlex.quote(args.keyword)}" if args.keyword else ""
    started = now()
    junit = args.root / "tmp" / "arm64-junit.xml"
    junit.unlink(missing_ok=True)
    out = step(
        f"tests-{len(report.setdefault('test_runs', [])) + 1}",
        f".venv/bin/python -m pytest -p no:cacheprovider -q -m {shlex.quote(marker)}{keyword} "
        f"--timeout={args.test_timeout} --junitxml=/tmp/arm64-junit.xml {' '.join(map(shlex.quote, args.tests))}",
        cwd=clone,
    )
    run: dict[str, Any] = {
        "started": started,
        "paths": args.tests,
        "marker": marker,
        "keyword": args.keyword,
        "left_out_realtime": realtime_tests(
            str(ROOT / ".venv" / "bin" / "python"), args.tests, args.root / clone.lstrip("/")
        ),
    }
    if junit.exists():
        run.update(junit_summary(junit))
    else:
        run["error"] = out.strip().splitlines()[-10:]
    report["test_runs"].append(run)


def dev_tools() -> list[str]:
    """The test tools' requirement strings, as the dev extra pins them."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return [
        req for req in extras["dev"] + extras["train"] if re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0] in TEST_TOOLS
    ]


def resolve_jetpack(report: dict[str, Any]) -> None:
    try:
        report["jetpack6"] = jetpack_resolve.resolve()
    except (jetpack_resolve.Unreachable, RuntimeError) as exc:
        report["jetpack6"] = {"error": str(exc)}


def new_report(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "started": now(),
        "host": os.uname().machine,
        "platform": args.platform,
        "steps": {},
        "not_checked": [
            "speed (emulated: floating point 100-250x slower, integer ~30x)",
            "TensorRT and CUDA (a Jetson's GPU)",
            "the CSI camera and picamera2 (Pi/Jetson camera stacks)",
            "a board's device nodes, thermal zones and systemd service",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    if args.more_tests:
        if not args.json.exists():
            say(f"error: --more-tests adds to {args.json}, which does not exist: run without it first")
            return 2
        report: dict[str, Any] = json.loads(args.json.read_text())
        args.no_jetpack = True
        with args.log.open("a") as f:
            f.write(f"\narm64-check --more-tests, {now()}\n")
    else:
        args.log.write_text(f"arm64-check log, {now()}\n")
        report = new_report(args)
    mounts = Mounts()

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    rc = 0
    try:
        jetpack = None
        if not args.no_jetpack:
            # On the host, beside the emulated steps: it waits on the index, they on the CPU.
            say("JetPack 6 (Python 3.10, glibc 2.35): resolving what setup-device would install (in the background)")
            jetpack = threading.Thread(target=resolve_jetpack, args=(report,), daemon=True)
            jetpack.start()
        check(args, report, mounts)
        if jetpack is not None:
            jetpack.join()
    except Failed as exc:
        report["error"] = str(exc)
        say(f"error: {exc}")
        rc = 1
    except KeyboardInterrupt as exc:
        report["error"] = f"interrupted ({exc or 'SIGINT'})"
        rc = 130
    finally:
        left = mounts.undo()
        if left:
            report["mounts_left"] = left
            say(f"warning: could not unmount {', '.join(left)}")
        report["finished"] = now()
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    say(f"report: {args.json} (log {args.log})")
    for run in report.get("test_runs", []):
        if "passed" in run:
            say(
                f"tests {' '.join(run['paths'])}{' -k ' + run['keyword'] if run['keyword'] else ''}: "
                f"{run['passed']} passed, {run['failed']} failed, {run['skipped']} skipped, "
                f"{len(run['left_out_realtime'])} left out (realtime)"
            )
    failed = any(run.get("failed") or "error" in run for run in report.get("test_runs", []))
    if rc == 0 and (failed or report["steps"].get("demo", {}).get("rc")):
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
