"""Telling systemd how the service is doing: the ``sd_notify`` protocol, spoken directly.

A ``Type=notify`` service finds the address of a Unix datagram socket in ``$NOTIFY_SOCKET`` and
sends it newline-separated ``KEY=VALUE`` lines: ``READY=1``, ``STATUS=...``, ``WATCHDOG=1``,
``STOPPING=1``. An address that starts with ``@`` is in Linux's abstract namespace. The protocol is
one ``sendto`` per message, so libsystemd is not needed. Outside systemd (no ``$NOTIFY_SOCKET``)
every call does nothing; a socket that cannot be reached is reported once and never stops the loop.

``Heartbeat`` is what the frame loop uses: ``READY=1`` with the first processed frame (the model is
loaded and the camera gives frames), ``WATCHDOG=1`` only while frames keep being processed, and a
``STATUS=`` line with fps and faces that ``systemctl status`` shows.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

log = logging.getLogger(__name__)

# systemd reads at most a few KiB per datagram; a status line longer than this is cut.
MAX_STATUS = 200


class Notifier:
    """Sends notifications to the service manager at ``address`` (``None``: nowhere, silently)."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = _socket_address(address) if address else None
        # systemd asks for a ping at least every WATCHDOG_USEC; pinging at half of it leaves room
        # for a slow frame, as sd_watchdog_enabled(3) recommends.
        self.watchdog_interval_s = watchdog_usec / 2e6 if watchdog_usec and self.address else None
        self._sock: socket.socket | None = None
        self._failed = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd asked for through ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``."""
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or None
        watchdog_usec = _positive_int(env.get("WATCHDOG_USEC"))
        pid = _positive_int(env.get("WATCHDOG_PID"))
        if pid is not None and pid != os.getpid():
            watchdog_usec = None  # the watchdog is meant for another process (a parent that ran us)
        return cls(address, watchdog_usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str | int) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram (``send(READY=1, STATUS="...")``); True if it went out."""
        if self.address is None or not fields:
            return False
        message = "".join(f"{key}={_one_line(str(value))}\n" for key, value in fields.items())
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode("utf-8", "replace"), self.address)
        except OSError as exc:
            if not self._failed:  # once: the manager is gone or the address is wrong, nothing to retry
                self._failed = True
                log.warning("cannot notify the service manager at %s (%s); carrying on without it", self.shown, exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send(READY=1, STATUS=status[:MAX_STATUS])

    def status(self, status: str) -> bool:
        return self.send(STATUS=status[:MAX_STATUS])

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(STOPPING=1, STATUS=status[:MAX_STATUS])

    def extend_timeout(self, seconds: float, status: str | None = None) -> bool:
        """Ask for ``seconds`` more before a start (or stop) is considered hung."""
        if status is None:
            return self.send(EXTEND_TIMEOUT_USEC=int(seconds * 1e6))
        return self.send(EXTEND_TIMEOUT_USEC=int(seconds * 1e6), STATUS=status[:MAX_STATUS])

    @contextmanager
    def extending(
        self, what: str, every_s: float = 20.0, by_s: float = 60.0, limit_s: float = 2700.0
    ) -> Iterator[None]:
        """While inside, tell systemd every ``every_s`` that the start is still progressing: each
        EXTEND_TIMEOUT_USEC moves the start timeout to ``by_s`` from then, and the STATUS line shows
        ``what`` and the time spent. A TensorRT engine build (minutes on a Jetson) so never hits
        TimeoutStartSec=, while a start that hangs anywhere else still does. After ``limit_s`` the
        extensions stop, so even a hung build ends in a failed start. Outside systemd: nothing."""
        if not self.enabled:
            yield
            return
        done = threading.Event()
        started = time.monotonic()

        def tick() -> None:
            while time.monotonic() - started < limit_s:
                self.extend_timeout(by_s, f"{what} ({time.monotonic() - started:.0f} s)")
                if done.wait(every_s):
                    return

        ticker = threading.Thread(target=tick, name="extend-start-timeout", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join(timeout=5)

    @property
    def shown(self) -> str:
        """The address as ``$NOTIFY_SOCKET`` wrote it, for messages."""
        if self.address is None:
            return "(none)"
        return "@" + self.address[1:] if self.address.startswith("\0") else self.address

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _socket_address(address: str) -> str | None:
    if address.startswith("@"):
        return "\0" + address[1:]  # abstract namespace: a leading NUL byte instead of "@"
    if address.startswith("/"):
        return address
    # systemd 254+ may also hand out vsock: addresses (virtual machines); a device has no use for them.
    log.warning("NOTIFY_SOCKET=%r is not a Unix socket path or @abstract name; not notifying systemd", address)
    return None


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(text) if text else 0
    except ValueError:
        return None
    return value if value > 0 else None


def _one_line(text: str) -> str:
    # A newline would end the field early and start a bogus one.
    return " ".join(text.splitlines())


class Heartbeat:
    """The frame loop's side of the service protocol.

    ``frame()`` after every processed frame sends ``READY=1`` the first time, then ``WATCHDOG=1``
    at half the watchdog interval and ``STATUS=`` every ``status_interval_s``. ``waiting()`` (no
    frame came) updates the status only: no frames, no watchdog pings, so a hung camera or a stuck
    inference ends in a restart. ``idle(status, alive)`` says what the loop waits for instead
    (frames failing, a source being waited for); with ``alive`` (the capture thread sleeps between
    attempts to open a camera that is missing or lost: a known state, not a hang) it also sends
    ``READY=1`` if not yet sent and keeps the watchdog fed, so a camera plugged in after the start
    costs no restart; a read or an open that hangs is never ``alive``.
    """

    def __init__(
        self,
        notifier: Notifier,
        status_interval_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        first_frame_timeout_s: float | None = None,
        backend: str = "",
    ) -> None:
        self.notifier = notifier
        self.status_interval_s = status_interval_s
        self._clock = clock
        self.ready = False
        self._last_ping = float("-inf")
        self._last_status = float("-inf")
        self._last_frame: float | None = None
        # No frame this long after the camera opened is reported (STATUS and an ERROR in the log),
        # instead of a start that waits silently for TimeoutStartSec=.
        self.first_frame_timeout_s = first_frame_timeout_s
        self.backend = backend  # shown in every STATUS line: which classifier runs, and why
        self._waiting_since: float | None = None
        self.no_first_frame = False

    def _running(self, fps: float, faces: int, frames: int) -> str:
        text = running_status(fps, faces, frames)
        return f"{text}; {self.backend}" if self.backend else text

    def frame(self, fps: float, faces: int, frames: int) -> None:
        now = self._clock()
        self._last_frame = now
        interval = self.notifier.watchdog_interval_s
        if not self.ready:
            self.ready = True
            self._last_status = self._last_ping = now
            if self.no_first_frame:
                log.info("the first frame came after all")
            self.notifier.ready(self._running(fps, faces, frames))
            if interval is not None:
                self.notifier.watchdog()
            return
        if interval is not None and now - self._last_ping >= interval:
            self._last_ping = now
            self.notifier.watchdog()
        if now - self._last_status >= self.status_interval_s:
            self._last_status = now
            self.notifier.status(self._running(fps, faces, frames))

    def waiting(self, source: str) -> None:
        now = self._clock()
        if self._waiting_since is None:
            self._waiting_since = now
        late = (
            self._last_frame is None
            and self.first_frame_timeout_s is not None
            and now - self._waiting_since >= self.first_frame_timeout_s
        )
        if late and not self.no_first_frame:
            self.no_first_frame = True
            self._last_status = float("-inf")
            log.error(
                "%s opened but gave no frame in %.0f s (source.first_frame_timeout_s): is it streaming? "
                "`emotion-edge doctor` checks it; for csi:// cameras: sudo systemctl restart nvargus-daemon",
                source,
                now - self._waiting_since,
            )
        if now - self._last_status < self.status_interval_s:
            return
        self._last_status = now
        if self._last_frame is None and self.no_first_frame:
            self.notifier.status(
                f"no frame from {source} in {now - self._waiting_since:.0f} s since it opened: check the camera "
                "(emotion-edge doctor)"
            )
        elif self._last_frame is None:
            self.notifier.status(f"waiting for the first frame from {source}")
        else:
            self.notifier.status(f"no frame from {source} for {now - self._last_frame:.0f} s")

    def idle(self, status: str | Callable[[], str], alive: bool = False) -> None:
        """``status``: the text, or what makes it (called only when a status goes out)."""
        now = self._clock()
        interval = self.notifier.watchdog_interval_s
        text = status if callable(status) else lambda: status
        if alive and not self.ready:
            self.ready = True
            self._last_status = self._last_ping = now
            self.notifier.ready(text())
            if interval is not None:
                self.notifier.watchdog()
            return
        if alive and interval is not None and now - self._last_ping >= interval:
            self._last_ping = now
            self.notifier.watchdog()
        if now - self._last_status >= self.status_interval_s:
            self._last_status = now
            self.notifier.status(text())


def running_status(fps: float, faces: int, frames: int) -> str:
    return f"{fps:.1f} fps, {faces} face{'' if faces == 1 else 's'}, {frames} frames"
