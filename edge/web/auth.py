"""Who may open the live view: a token, a password, or (loopback without credentials) this machine only.

A token comes as ``Authorization: Bearer``, as ``?token=`` once (then a cookie derived from it), a
password as HTTP Basic; loopback without credentials checks the Host header (DNS rebinding)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from http.cookies import CookieError, SimpleCookie

from edge.web.config import Credentials, is_loopback

COOKIE = "emotion_edge_view"
FAILURES_ALLOWED = 10  # per client address and minute; then 429 until the minute is over
FAILURE_WINDOW_S = 60.0


@dataclass(frozen=True)
class Verdict:
    ok: bool
    status: int = 200  # 401 (no or wrong credentials), 403 (wrong Host), 429 (too many failures)
    set_cookie: str | None = None  # after a good ?token=: the cookie the browser keeps instead
    reason: str = ""


class Authenticator:
    def __init__(self, credentials: Credentials, loopback_only: bool, tls: bool) -> None:
        self.credentials = credentials
        self.loopback_only = loopback_only
        self.tls = tls
        # The cookie carries a value derived from the token, not the token itself.
        self._cookie_value = (
            hmac.new(credentials.token.encode(), b"emotion-edge live view", hashlib.sha256).hexdigest()
            if credentials.token is not None
            else None
        )
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @property
    def basic(self) -> bool:
        """Whether a 401 should ask the browser for a user name and password."""
        return self.credentials.password is not None

    def check(self, client: str, headers: Mapping[str, str] | Message, query_token: str | None) -> Verdict:
        """``headers``: the request's (looked up without regard to case)."""
        if self._throttled(client):
            return Verdict(False, 429, reason="too many failed attempts; wait a minute")
        if not self.credentials.required:
            # Loopback without credentials: refuse pages fetched under another name (DNS rebinding).
            host = headers.get("Host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if self.loopback_only and host and not is_loopback(name):
                return Verdict(False, 403, reason=f"this view answers to localhost only, not {host!r}")
            return Verdict(True)
        c = self.credentials
        if c.token is not None:
            if query_token is not None and _same(query_token, c.token):
                return Verdict(True, set_cookie=self._cookie())
            auth = headers.get("Authorization", "")
            if auth[:7].lower() == "bearer " and _same(auth[7:].strip(), c.token):
                return Verdict(True)
            cookie = _cookie(headers.get("Cookie", ""))
            if cookie is not None and self._cookie_value is not None and _same(cookie, self._cookie_value):
                return Verdict(True)
        if c.password is not None:
            auth = headers.get("Authorization", "")
            if auth[:6].lower() == "basic ":
                try:
                    user, _, password = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    user, password = "", ""
                if _same(user, c.username) & _same(password, c.password):
                    return Verdict(True)
        presented = bool(query_token or headers.get("Authorization") or _cookie(headers.get("Cookie", "")))
        if presented:
            self._failed(client)
        return Verdict(False, 401, reason="wrong credentials" if presented else "credentials required")

    def _cookie(self) -> str:
        secure = "; Secure" if self.tls else ""
        return f"{COOKIE}={self._cookie_value}; Path=/; HttpOnly; SameSite=Strict{secure}"

    def _throttled(self, client: str) -> bool:
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self._failures.get(client, []) if now - t < FAILURE_WINDOW_S]
            if recent:
                self._failures[client] = recent
            else:
                self._failures.pop(client, None)
            return len(recent) >= FAILURES_ALLOWED

    def _failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, []).append(time.monotonic())


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


def _cookie(header: str) -> str | None:
    try:
        morsel = SimpleCookie(header).get(COOKIE)
    except CookieError:
        return None
    return morsel.value if morsel is not None else None
