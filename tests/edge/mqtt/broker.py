"""Real MQTT brokers for the tests, each in its own process so it can be stopped, killed and paused.

Mosquitto where its binary is installed; otherwise amqtt, an embedded Python broker (no TLS or
password tests there: those need Mosquitto and say so). ``EMOTION_EDGE_TEST_BROKER=embedded``
forces the embedded one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge.tools.local_broker import port_open
from tests.ports import free_port

HOST = "127.0.0.1"
MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or shutil.which(
    "mosquitto_passwd", path="/usr/sbin:/usr/local/sbin"
)


def broker_kind() -> str:
    wanted = os.environ.get("EMOTION_EDGE_TEST_BROKER", "")
    if wanted in ("mosquitto", "embedded"):
        return wanted
    return "mosquitto" if MOSQUITTO else "embedded"


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


@dataclass
class Listener:
    port: int = field(default_factory=free_port)
    tls: TlsFiles | None = None
    require_certificate: bool = False


class Broker:
    host = HOST

    def __init__(
        self,
        workdir: Path,
        kind: str | None = None,
        listeners: list[Listener] | None = None,
        password_file: Path | None = None,
    ) -> None:
        self.kind = kind or broker_kind()
        self.workdir = workdir
        self.listeners = listeners or [Listener()]
        self.password_file = password_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.kind}.log"
        if self.kind == "embedded" and (password_file or any(li.tls for li in self.listeners)):
            raise ValueError("the embedded test broker has no TLS or password set-up; use Mosquitto")
        self.config_path = self._write_config()

    @property
    def port(self) -> int:
        return self.listeners[0].port

    def _write_config(self) -> Path:
        if self.kind == "mosquitto":
            lines = ["per_listener_settings false", "persistence false", f"log_dest file {self.log_path}"]
            lines += ["log_type error", "log_type warning", "log_type notice", "log_type information"]
            if os.geteuid() == 0:
                lines.append("user root")  # else it drops to 'mosquitto', who cannot read pytest's tmp dirs
            if self.password_file is not None:
                lines += ["allow_anonymous false", f"password_file {self.password_file}"]
            else:
                lines.append("allow_anonymous true")
            for li in self.listeners:
                lines.append(f"listener {li.port} {HOST}")
                if li.tls is not None:
                    lines += [f"cafile {li.tls.ca}", f"certfile {li.tls.cert}", f"keyfile {li.tls.key}"]
                    lines.append(f"require_certificate {'true' if li.require_certificate else 'false'}")
            path = self.workdir / "mosquitto.conf"
        else:
            lines = ["listeners:", "  default:", "    type: tcp", f"    bind: {HOST}:{self.port}", "plugins:"]
            lines += ["  amqtt.plugins.authentication.AnonymousAuthPlugin:", "    allow_anonymous: true"]
            path = self.workdir / "amqtt.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def command(self) -> list[str]:
        if self.kind == "mosquitto":
            assert MOSQUITTO is not None
            return [MOSQUITTO, "-c", str(self.config_path)]
        return [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(self.config_path)]

    def start(self, timeout: float = 15.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_text()}")
            if all(port_open(li.port) for li in self.listeners):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not listen on {self.port} within {timeout} s:\n{self.log_text()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.resume()
        self.proc.send_signal(signal.SIGTERM if self.kind == "mosquitto" else signal.SIGINT)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
