"""Small clients for the live view's tests: plain urllib requests, and a stream reader."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

import numpy as np

from edge.results import FaceResult, FrameResult

TOKEN = "t0ken-for-the-tests-0123456789"
PASSWORD = "a password with spaces"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def get(url: str, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None) -> Reply:
    """One GET, redirects not followed, errors returned as replies."""
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as r:
            return Reply(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, dict(e.headers), e.read())


def frame(index: int, width: int = 640, height: int = 480) -> tuple[np.ndarray, FrameResult]:
    """A real picture (grey level by index) with one face result on it."""
    image = np.full((height, width, 3), (index * 7) % 200 + 20, np.uint8)
    scores = {"happy": 0.7, "neutral": 0.2, "sad": 0.1}
    face = FaceResult(1, (100, 80, 200, 220), "happy", 0.7, scores)
    return image, FrameResult(index, 1_700_000_000.0 + index / 30, width, height, (face,), 5.0)


def open_stalled_stream(url: str, receive_buffer: int = 4096) -> socket.socket:
    """Connect to the MJPEG stream, send the request, and never read: a viewer that stalls."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect((host, int(port)))
    sock.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    return sock


def address_of(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return host, int(port)


def raw_exchange(url: str, request: bytes, source: str | None = None, timeout: float = 10.0) -> bytes:
    """Send ``request`` bytes as they are on a new connection and read until the server closes it
    (or the reply is complete): what a hostile or broken client would see."""
    host, port = address_of(url)
    with socket.create_connection((host, port), timeout=timeout, source_address=(source, 0) if source else None) as s:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(body) >= length:
                    break
    return data


def reply_headers(reply: bytes) -> tuple[int, dict[str, str]]:
    """The status and headers (names lower-cased) of a raw reply."""
    head = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers
