"""The ``[web]`` table: off by default, loopback by default, and never on another address without credentials.

``WebConfig`` is a pydantic model (the configuration's idiom); ``WebConfig.from_table`` validates a raw
table and turns pydantic's errors into ``WebConfigError`` naming ``web.<key>``, the value's origin
and what is allowed. Like MQTT's password, the token and the password are never part of the
configuration: ``token_file``/``password_file`` name a file that holds one, ``token_env``/``password_env``
an environment variable; both are read when the view starts (``WebConfig.credentials``) and never logged.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SECRET_KEYS = ("token", "password")
SECRET_SOURCES = ("token_file", "token_env", "password_file", "password_env")
PATH_KEYS = ("token_file", "password_file", "cert_file", "key_file")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class WebConfigError(ValueError):
    """A value of the ``[web]`` table is wrong, or a credential cannot be read; the message names the key."""


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


class WebConfig(BaseModel):
    """``[web]``: the live view in the browser (see README, "Live view")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    host: str = "127.0.0.1"  # loopback: only this machine (or an SSH tunnel) reaches the page
    port: int = Field(default=8080, ge=0, le=65535)  # 0: a free port, chosen at start and logged
    # Required when host is not a loopback address; the values are never in this file.
    token_file: Path | None = None  # a file holding a token: open http://device:8080/?token=... once
    token_env: str | None = None  # or the name of an environment variable holding it
    password_file: Path | None = None  # a file holding a password (HTTP Basic, user `username`)
    password_env: str | None = None  # or the name of an environment variable holding it
    username: str = Field(default="emotion-edge", min_length=1)
    # TLS: both set serve https (a certificate, its private key); key_file unset: the key is in cert_file.
    cert_file: Path | None = None
    key_file: Path | None = None
    # The stream: at most this rate and width (frames are shrunk, never enlarged), JPEG quality.
    max_fps: float = Field(default=10.0, gt=0, le=60)
    max_width: int = Field(default=640, ge=64, le=4096)
    jpeg_quality: int = Field(default=70, ge=10, le=100)
    max_viewers: int = Field(default=4, ge=1, le=64)  # open streams at once; more get 503
    timeline_s: int = Field(default=300, ge=10, le=3600)  # the page's plot of the main face's emotion

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, values: Any) -> Any:
        if isinstance(values, Mapping):
            for key in SECRET_KEYS:
                if key in values:
                    raise ValueError(
                        f"web.{key}: a {key} is not accepted in the configuration; put it in a file only the "
                        f"service can read and set web.{key}_file, or set web.{key}_env to the name of an "
                        "environment variable that holds it"
                    )
        return values

    @model_validator(mode="after")
    def _check(self) -> WebConfig:
        if not self.host.strip():
            raise ValueError("web.host is empty; use 127.0.0.1 (this machine only) or an address to serve on")
        for kind in SECRET_KEYS:
            if getattr(self, f"{kind}_file") is not None and getattr(self, f"{kind}_env") is not None:
                raise ValueError(f"web.{kind}_file and web.{kind}_env are both set; keep one")
            env = getattr(self, f"{kind}_env")
            if env is not None and not _ENV_NAME.match(env):
                raise ValueError(f"web.{kind}_env={env!r} is not an environment variable name")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("web.key_file is set without web.cert_file; TLS needs the certificate too")
        if self.enabled and not is_loopback(self.host) and not self.has_credentials:
            raise ValueError(
                f"web.host={self.host!r} lets other machines open the live view, so it needs credentials: set "
                "web.token_file or web.token_env (or web.password_file / web.password_env), or bind to 127.0.0.1"
            )
        return self

    @property
    def has_credentials(self) -> bool:
        return any(getattr(self, key) is not None for key in SECRET_SOURCES)

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    @classmethod
    def from_table(
        cls,
        table: Mapping[str, Any] | None = None,
        base_dir: Path | None = None,
        origins: Mapping[str, str] | None = None,
    ) -> WebConfig:
        """Validate the ``[web]`` table; relative paths are taken from ``base_dir`` (the config file's
        folder). ``origins`` maps a key to where its value came from, for the message."""
        values = dict(table or {})
        for key in PATH_KEYS:
            value = values.get(key)
            if isinstance(value, str) and value.strip() == "":
                values[key] = None
            elif isinstance(value, (str, Path)) and base_dir is not None and not Path(value).expanduser().is_absolute():
                values[key] = base_dir / Path(value)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise WebConfigError(describe_error(exc, values, origins or {})) from None

    def check_files(self) -> None:
        """The certificate pair and credential files must exist now (read at start, not at the first viewer)."""
        for key in PATH_KEYS:
            path = getattr(self, key)
            if path is not None and not Path(path).expanduser().is_file():
                problem = "is not a file" if Path(path).exists() else "does not exist"
                raise WebConfigError(f"web.{key}: {path} {problem}")

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
                    raise WebConfigError(
                        f"web.{kind}_file: cannot read {path} ({exc.strerror}); it must be readable by the service user"
                    ) from exc
                where = f"web.{kind}_file {path}"
            elif var is not None:
                value = env.get(var)
                if value is None:
                    raise WebConfigError(f"web.{kind}_env: the environment variable {var} is not set")
                where = f"web.{kind}_env {var}"
            if value is not None and not value.strip():
                raise WebConfigError(f"{where}: the {kind} is empty")
            if kind == "token" and value is not None and len(value) < 16:
                raise WebConfigError(
                    f"{where}: the token is {len(value)} characters; use at least 16 "
                    "(e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(24))'`)"
                )
            found[kind] = value
        return Credentials(found["token"], found["password"], self.username)


def describe_error(exc: ValidationError, values: Mapping[str, Any], origins: Mapping[str, str]) -> str:
    """pydantic's first error as one line: ``web.<key>=<value> (from <origin>): <what is allowed>``."""
    error = exc.errors()[0]
    loc = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "invalid"))
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if not loc:  # a rule over several keys: its message names them
        return message
    key = loc[0]
    if error.get("type") == "extra_forbidden":
        return f"unknown key web.{key}; keys of [web] are: {', '.join(WebConfig.model_fields)}"
    origin = origins.get(key)
    label = f"web.{key}={values.get(key)!r}" + (f" (from {origin})" if origin else "")
    return f"{label}: {message}"
