"""systemd's side of the notify protocol, for tests: a real Unix datagram socket that records what a
service sends to ``$NOTIFY_SOCKET``."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Notification:
    fields: dict[str, str]
    at: float  # time.monotonic() on arrival


class ServiceManager:
    """Binds a datagram socket (a path, or an abstract name with ``abstract=True``) and collects
    every notification on a thread; ``env()`` is what systemd would put in the service's environment."""

    def __init__(self, abstract: bool = False) -> None:
        self._dir: str | None = None
        if abstract:
            self.address = f"@emotion-edge-test-{uuid.uuid4().hex}"
            bind_to = "\0" + self.address[1:]
        else:
            # Unix socket paths are limited to about 100 bytes: pytest's tmp_path can be longer.
            self._dir = tempfile.mkdtemp(prefix="ee-notify-")
            self.address = bind_to = str(Path(self._dir) / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind_to)
        self.sock.settimeout(0.1)
        self.received: list[Notification] = []
        self._cond = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def env(self, watchdog_usec: int | None = None) -> dict[str, str]:
        env = {"NOTIFY_SOCKET": self.address}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        return env

    def _receive(self) -> None:
        while self._running:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._cond:
                self.received.append(Notification(fields, time.monotonic()))
                self._cond.notify_all()

    def with_key(self, key: str, value: str | None = None, since: float = 0.0) -> list[Notification]:
        with self._cond:
            return [
                n
                for n in self.received
                if key in n.fields and (value is None or n.fields[key] == value) and n.at >= since
            ]

    def wait_for(self, predicate: Callable[[Notification], bool], timeout: float, what: str) -> Notification:
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for n in self.received:
                    if predicate(n):
                        return n
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no notification {what} within {timeout} s; got {self.received[-8:]}")
                self._cond.wait(left)

    def close(self) -> None:
        """Stop listening and remove the socket (twice is fine)."""
        self._running = False
        self._thread.join(2)
        self.sock.close()
        if self._dir is not None:
            Path(self.address).unlink(missing_ok=True)
            Path(self._dir).rmdir()
            self._dir = None
