"""Messages anyone on the broker can publish, made safe to read and to print.

The subscriber tools (``watch``, ``mqtt devices``) read topics that any client allowed on the broker
can write, so every payload is untrusted: it is parsed only within ``MAX_PAYLOAD`` bytes and
``MAX_DEPTH`` levels of nesting (deeper JSON exhausts the parser's stack), only as strict JSON
(``NaN``, ``Infinity`` and numbers too large for a float are refused: no JSON reader takes them
back), and every string shown on a terminal is cleaned of what can act on the terminal or the
reader: control characters (escape sequences that clear the screen or set the window title),
format characters (zero-width, byte-order mark, bidirectional overrides and isolates: Unicode
category Cf), line and paragraph separators (Zl, Zp) and lone surrogates (Cs), then cut to a
length. One module, so both tools apply the same rules.
"""

from __future__ import annotations

import json
import math
import unicodedata
from typing import Any

MAX_PAYLOAD = 64 * 1024  # bytes; the device's largest message (faces, 8 faces) is under 3 KiB
MAX_DEPTH = 16  # nesting of JSON arrays and objects; the contract needs 4
MAX_CELL = 40  # characters of any one value shown in a table
# Cc: C0/C1 controls and DEL (ESC, CSI, BEL, newline); Cf: format (U+200B, U+FEFF, U+061C, the bidi
# embeddings, overrides and isolates); Zl/Zp: U+2028/U+2029; Cs: lone surrogates (unprintable).
HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


class Unusable(ValueError):
    """A payload that is not used: too large, too deeply nested, not UTF-8 or not strict JSON."""


def clean(text: object, limit: int | None = MAX_CELL) -> str:
    """``text`` without the characters in ``HIDDEN``, cut to ``limit`` characters (an ellipsis
    marks the cut): safe to print on a terminal, one line, reading as what it holds."""
    out = str(text)
    if not out.isprintable():  # the fast path: printable text holds none of HIDDEN
        out = "".join(ch for ch in out if ch == " " or unicodedata.category(ch) not in HIDDEN)
    return out if limit is None or len(out) <= limit else out[: max(0, limit - 1)] + "…"


def clean_json(value: Any) -> Any:
    """Every string in a parsed payload (keys too) cleaned, nothing cut."""
    if isinstance(value, str):
        return clean(value, None)
    if isinstance(value, dict):
        return {clean(k, None): clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    return value


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when JSON ``text`` nests arrays and objects deeper than ``limit`` (checked before parsing,
    which would otherwise recurse once per level and can exhaust the stack)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{clean(text, 20)} is too large for a number")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_size(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD:
        raise Unusable(f"{len(payload)} bytes, over the {MAX_PAYLOAD} this tool reads")


def parse_text(text: str) -> Any:
    """``text`` as strict JSON within ``MAX_DEPTH``; raises ``Unusable`` saying why not."""
    if too_deep(text):
        raise Unusable(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_no_constants, parse_float=_finite)
    except (ValueError, RecursionError) as exc:  # ValueError includes JSONDecodeError and over-long ints
        raise Unusable(f"not valid JSON ({clean(exc, 80)})") from exc


def parse_json(payload: bytes) -> Any:
    """``payload`` as strict JSON within the limits; raises ``Unusable`` saying why not."""
    check_size(payload)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unusable("not UTF-8") from exc
    return parse_text(text)


def dumps(value: Any) -> str:
    """One line of strict JSON (never ``NaN`` or ``Infinity``: ``ValueError`` instead)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def field(value: Any, key: str) -> Any:
    """``value[key]`` when ``value`` is an object, else None: a payload's shape is not trusted."""
    return value.get(key) if isinstance(value, dict) else None
