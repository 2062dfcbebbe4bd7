"""A minimal viewer of the live view's stream (``bench --web-viewers 1``) that counts what it reads.

It reads the MJPEG stream as fast as it comes, like a browser on a good link."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from edge.web.server import BOUNDARY


class StreamViewer:
    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"StreamViewer reads plain http://host:port/ views, got {url}")
        self.host, self.port = parts.hostname, parts.port
        self.headers = headers or {}
        self.pictures = 0
        self.bytes = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._started = 0.0
        self._ended = 0.0
        self._thread = threading.Thread(target=self._run, name="web-viewer", daemon=True)

    def start(self) -> StreamViewer:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(5.0)
        self._ended = time.perf_counter()
        seconds = self._ended - self._started
        return {
            "pictures": self.pictures,
            "stream_fps": round(self.pictures / seconds, 2) if seconds > 0 else None,
            "kb_per_s": round(self.bytes / 1024 / seconds, 1) if seconds > 0 else None,
            "error": self.error,
        }

    def _run(self) -> None:
        marker = f"--{BOUNDARY}\r\n".encode()
        try:
            with socket.create_connection((self.host, self.port), timeout=5.0) as sock:
                extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
                request = f"GET /stream.mjpg HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}\r\n"
                sock.sendall(request.encode())
                sock.settimeout(0.5)
                buf = bytearray(1 << 16)
                tail = b""
                while not self._stop.is_set():
                    try:
                        n = sock.recv_into(buf)
                    except TimeoutError:
                        continue
                    if n == 0:
                        self.error = "the server closed the stream"
                        return
                    chunk = tail + bytes(buf[:n])
                    self.pictures += chunk.count(marker)
                    self.bytes += n
                    tail = chunk[-(len(marker) - 1) :]
        except OSError as exc:
            self.error = str(exc)
