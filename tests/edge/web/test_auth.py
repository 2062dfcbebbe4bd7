"""Wrong or missing credentials are refused on every route; the right ones open the page."""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from edge.web.auth import FAILURES_ALLOWED
from edge.web.config import Credentials
from tests.edge.web.helpers import PASSWORD, TOKEN, get

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


def test_repeated_failures_are_throttled(live_view) -> None:
    view = live_view(Credentials(token=TOKEN))
    for _ in range(FAILURES_ALLOWED):
        assert get(view.url, {"Authorization": "Bearer wrong"}).status == 401
    assert get(view.url, {"Authorization": "Bearer wrong"}).status == 429
    # Even the right token waits out the minute: guessing gains nothing from the throttle.
    assert get(view.url, {"Authorization": f"Bearer {TOKEN}"}).status == 429


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
    view = live_view(Credentials(token=TOKEN))
    port = int(view.url.rsplit(":", 1)[1].strip("/"))
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]  # say nothing, hold a thread each
    try:
        with pytest.raises(OSError):  # closed at once, not served
            get(view.url, {"Authorization": f"Bearer {TOKEN}"})
    finally:
        for sock in idle:
            sock.close()
    for _ in range(50):  # the server sees the idle ones go
        if get(view.url, {"Authorization": f"Bearer {TOKEN}"}).status == 200:
            break
    else:
        raise AssertionError("the view did not serve again after the idle connections closed")
