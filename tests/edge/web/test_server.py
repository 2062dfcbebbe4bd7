"""The server against hostile and careless clients, over real sockets: connections that never finish
their request, clients that go away mid-answer, requests the server does not take."""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from edge.web.config import Credentials
from edge.web.server import MAX_CONNECTIONS, SECURITY_HEADERS
from tests.edge.web.helpers import TOKEN, address_of, get, raw_exchange, reply_headers

BEARER = {"Authorization": f"Bearer {TOKEN}"}


class Trickler:
    """``count`` connections that send the start of a request head and then, if ``trickle``, one byte
    of it every half second for ever (slowloris); if not, nothing more (silent sockets)."""

    def __init__(self, url: str, count: int, trickle: bool) -> None:
        host, port = address_of(url)
        self.sockets = [socket.create_connection((host, port), timeout=5) for _ in range(count)]
        for s in self.sockets:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        self.closed_by_server: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True) if trickle else None
        if self._thread is not None:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for i, s in enumerate(self.sockets):
                if i in self.closed_by_server:
                    continue
                try:
                    s.sendall(b"X")
                except OSError:
                    self.closed_by_server.add(i)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for s in self.sockets:
            s.close()


@pytest.fixture
def trickler() -> Iterator[list[Trickler]]:
    made: list[Trickler] = []
    yield made
    for t in made:
        t.close()


@pytest.mark.parametrize("trickle", [True, False], ids=["one byte at a time", "silent"])
def test_an_authenticated_viewer_gets_the_page_while_every_connection_is_held_by_unfinished_requests(
    live_view, trickler: list[Trickler], trickle: bool
) -> None:
    view = live_view(Credentials(token=TOKEN))
    trickler.append(Trickler(view.url, MAX_CONNECTIONS, trickle))
    time.sleep(1.0)  # let the trickle run: the server has seen every one of them
    page = get(view.url, BEARER)
    assert page.status == 200 and b"<title>emotion-edge live view</title>" in page.body
    state = get(view.url + "api/state", BEARER)
    assert state.status == 200


def test_a_request_head_sent_one_byte_at_a_time_is_cut_off(live_view) -> None:
    # A timeout per read never fires while bytes keep coming; the head has a deadline of its own.
    view = live_view(Credentials(token=TOKEN))
    host, port = address_of(view.url)
    with socket.create_connection((host, port), timeout=1) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        cut = False
        give_up = time.monotonic() + 40  # beyond the 30 s per-read timeout: never reached when fixed
        while time.monotonic() < give_up and not cut:
            try:
                s.sendall(b"X")
                cut = s.recv(1) == b""
            except TimeoutError:
                continue  # nothing to read yet: keep trickling
            except OSError:
                cut = True
    assert cut, "the server kept a request head open for 40 s while it trickled in"


def test_clients_that_go_away_at_once_leave_no_tracebacks(live_view, capfd, caplog) -> None:
    view = live_view(Credentials(token=TOKEN))
    host, port = address_of(view.url)
    caplog.set_level(logging.DEBUG, logger="edge.web")
    assert get(view.url, BEARER).status == 200
    threads = threading.active_count()
    routes = ["/", "/api/state", "/frame.jpg", "/stream.mjpg", "/app.js"]
    for i in range(100):
        s = socket.create_connection((host, port))
        # Close with a reset (linger 0), as a browser tab that is shut or a client killed would.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        route = routes[i % len(routes)]
        s.sendall(f"GET {route} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        s.close()
    assert get(view.url, BEARER).status == 200  # still serving
    deadline = time.monotonic() + 20
    while threading.active_count() > threads and time.monotonic() < deadline:  # every one of them finished
        time.sleep(0.05)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err[:2000]
    records = [r for r in caplog.records if r.name.startswith("edge.web")]
    assert not [r for r in records if r.levelno > logging.DEBUG], [r.getMessage() for r in records]
    assert len(records) <= 100, len(records)
    assert not [r for r in records if r.exc_info], "a client going away logged a traceback"


REQUESTS = {
    "HEAD": b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "OPTIONS": b"OPTIONS / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "TRACE": b"TRACE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "garbage": b"\x16\x03\x01 hello there\r\n\r\n",
    "bad version": b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    "HTTP/0.9": b"GET /\r\n\r\n",
    "request line too long": b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    "too many headers": b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 120 + b"\r\n",
    "POST": b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
    "no credentials": b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "unknown route": f"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode(),
    "the page": f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode(),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_every_response_carries_the_security_headers(live_view, name: str) -> None:
    view = live_view(Credentials(token=TOKEN))
    status, headers = reply_headers(raw_exchange(view.url, REQUESTS[name]))
    assert status >= 200
    for key, value in SECURITY_HEADERS.items():
        assert headers.get(key.lower()) == value, (status, key, headers)
    assert "html" not in headers.get("content-type", "") or name == "the page", headers
