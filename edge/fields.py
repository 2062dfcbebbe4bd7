"""Typed values for configuration dataclasses: turn a raw TOML, environment or flag value into the
field's type, then check it against the limits in the field's metadata.

The device configuration (``edge.config``) and the ``[mqtt]`` table (``edge.mqtt.config``) both
validate through these two functions, so a key is read the same way wherever it lives. Messages
name the key, the value and, when known, where the value came from.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def limits(low: float | None = None, high: float | None = None, *, low_open: bool = False) -> dict[str, Any]:
    """Field metadata: ``low <= value <= high`` (``low < value`` with ``low_open``)."""
    return {"low": low, "high": high, "low_open": low_open}


def choices(*values: str) -> dict[str, Any]:
    """Field metadata: the value must be one of these."""
    return {"choices": values}


def _label(name: str, value: Any, origin: str | None) -> str:
    return f"{name}={value!r}" + (f" (from {origin})" if origin else "")


def coerce(
    name: str,
    value: Any,
    hint: Any,
    *,
    error: type[ValueError],
    origin: str | None = None,
    base_dir: Path | None = None,
) -> Any:
    """``value`` as the type ``hint`` (bool, int, float, str, Path, or one of them or None).

    Text is accepted for every type, because environment variables and flags are text; an empty
    text or ``none`` unsets an optional key. Relative paths are taken relative to ``base_dir``.
    """
    args = typing.get_args(hint)
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    base = next(a for a in args if a is not type(None)) if optional else hint
    if optional and (value is None or (isinstance(value, str) and value.strip().lower() in ("", "none"))):
        return None

    def wrong(expected: str) -> ValueError:
        return error(f"{_label(name, value, origin)}: expected {expected}")

    text = value.strip() if isinstance(value, str) else None
    if base is bool:
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in (*_TRUE, *_FALSE):
            return text.lower() in _TRUE
        raise wrong("true or false")
    if base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if text is not None:
            try:
                return int(text)
            except ValueError:
                pass
        raise wrong("a whole number")
    if base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if text is not None:
            try:
                return float(text)
            except ValueError:
                pass
        raise wrong("a number")
    if base is str:
        if isinstance(value, str):
            return value
        # A TOML or environment literal such as camera 0 or device id 42 arrives as a number.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise wrong("a string")
    if base is Path:
        if not isinstance(value, (str, Path)):
            raise wrong("a file path")
        path = Path(value).expanduser()
        return base_dir / path if base_dir is not None and not path.is_absolute() else path
    raise error(f"{name}: no validation rule for type {hint!r}")  # a bug in the calling module


def check_limits(
    name: str, value: Any, meta: Mapping[str, Any], *, error: type[ValueError], origin: str | None = None
) -> None:
    """Apply the field metadata: ``check`` (a function returning a problem or None), ``choices``
    and the ``low``/``high`` range."""
    if value is None:
        return
    label = _label(name, value, origin)
    check = meta.get("check")
    problem = check(value) if check is not None else None
    if problem:
        raise error(f"{label} is not allowed: {problem}")
    allowed = meta.get("choices")
    if allowed and value not in allowed:
        raise error(f"{label} is not allowed; choose one of: {', '.join(allowed)}")
    low, high, low_open = meta.get("low"), meta.get("high"), meta.get("low_open", False)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        lower = "" if low is None else f"{low} {'<' if low_open else '<='} "
        upper = "" if high is None else f" <= {high}"
        raise error(f"{label} is out of range; allowed: {lower}{name}{upper}")
