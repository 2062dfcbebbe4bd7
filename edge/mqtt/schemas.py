"""The JSON Schema of each payload, shipped in edge/schemas (one file per topic kind)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCHEMAS = ("availability", "faces", "emotion", "stats", "presence", "discovery")


def load_schema(kind: str) -> dict[str, Any]:
    """The schema of ``kind`` (one of ``SCHEMAS``) as a dict."""
    if kind not in SCHEMAS:
        raise ValueError(f"no schema for {kind!r}; schemas: {', '.join(SCHEMAS)}")
    text = resources.files("edge").joinpath("schemas").joinpath(f"{kind}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
