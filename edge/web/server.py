"""The live view's HTTP server: the standard library's ``ThreadingHTTPServer``, TLS through ``ssl``.

One thread per connection; it serves the page, its state as JSON and the MJPEG stream.

Routes: ``/`` (the page), ``/app.js``, ``/app.css``, ``/favicon.svg``, ``/api/state`` (faces, figures, timeline),
``/stream.mjpg`` (``multipart/x-mixed-replace`` JPEGs), ``/frame.jpg`` (one picture). Every route
asks for the credentials when there are any. Nothing is written to disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edge.web.auth import Authenticator
from edge.web.config import Credentials, WebConfig, is_loopback
from edge.web.frames import TooManyViewers

log = logging.getLogger(__name__)

ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/favicon.ico": ("favicon.svg", "image/svg+xml"),
}
BOUNDARY = "frame"
MAX_CONNECTIONS = 64  # open at once (streams, page loads, idle keep-alives)
HEAD_TIMEOUT_S = 5.0  # to send a whole request head (and finish the TLS handshake), from the first byte awaited
STREAM_SEND_BUFFER = 64 * 1024  # bytes; the kernel doubles it: a few pictures in flight
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'none'",
}
# A client that went away (or stopped answering) mid-request: worth a debug line, never a traceback.
GONE = OSError  # ConnectionResetError, BrokenPipeError, TimeoutError, ssl.SSLError ...


class WebError(RuntimeError):
    """The live view cannot start (address in use, a certificate that does not load); the message says which."""


def load_assets() -> dict[str, bytes]:
    folder = resources.files("edge.web") / "static"
    return {name: (folder / name).read_bytes() for name in {a for a, _ in ASSETS.values()}}


@dataclass(eq=False)
class Connection:
    """One open connection: its socket (the TLS one once wrapped) and, while it waits for a request
    head, since when and until when."""

    sock: socket.socket
    address: str
    waiting_since: float | None
    deadline: float
    evicted: bool = False


class Connections:
    """The open connections, at most ``limit``; those waiting for a request head give way.

    A connection that has not sent a whole request head is cheap to hold open and costs a client
    nothing, so it is what a lock-out is made of (64 sockets that trickle one byte a second). As
    nginx does with ``client_header_timeout``, the head has one deadline for all of it, however the
    bytes trickle in; and as OpenSSH's ``MaxStartups`` drops unauthenticated connections first,
    when every place is taken a new connection takes the place of one still waiting for its head,
    the oldest of the address that holds the most such, so one address crowds out only itself.
    Connections serving a request (an authenticated stream, say) are never pushed out.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: set[Connection] = set()
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        with self._lock:
            return len(self._open)

    def admit(self, sock: socket.socket, address: str) -> Connection | None:
        """The new connection, waiting for its head; None when every place is busy serving."""
        now = time.monotonic()
        with self._lock:
            if len(self._open) >= self.limit:
                victim = self._victim()
                if victim is None:
                    return None
                self._evict(victim)
            conn = Connection(sock, address, now, now + HEAD_TIMEOUT_S)
            self._open.add(conn)
            return conn

    def wrap(self, conn: Connection, wrap: Callable[[socket.socket], socket.socket]) -> socket.socket | None:
        """Replace the socket by its TLS wrapper (no I/O), so an eviction reaches the wrapper."""
        with self._lock:
            if conn.evicted:
                return None
            conn.sock = wrap(conn.sock)
            return conn.sock

    def waiting(self, conn: Connection) -> None:
        """The connection waits for a (next) request head: the deadline starts now."""
        with self._lock:
            if conn.waiting_since is None:
                conn.waiting_since = time.monotonic()
                conn.deadline = conn.waiting_since + HEAD_TIMEOUT_S

    def serving(self, conn: Connection) -> bool:
        """The head is in: no deadline, no eviction. False when the connection was let go meanwhile."""
        with self._lock:
            conn.waiting_since = None
            return not conn.evicted

    def release(self, conn: Connection) -> None:
        with self._lock:
            self._open.discard(conn)

    def sweep(self) -> None:
        """Let go of the connections whose head is late."""
        now = time.monotonic()
        with self._lock:
            for conn in [c for c in self._open if c.waiting_since is not None and now > c.deadline]:
                log.debug("live view: %s did not send a request within %.0f s; closed", conn.address, HEAD_TIMEOUT_S)
                self._evict(conn)

    def _victim(self) -> Connection | None:
        waiting = [c for c in self._open if c.waiting_since is not None]
        if not waiting:
            return None
        per_address = Counter(c.address for c in waiting)
        return min(waiting, key=lambda c: (-per_address[c.address], c.waiting_since))

    def _evict(self, conn: Connection) -> None:
        # Its own thread is blocked reading: shutting the socket down ends that read (the base
        # class's shutdown: the TLS wrapper's own would unwrap under the reader's feet).
        conn.evicted = True
        self._open.discard(conn)
        with contextlib.suppress(OSError):
            socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the listen backlog (the standard library's 5 drops connections under a burst)
    ssl_context: ssl.SSLContext | None = None
    view: Any = None
    auth: Authenticator
    assets: dict[str, bytes]
    stopping: threading.Event
    connections: Connections

    def process_request(self, request: Any, client_address: Any) -> None:
        # A thread per connection, but not without end: past the limit a connection is closed at once.
        conn = self.connections.admit(request, client_address[0])
        if conn is None:
            log.debug("live view: %d connections busy, refusing one from %s", self.connections.limit, client_address[0])
            self.shutdown_request(request)
            return
        thread = threading.Thread(target=self._serve, args=(conn, client_address), daemon=True)
        thread.start()

    def service_actions(self) -> None:
        # Called by serve_forever every poll interval (a quarter second).
        self.connections.sweep()

    def _serve(self, conn: Connection, client_address: Any) -> None:
        raw = conn.sock
        try:
            if self.ssl_context is None:
                _Handler(raw, client_address, self, conn)
            else:
                self._serve_tls(conn, client_address)
        except GONE as exc:
            log.debug("live view: %s went away (%s)", client_address[0], type(exc).__name__)
        except Exception as exc:  # a fault of ours: one line, the traceback with -v
            log.error("live view: a request from %s failed: %s: %s", client_address[0], type(exc).__name__, exc)
            log.debug("the request's traceback", exc_info=True)
        finally:
            self.connections.release(conn)
            with contextlib.suppress(OSError):
                conn.sock.close()
            if conn.sock is not raw:
                raw.close()

    def _serve_tls(self, conn: Connection, client_address: Any) -> None:
        # The handshake happens here, on the connection's own thread (a client that stalls in it
        # holds up no one else), within the head's deadline.
        context = self.ssl_context
        assert context is not None
        tls = self.connections.wrap(
            conn, lambda s: context.wrap_socket(s, server_side=True, do_handshake_on_connect=False)
        )
        if tls is None:
            return
        try:
            tls.settimeout(max(0.1, conn.deadline - time.monotonic()))
            tls.do_handshake()  # type: ignore[attr-defined]
        except (OSError, ssl.SSLError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        _Handler(tls, client_address, self, conn)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "emotion-edge"
    sys_version = ""
    timeout = 30  # a viewer that stops reading is let go after this long
    # The standard library's own errors (501 for HEAD, 400 for garbage, 414, 431): plain text, as ours.
    error_message_format = "%(code)d %(message)s: %(explain)s\n"
    error_content_type = "text/plain; charset=utf-8"

    def __init__(self, request: Any, client_address: Any, server: _Server, conn: Connection) -> None:
        self.conn = conn
        super().__init__(request, client_address, server)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines may carry ?token=; nothing of them is logged

    def handle_one_request(self) -> None:
        self.server.connections.waiting(self.conn)
        super().handle_one_request()

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if not self.server.connections.serving(self.conn):
            self.close_connection = True
            return False  # let go while the head came in: not answered
        if parsed and self.request_version == "HTTP/0.9":
            # An HTTP/0.9 answer has no headers at all, so none of the security headers either.
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP/0.9 is not served")
            return False
        return parsed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # A request line too broken to name its version is answered as HTTP/1.0, with headers.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        super().send_error(code, message, explain)

    def end_headers(self) -> None:
        # Every response, the standard library's errors included, carries the same headers.
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        super().end_headers()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        verdict = self.server.auth.check(self.client_address[0], self.headers, next(iter(query.get("token", [])), None))
        if not verdict.ok:
            self._refuse(verdict.status, verdict.reason)
            return
        if verdict.set_cookie is not None and "token" in query and url.path in ("/", "/index.html"):
            # Keep the token out of the address bar and history: the cookie stands for it from now on.
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Location", "./")
            self.send_header("Set-Cookie", verdict.set_cookie)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if url.path in ASSETS:
            name, kind = ASSETS[url.path]
            self._send(200, self.server.assets[name], kind, verdict.set_cookie)
            return
        try:  # a several-camera device: ?camera=NAME chooses the camera (default: the first)
            view = self.server.view.pick(next(iter(query.get("camera", [])), None))
        except KeyError as exc:
            self._refuse(404, str(exc.args[0]))
            return
        if url.path == "/api/state":
            try:
                since = float((query.get("since") or ["0"])[0])
            except ValueError:
                since = 0.0
            body = json.dumps(view.state(since), separators=(",", ":"), allow_nan=False).encode()
            self._send(200, body, "application/json", verdict.set_cookie)
        elif url.path == "/stream.mjpg":
            self._stream(view)
        elif url.path == "/frame.jpg":
            frames = view.frames
            got = frames.next_jpeg(frames.latest_seq, timeout=3.0) or frames.next_jpeg(0, timeout=0.0)
            if got is None:
                self._refuse(503, "no picture yet")
            else:
                self._send(200, got[1], "image/jpeg")
        else:
            self._refuse(404, "not found")

    def do_POST(self) -> None:
        self._refuse(405, "the live view only answers GET")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _stream(self, view: Any) -> None:
        frames = view.frames
        try:
            with frames.viewer():
                # A small send buffer: a slow viewer's pictures wait in its own thread (and are
                # replaced by newer ones), not by the hundred in the kernel, seconds behind.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                seq = 0
                while not self.server.stopping.is_set():
                    got = frames.next_jpeg(seq, timeout=1.0)
                    if got is None:
                        continue
                    seq, jpeg = got
                    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    self.wfile.write(head.encode() + jpeg + b"\r\n")
        except TooManyViewers as exc:
            self._refuse(503, f"{exc}; close another view first")
        except (OSError, ValueError):  # the viewer went away, or stopped reading for `timeout` s
            self.close_connection = True

    def _send(self, status: int, body: bytes, kind: str, cookie: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if cookie is not None:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: int, reason: str) -> None:
        body = f"{status} {HTTPStatus(status).phrase}: {reason}\n".encode()
        self.send_response(status)
        if status == 401:
            if self.server.auth.basic:
                self.send_header("WWW-Authenticate", 'Basic realm="emotion-edge live view", charset="UTF-8"')
            else:
                self.send_header("WWW-Authenticate", 'Bearer realm="emotion-edge live view"')
                body += b"Open the page as /?token=YOUR_TOKEN once, or send Authorization: Bearer YOUR_TOKEN.\n"
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class WebServer:
    def __init__(self, config: WebConfig, view: Any, credentials: Credentials) -> None:
        if not is_loopback(config.host) and not credentials.required:
            # WebConfig refuses this already; a server built by hand must not slip through either.
            raise WebError(f"web.host={config.host!r} is not a loopback address and no credentials are set")
        self.config = config
        self.view = view
        self.credentials = credentials
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> WebServer:
        c = self.config
        family = socket.AF_INET6 if ":" in c.host else socket.AF_INET
        server_class = type("_BoundServer", (_Server,), {"address_family": family})
        try:
            httpd = server_class((c.host.strip("[]"), c.port), _Handler)
        except OSError as exc:
            raise WebError(
                f"web: cannot listen on {c.host}:{c.port} ({exc.strerror}); set web.port to a free port"
            ) from exc
        if c.cert_file is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                context.load_cert_chain(str(c.cert_file), str(c.key_file) if c.key_file else None)
            except (OSError, ssl.SSLError) as exc:
                httpd.server_close()
                raise WebError(f"web.cert_file {c.cert_file}: the certificate pair does not load ({exc})") from exc
            httpd.ssl_context = context
        httpd.view = self.view
        httpd.stopping = threading.Event()
        httpd.auth = Authenticator(
            self.credentials, is_loopback(c.host), c.cert_file is not None, wait=httpd.stopping.wait
        )
        httpd.assets = load_assets()
        httpd.connections = Connections(MAX_CONNECTIONS)
        if self.credentials.required and c.cert_file is None and not is_loopback(c.host):
            # Said once, at start: the service runs on, as the configuration asks.
            log.warning(
                "live view: web.host=%s serves over plain http: the token or password and the pictures cross the "
                "network readable by anyone on the way; set web.cert_file (and web.key_file) to serve https, "
                "or bind to 127.0.0.1 and use an SSH tunnel",
                c.host,
            )
        self._httpd = httpd
        port = httpd.server_address[1]
        host = c.host if ":" not in c.host else f"[{c.host.strip('[]')}]"
        shown = socket.gethostname() if host in ("0.0.0.0", "[::]") else host
        self.url = f"{'https' if c.cert_file else 'http'}://{shown}:{port}/"
        self.port = port
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.25}, name="web")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(2.0)
        self._httpd = None
