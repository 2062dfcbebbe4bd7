"""The live view's HTTP server: the standard library's ``ThreadingHTTPServer``, TLS through ``ssl``.

One thread per connection; it serves the page, its state as JSON and the MJPEG stream.

Routes: ``/`` (the page), ``/app.js``, ``/app.css``, ``/favicon.svg``, ``/api/state`` (faces, figures, timeline),
``/stream.mjpg`` (``multipart/x-mixed-replace`` JPEGs), ``/frame.jpg`` (one picture). Every route
asks for the credentials when there are any. Nothing is written to disk.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
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
MAX_CONNECTIONS = 64  # open at once (streams, page loads, idle keep-alives); more are closed at once
STREAM_SEND_BUFFER = 64 * 1024  # bytes; the kernel doubles it: a few pictures in flight
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'none'",
}


class WebError(RuntimeError):
    """The live view cannot start (address in use, a certificate that does not load); the message says which."""


def load_assets() -> dict[str, bytes]:
    folder = resources.files("edge.web") / "static"
    return {name: (folder / name).read_bytes() for name in {a for a, _ in ASSETS.values()}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    ssl_context: ssl.SSLContext | None = None
    view: Any = None
    auth: Authenticator
    assets: dict[str, bytes]
    stopping: threading.Event
    connections = 0
    _count_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        # A thread per connection, but not without end: past the limit a connection is closed at once.
        with self._count_lock:
            if self.connections >= MAX_CONNECTIONS:
                full = True
            else:
                full = False
                self.connections += 1
        if full:
            log.debug("live view: %d connections open, refusing one from %s", MAX_CONNECTIONS, client_address[0])
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count_lock:
                self.connections -= 1

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, on the connection's own thread, so a client that stalls
        # in it holds up no one else.
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(10.0)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "emotion-edge"
    sys_version = ""
    timeout = 30  # a viewer that stops reading is let go after this long

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines may carry ?token=; nothing of them is logged

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        verdict = self.server.auth.check(self.client_address[0], self.headers, next(iter(query.get("token", [])), None))
        if not verdict.ok:
            self._refuse(verdict.status, verdict.reason)
            return
        if verdict.set_cookie is not None and url.path in ("/", "/index.html"):
            # Keep the token out of the address bar and history: the cookie stands for it from now on.
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Location", "./")
            self.send_header("Set-Cookie", verdict.set_cookie)
            self.send_header("Content-Length", "0")
            self._security_headers()
            self.end_headers()
            return
        if url.path in ASSETS:
            name, kind = ASSETS[url.path]
            self._send(200, self.server.assets[name], kind, verdict.set_cookie)
        elif url.path == "/api/state":
            try:
                since = float((query.get("since") or ["0"])[0])
            except ValueError:
                since = 0.0
            body = json.dumps(self.server.view.state(since), separators=(",", ":"), allow_nan=False).encode()
            self._send(200, body, "application/json", verdict.set_cookie)
        elif url.path == "/stream.mjpg":
            self._stream()
        elif url.path == "/frame.jpg":
            frames = self.server.view.frames
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

    def _stream(self) -> None:
        frames = self.server.view.frames
        try:
            with frames.viewer():
                # A small send buffer: a slow viewer's pictures wait in its own thread (and are
                # replaced by newer ones), not by the hundred in the kernel, seconds behind.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Connection", "close")
                self._security_headers()
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
        self._security_headers()
        self.end_headers()
        self.wfile.write(body)

    def _security_headers(self) -> None:
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)

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
        self._security_headers()
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
        httpd.auth = Authenticator(self.credentials, is_loopback(c.host), c.cert_file is not None)
        httpd.assets = load_assets()
        httpd.stopping = threading.Event()
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
