"""Who may open the live view: a token, a password, or (loopback without credentials) this machine only.

A token comes as ``Authorization: Bearer`` or as ``?token=`` once, a password as HTTP Basic; after
either, a cookie derived from the secret stands for it. Loopback without credentials checks the
Host header (DNS rebinding)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from http.cookies import CookieError, SimpleCookie

from edge.web.config import Credentials, is_loopback

COOKIE = "emotion_edge_view"
# The throttle. A wrong credential is answered at once until an address has failed
# FAILURES_ALLOWED times within FAILURE_WINDOW_S, or all addresses together GLOBAL_FAILURES_ALLOWED
# times (about one a second: 300 guesses from 300 addresses are no longer 300 first tries). Past
# either, a credential is weighed only after a delay (1 s, doubling with every further failure of
# that address, at most MAX_PENALTY_S) and by at most PENALTY_SLOTS requests at once, the others
# answered 429 unweighed. Like Dovecot's auth_penalty (and pam_faildelay), the delay comes before
# the answer, right or wrong: a guesser cannot tell a wrong guess from a slow one, and a viewer
# with the right token behind the same address (an SSH tunnel, a proxy) still gets in, late.
# A browser that holds the cookie of an earlier login is never delayed (OWASP's "device cookie").
FAILURES_ALLOWED = 10  # per client address and FAILURE_WINDOW_S
FAILURE_WINDOW_S = 60.0
GLOBAL_FAILURES_ALLOWED = 60  # from every address together, per FAILURE_WINDOW_S
PENALTY_SLOTS = 4
MAX_PENALTY_S = 16.0
MAX_ADDRESSES = 4096  # addresses remembered (oldest failure forgotten first); the global limit covers the rest


@dataclass(frozen=True)
class Verdict:
    ok: bool
    status: int = 200  # 401 (no or wrong credentials), 403 (wrong Host), 429 (too many failures)
    set_cookie: str | None = None  # after a good token or password: the cookie the browser keeps instead
    reason: str = ""


class Authenticator:
    def __init__(
        self,
        credentials: Credentials,
        loopback_only: bool,
        tls: bool,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] = time.sleep,
    ) -> None:
        """``wait(seconds)``: how a delayed request waits (the server's stop event, so a stop ends it)."""
        self.credentials = credentials
        self.loopback_only = loopback_only
        self.tls = tls
        self._clock = clock
        self._wait = wait
        # The cookie carries a value derived from the token (or the password), not the secret itself.
        secret = credentials.token if credentials.token is not None else credentials.password
        self._cookie_value = (
            hmac.new(secret.encode(), b"emotion-edge live view", hashlib.sha256).hexdigest()
            if secret is not None
            else None
        )
        # address -> times of its recent failures, oldest address first (least recently failed)
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._all_failures: deque[float] = deque(maxlen=GLOBAL_FAILURES_ALLOWED + 1)  # enough to tell "over"
        self._lock = threading.Lock()
        self._penalty_slots = threading.BoundedSemaphore(PENALTY_SLOTS)

    @property
    def basic(self) -> bool:
        """Whether a 401 should ask the browser for a user name and password."""
        return self.credentials.password is not None

    @property
    def addresses(self) -> int:
        """How many client addresses the throttle remembers."""
        with self._lock:
            return len(self._failures)

    def check(self, client: str, headers: Mapping[str, str] | Message, query_token: str | None) -> Verdict:
        """``headers``: the request's (looked up without regard to case)."""
        if not self.credentials.required:
            # Loopback without credentials: refuse pages fetched under another name (DNS rebinding).
            host = headers.get("Host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if self.loopback_only and host and not is_loopback(name):
                return Verdict(False, 403, reason=f"this view answers to localhost only, not {host!r}")
            return Verdict(True)
        cookie = _cookie(headers.get("Cookie", ""))
        if cookie is not None and self._cookie_value is not None and _same(cookie, self._cookie_value):
            return Verdict(True)
        presented = bool(query_token or headers.get("Authorization") or cookie)
        if not presented:
            return Verdict(False, 401, reason="credentials required")
        delay = self._penalty(client)
        if delay is None:
            return self._weigh(client, headers, query_token)
        if not self._penalty_slots.acquire(blocking=False):
            return Verdict(False, 429, reason="too many failed attempts; wait a minute")
        try:
            self._wait(delay)
            return self._weigh(client, headers, query_token)
        finally:
            self._penalty_slots.release()

    def _weigh(self, client: str, headers: Mapping[str, str] | Message, query_token: str | None) -> Verdict:
        c = self.credentials
        if c.token is not None:
            if query_token is not None and _same(query_token, c.token):
                return Verdict(True, set_cookie=self._cookie())
            auth = headers.get("Authorization", "")
            if auth[:7].lower() == "bearer " and _same(auth[7:].strip(), c.token):
                return Verdict(True, set_cookie=self._cookie())
        if c.password is not None:
            auth = headers.get("Authorization", "")
            if auth[:6].lower() == "basic ":
                try:
                    user, _, password = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    user, password = "", ""
                if _same(user, c.username) & _same(password, c.password):
                    return Verdict(True, set_cookie=self._cookie())
        if self._failed(client):
            return Verdict(False, 429, reason="too many failed attempts; wait a minute")
        return Verdict(False, 401, reason="wrong credentials")

    def _cookie(self) -> str:
        secure = "; Secure" if self.tls else ""
        return f"{COOKIE}={self._cookie_value}; Path=/; HttpOnly; SameSite=Strict{secure}"

    def _forget_old(self, now: float) -> None:
        """Drop failures older than the window (called with the lock held)."""
        while self._all_failures and now - self._all_failures[0] >= FAILURE_WINDOW_S:
            self._all_failures.popleft()
        while self._failures:
            address, times = next(iter(self._failures.items()))
            if now - times[-1] < FAILURE_WINDOW_S and len(self._failures) <= MAX_ADDRESSES:
                break
            del self._failures[address]

    def _penalty(self, client: str) -> float | None:
        """The delay before this client's credential is weighed; None: weigh it at once."""
        with self._lock:
            now = self._clock()
            self._forget_old(now)
            times = self._failures.get(client)
            recent = sum(1 for t in times if now - t < FAILURE_WINDOW_S) if times else 0
            if recent < FAILURES_ALLOWED and len(self._all_failures) < GLOBAL_FAILURES_ALLOWED:
                return None
            return min(MAX_PENALTY_S, 2.0 ** max(0, recent - FAILURES_ALLOWED))

    def _failed(self, client: str) -> bool:
        """Count a failure; True when the client (or everyone) is now past the allowance."""
        with self._lock:
            now = self._clock()
            times = self._failures.pop(client, None)
            if times is None:
                times = deque(maxlen=FAILURES_ALLOWED + int(math.log2(MAX_PENALTY_S)) + 1)
            times.append(now)
            self._failures[client] = times  # now the most recent
            self._all_failures.append(now)
            self._forget_old(now)
            recent = sum(1 for t in times if now - t < FAILURE_WINDOW_S)
            return recent > FAILURES_ALLOWED or len(self._all_failures) > GLOBAL_FAILURES_ALLOWED


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


def _cookie(header: str) -> str | None:
    try:
        morsel = SimpleCookie(header).get(COOKIE)
    except CookieError:
        return None
    return morsel.value if morsel is not None else None
