"""A throwaway MQTT broker on this machine, for the demo and the soak: nothing to set up by hand.

Mosquitto where it is installed (``mosquitto`` on the PATH or in /usr/sbin), otherwise amqtt, a
broker written in Python that ``pip install 'emotion-edge[demo]'`` brings. It listens on 127.0.0.1
only, on a free port, keeps nothing on disk, and stops with ``stop()`` (or the ``with`` block).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
KINDS = ("auto", "mosquitto", "amqtt")


def add_broker_flags(p: argparse.ArgumentParser) -> None:
    """The flags of a command that starts its own broker (demo, soak), unless --host names one."""
    from edge.flags import HOST_HELP, PORT_HELP

    p.add_argument(
        "--broker-program",
        choices=KINDS,
        default="auto",
        help="the MQTT broker this command starts for itself (default auto: Mosquitto where installed, else amqtt)",
    )
    p.add_argument("--host", help=f"{HOST_HELP} (an existing one, instead of starting one)")
    p.add_argument("--port", type=int, default=1883, help=f"{PORT_HELP} (with --host; default 1883)")


class BrokerError(RuntimeError):
    """The broker could not be started; the message says why and what to install."""


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def has_amqtt() -> bool:
    try:
        import amqtt  # noqa: F401
    except ImportError:
        return False
    return True


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nobody listens on now, never one this process handed out before: the kernel may
    return the same free port twice in a row, and two listeners of one broker must not share it."""
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def die_with_parent() -> Callable[[], None] | None:
    """What the child runs before exec so that it gets SIGTERM when the process that started it ends
    (Linux's PR_SET_PDEATHSIG: in fact the thread that started it, so the demo and the soak start
    their broker from the main thread); None where there is no prctl. The C function is found here, in the
    parent: the child, forked from a process that may have threads, only calls it."""
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class LocalBroker:
    def __init__(self, kind: str = "auto", port: int | None = None) -> None:
        if kind not in KINDS:
            raise BrokerError(f"unknown broker kind {kind!r}; choose one of: {', '.join(KINDS)}")
        mosquitto = find_mosquitto()
        if kind == "auto":
            kind = "mosquitto" if mosquitto else "amqtt"
        if kind == "mosquitto" and mosquitto is None:
            raise BrokerError("mosquitto is not installed (apt install mosquitto), or use the embedded broker (amqtt)")
        if kind == "amqtt" and not has_amqtt():
            raise BrokerError(
                "no MQTT broker here: install Mosquitto (apt install mosquitto) or the embedded one "
                "with pip install 'emotion-edge[demo]' (`make demo` does that)"
            )
        self.kind = kind
        self.port = port or free_port()
        self.host = HOST
        self._mosquitto = mosquitto
        self._dir = Path(tempfile.mkdtemp(prefix="emotion-edge-broker-"))
        self.log_path = self._dir / "broker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return "Mosquitto" if self.kind == "mosquitto" else "amqtt (embedded Python broker)"

    def _command(self) -> list[str]:
        if self.kind == "mosquitto":
            lines = [f"listener {self.port} {HOST}", "allow_anonymous true", "persistence false", "log_dest stderr"]
            if os.geteuid() == 0:
                # As root Mosquitto would switch to the 'mosquitto' user, which may not exist here.
                lines.append("user root")
            conf = self._dir / "mosquitto.conf"
            conf.write_text("\n".join(lines) + "\n")
            assert self._mosquitto is not None
            return [self._mosquitto, "-c", str(conf)]
        conf = self._dir / "amqtt.yaml"
        conf.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: {HOST}:{self.port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
        )
        return [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(conf)]

    def start(self, timeout_s: float = 15.0) -> LocalBroker:
        with self.log_path.open("ab") as log:
            command = self._command()
            # In a session of its own: Ctrl+C signals the terminal's whole foreground process group,
            # and the broker must outlive the demo's shutdown to carry its last messages ("offline",
            # the discovery clean-up); the owner stops it last. As systemd and supervisors do for a
            # child they manage, it still goes when its owner dies without stopping it (SIGKILL).
            self.proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise BrokerError(f"{self.name} exited with status {self.proc.returncode}: {self.log_tail()}")
            if port_open(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(
            f"{self.name} did not listen on {HOST}:{self.port} within {timeout_s:.0f} s: {self.log_tail()}"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # amqtt shuts down cleanly on SIGINT (KeyboardInterrupt), Mosquitto on SIGTERM.
            self.proc.send_signal(signal.SIGTERM if self.kind == "mosquitto" else signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
