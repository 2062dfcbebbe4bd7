"""The ``[web]`` section: off by default, loopback by default, never another address without credentials.

``WebConfig`` is a section of the device configuration in its one idiom (``edge.fields``): errors name
``web.<key>``, the value, where it came from and what is allowed. Like MQTT's password, the token
and the password are never part of the configuration: ``token_file``/``password_file`` name a file
that holds one, ``token_env``/``password_env`` an environment variable; a ``token`` or ``password``
key is refused. The values are read when the view starts (``WebConfig.credentials``) and never logged.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from edge.fields import ConfigError, Layers, Rule, Section

WebConfigError = ConfigError  # the one configuration error

SECRET_KEYS = ("token", "password")
SECRET_SOURCES = ("token_file", "token_env", "password_file", "password_env")
PATH_KEYS = ("token_file", "password_file", "cert_file", "key_file")
MIN_TOKEN = 16  # characters, for the token and the password alike
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: ``localhost``, 127.0.0.0/8 and ``::1``."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything: treat it as public


@dataclass(frozen=True)
class Credentials:
    """What a viewer must present: a bearer token, a password (HTTP Basic), either, or nothing."""

    token: str | None = None
    password: str | None = None
    username: str = "emotion-edge"

    @property
    def required(self) -> bool:
        return self.token is not None or self.password is not None


class WebConfig(Section):
    """``[web]``: the live view in the browser (README, "Live view")."""

    enabled: bool = Field(False, description="serve the live view (stream, faces, figures, timeline)")
    host: str = Field("127.0.0.1", description="address to listen on; 127.0.0.1: this machine only (or an SSH tunnel)")
    port: int = Field(8080, ge=0, le=65535, description="port to listen on; 0: a free one, chosen at start and logged")
    token_file: Path | None = Field(
        None, description="a file holding the viewers' token (needed when host is not loopback: a token or a password)"
    )
    token_env: str | None = Field(None, description="or the name of an environment variable holding the token")
    password_file: Path | None = Field(
        None, description="a file holding a password (HTTP Basic; the user name is web.username)"
    )
    password_env: str | None = Field(None, description="or the name of an environment variable holding the password")
    username: str = Field("emotion-edge", min_length=1, description="the user name that goes with the password")
    cert_file: Path | None = Field(None, description="TLS certificate (PEM): serve https; unset: plain http")
    key_file: Path | None = Field(None, description="its private key (unset: the key is inside cert_file)")
    max_fps: float = Field(10.0, gt=0, le=60, description="the stream's highest frame rate")
    max_width: int = Field(640, ge=64, le=4096, description="the stream's widest picture (frames are only shrunk)")
    jpeg_quality: int = Field(70, ge=10, le=100, description="JPEG quality of the stream")
    max_viewers: int = Field(4, ge=1, le=64, description="streams open at once; more are refused (503)")
    timeline_s: int = Field(300, ge=10, le=3600, description="seconds of the main face's emotion the page plots")

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, values: Any) -> Any:
        if isinstance(values, Mapping):
            for key in SECRET_KEYS:
                if key in values:
                    raise Rule(
                        key,
                        f"web.{key}: a {key} is not accepted in the configuration; put it in a file only the "
                        f"service can read and set web.{key}_file, or set web.{key}_env to the name of an "
                        "environment variable that holds it",
                    )
        return values

    @model_validator(mode="after")
    def _check(self) -> WebConfig:
        if not self.host.strip():
            raise Rule("host", "web.host is empty; use 127.0.0.1 (this machine only) or an address to serve on")
        if self.host != self.host.strip():
            raise Rule("host", f"web.host={self.host!r} has spaces around it; write the address alone, e.g. 127.0.0.1")
        if ":" in self.username or not self.username.isprintable():
            # HTTP Basic sends "user:password": a colon in the name cuts it short (RFC 7617), so no
            # browser could ever sign in.
            raise Rule(
                "username",
                f"web.username={self.username!r} cannot be sent by HTTP Basic; use a name without ':' or "
                "control characters",
            )
        for kind in SECRET_KEYS:
            env = getattr(self, f"{kind}_env")
            if getattr(self, f"{kind}_file") is not None and env is not None:
                raise Rule(f"{kind}_env", f"web.{kind}_file and web.{kind}_env are both set; keep one")
            if env is not None and not _ENV_NAME.match(env):
                raise Rule(
                    f"{kind}_env",
                    f"web.{kind}_env={env!r} is not an environment variable name; give the variable's name, "
                    f"never the {kind} itself",
                )
        if self.key_file is not None and self.cert_file is None:
            raise Rule("key_file", "web.key_file is set without web.cert_file; TLS needs the certificate too")
        for key in PATH_KEYS:
            path = getattr(self, key)
            if path is not None and not Path(path).is_file():
                raise Rule(key, f"web.{key}: {path} does not exist or is not a file")
        if self.enabled and not is_loopback(self.host) and not self.has_credentials:
            raise Rule(
                "host",
                f"web.host={self.host!r} lets other machines open the live view, so it needs credentials: set "
                "web.token_file or web.token_env (or web.password_file / web.password_env), or bind to 127.0.0.1",
            )
        return self

    @classmethod
    def from_table(
        cls, table: Mapping[str, Any] | None = None, base_dir: Path | None = None, origin: str = "configuration"
    ) -> WebConfig:
        """Validate a ``[web]`` table on its own (tests, tools); relative paths are taken from ``base_dir``."""
        return Layers().add(cls, dict(table or {}), origin, base_dir).validate(cls, at=("web",))

    @property
    def has_credentials(self) -> bool:
        return any(getattr(self, key) is not None for key in SECRET_SOURCES)

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    def check_files(self) -> None:
        """The certificate pair and credential files must still be there when the view starts."""
        for key in PATH_KEYS:
            path = getattr(self, key)
            if path is not None and not Path(path).expanduser().is_file():
                raise ConfigError(f"web.{key}: {path} does not exist or is not a file")

    def credentials(self, env: Mapping[str, str] | None = None) -> Credentials:
        """Read the token and the password now, from their files or variables (a trailing newline is
        dropped); an empty or unreadable one stops the start with the key's name."""
        env = os.environ if env is None else env
        found: dict[str, str | None] = {}
        for kind in SECRET_KEYS:
            path, var = getattr(self, f"{kind}_file"), getattr(self, f"{kind}_env")
            value: str | None = None
            if path is not None:
                try:
                    value = Path(path).expanduser().read_text(encoding="utf-8").rstrip("\r\n")
                except OSError as exc:
                    raise ConfigError(
                        f"web.{kind}_file: cannot read {path} ({exc.strerror}); it must be readable by the service user"
                    ) from exc
                where = f"web.{kind}_file {path}"
            elif var is not None:
                value = env.get(var)
                if value is None:
                    raise ConfigError(f"web.{kind}_env: the environment variable {var} is not set")
                where = f"web.{kind}_env {var}"
            if value is not None and not value.strip():
                raise ConfigError(f"{where}: the {kind} is empty")
            # One rule for both: a guess at a time over the network must not find it (the throttle
            # slows guessing, it cannot make a short secret safe).
            if value is not None and len(value) < MIN_TOKEN:
                raise ConfigError(
                    f"{where}: the {kind} is {len(value)} characters; use at least {MIN_TOKEN} "
                    "(e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(24))'`"
                    + (", or a phrase of several words)" if kind == "password" else ")")
                )
            found[kind] = value
        return Credentials(found["token"], found["password"], self.username)
