"""Wrong or missing credentials are refused on every route; the right ones open the page."""

from __future__ import annotations

import base64
import http.client
import shutil
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edge.web.auth import FAILURE_WINDOW_S, FAILURES_ALLOWED, GLOBAL_FAILURES_ALLOWED, MAX_ADDRESSES, Authenticator
from edge.web.config import Credentials
from tests.edge.web.helpers import PASSWORD, TOKEN, address_of, get

ROUTES = ["/", "/app.js", "/api/state", "/frame.jpg", "/stream.mjpg"]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("route", ROUTES)
def test_token_missing_or_wrong_is_refused(live_view, route: str) -> None:
    view = live_view(Credentials(token=TOKEN))
    missing = get(view.url.rstrip("/") + route)
    assert missing.status == 401
    assert b"credentials required" in missing.body
    assert b"happy" not in missing.body and not missing.body.startswith(b"\xff\xd8")
    wrong = get(view.url.rstrip("/") + route, {"Authorization": "Bearer " + TOKEN[:-1] + "x"})
    assert wrong.status == 401 and b"wrong credentials" in wrong.body
    assert get(view.url.rstrip("/") + route + "?token=nope").status == 401


def test_the_right_token_opens_every_route(live_view) -> None:
    view = live_view(Credentials(token=TOKEN))
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    page = get(view.url, bearer)
    assert page.status == 200 and b"<title>emotion-edge live view</title>" in page.body
    state = get(view.url + "api/state", bearer)
    assert state.status == 200 and b'"classes":["happy","neutral","sad"]' in state.body
    picture = get(view.url + "frame.jpg", bearer)
    assert picture.status == 200 and picture.body.startswith(b"\xff\xd8")


def test_a_token_in_the_address_becomes_a_cookie(live_view) -> None:
    view = live_view(Credentials(token=TOKEN), cert_file=None)
    first = get(view.url + "?token=" + TOKEN)
    assert first.status == 303 and first.headers["Location"] == "./"  # the token leaves the address bar
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert TOKEN not in cookie  # the cookie holds a value derived from the token, not the token
    value = cookie.split(";", 1)[0]
    assert get(view.url + "api/state", {"Cookie": value}).status == 200
    assert get(view.url + "api/state", {"Cookie": value[:-2] + "00"}).status == 401


def test_password_is_http_basic(live_view) -> None:
    view = live_view(Credentials(password=PASSWORD))
    refused = get(view.url)
    assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Basic ")
    assert get(view.url, basic("emotion-edge", "wrong")).status == 401
    assert get(view.url, basic("someone-else", PASSWORD)).status == 401
    assert get(view.url, {"Authorization": "Basic !!!not-base64"}).status == 401
    assert get(view.url, basic("emotion-edge", PASSWORD)).status == 200
    assert get(view.url, {"Authorization": f"Bearer {PASSWORD}"}).status == 401  # a password is not a token


def test_repeated_failures_are_throttled_but_the_right_token_from_the_same_address_gets_through(live_view) -> None:
    view = live_view(Credentials(token=TOKEN))
    for _ in range(FAILURES_ALLOWED):
        assert get(view.url, {"Authorization": "Bearer wrong"}).status == 401
    assert get(view.url, {"Authorization": "Bearer wrong"}).status == 429
    # Every viewer behind one SSH tunnel or proxy shares its address: the right token still opens
    # the view (after the throttle's delay), and the wrong ones stay refused.
    assert get(view.url, {"Authorization": f"Bearer {TOKEN}"}).status == 200
    assert get(view.url + "?token=" + TOKEN).status == 303
    assert get(view.url, {"Authorization": "Bearer wrong"}).status == 429


def guess_from(url: str, source: str, token: str) -> int:
    host, port = address_of(url)
    conn = http.client.HTTPConnection(host, port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", "/api/state", headers={"Authorization": f"Bearer {token}"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_guesses_from_many_addresses_meet_a_global_limit(live_view) -> None:
    # 300 guesses from 300 addresses (all of 127.0.0.0/8 is this machine) are 300 first tries.
    view = live_view(Credentials(token=TOKEN))
    sources = [f"127.0.{1 + i // 200}.{1 + i % 200}" for i in range(300)]
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda source: guess_from(view.url, source, "wrong-" + source), sources))
    minutes = (time.monotonic() - started) / FAILURE_WINDOW_S
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= GLOBAL_FAILURES_ALLOWED * (1 + minutes), statuses
    # The right token, from an address that never failed, still opens the view.
    assert guess_from(view.url, "127.0.9.9", TOKEN) == 200


def test_the_failure_table_is_bounded_and_expires() -> None:
    now = [0.0]
    auth = Authenticator(Credentials(token=TOKEN), True, False, clock=lambda: now[0], wait=lambda s: False)
    for i in range(3 * MAX_ADDRESSES):
        verdict = auth.check(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", {"Authorization": "Bearer wrong"}, None)
        assert verdict.status in (401, 429)
        now[0] += 0.001
    assert auth.addresses <= MAX_ADDRESSES
    now[0] += FAILURE_WINDOW_S + 1
    auth.check("10.255.255.255", {"Authorization": "Bearer wrong"}, None)
    assert auth.addresses == 1
    assert auth.check("10.1.2.3", {"Authorization": f"Bearer {TOKEN}"}, None).ok


def test_loopback_without_credentials_answers_to_localhost_names_only(live_view) -> None:
    view = live_view()
    assert get(view.url).status == 200
    port = view.url.rsplit(":", 1)[1].strip("/")
    assert get(view.url, {"Host": f"localhost:{port}"}).status == 200
    # A page of another site that re-points its name at 127.0.0.1 (DNS rebinding) gets nothing.
    assert get(view.url + "api/state", {"Host": f"evil.example:{port}"}).status == 403


def test_security_headers(live_view) -> None:
    reply = get(live_view().url)
    assert reply.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in reply.headers["Content-Security-Policy"]
    assert reply.headers["X-Frame-Options"] == "DENY"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: the TLS test makes its certificate with it")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_with_a_certificate_pair(live_view, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    view = live_view(Credentials(token=TOKEN), cert_file=cert, key_file=key)
    assert view.url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(cert))
    assert get(view.url + "api/state", {"Authorization": f"Bearer {TOKEN}"}, context).status == 200
    assert get(view.url + "api/state", {}, context).status == 401
    cookie = get(view.url + "?token=" + TOKEN, {}, context).headers["Set-Cookie"]
    assert "Secure" in cookie


def test_connections_are_capped(live_view, monkeypatch) -> None:
    import socket

    from edge.web import server

    monkeypatch.setattr(server, "MAX_CONNECTIONS", 5)
    view = live_view(Credentials(token=TOKEN), max_viewers=5)
    host, port = address_of(view.url)
    streams = []
    for _ in range(5):  # five streams being served hold every place (idle connections would give way)
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        assert sock.recv(12) == b"HTTP/1.1 200"
        streams.append(sock)
    try:
        with pytest.raises(OSError):  # closed at once, not served
            get(view.url, {"Authorization": f"Bearer {TOKEN}"})
    finally:
        for sock in streams:
            sock.close()
    for _ in range(50):  # the server sees the streams go
        try:
            if get(view.url, {"Authorization": f"Bearer {TOKEN}"}).status == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        raise AssertionError("the view did not serve again after the streams closed")


def test_tls_handshakes_that_never_finish_lock_no_viewer_out(live_view, certificate: tuple[Path, Path]) -> None:
    import socket

    from edge.web.server import MAX_CONNECTIONS

    cert, key = certificate
    view = live_view(Credentials(token=TOKEN), cert_file=cert, key_file=key)
    host, port = address_of(view.url)
    silent = [socket.create_connection((host, port), timeout=5) for _ in range(MAX_CONNECTIONS)]  # no ClientHello
    try:
        context = ssl.create_default_context(cafile=str(cert))
        assert get(view.url + "api/state", {"Authorization": f"Bearer {TOKEN}"}, context).status == 200
    finally:
        for sock in silent:
            sock.close()
