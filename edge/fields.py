"""The one configuration idiom of the device (``edge.config``), its ``[mqtt]`` table
(``edge.mqtt.config``) and training (``train.config``): pydantic models, filled from layers (defaults,
a file, ``EMOTION_EDGE_*`` environment variables, command-line flags), checked in one pass, and one
``ConfigError`` whose message names the key (``mqtt.tls.ca_file``), the value, where the value came
from (the file, the variable, the command line) and what is allowed.

- ``Section`` is the base of every table: unknown keys are refused, types are strict (``true`` is
  not a number, ``1.5`` not a string), and text from the environment and flags is first turned into
  the field's type (``"yes"`` -> True, ``" 42 "`` -> 42, ``"a,b"`` -> a list, ``""``/``"none"`` unsets
  an optional key). Limits are pydantic's own (``Field(ge=..., le=...)``, ``Literal``).
- ``OneOf(registry)`` limits a ``str`` to a registry's names (and gives the JSON Schema its enum).
- ``FILE`` marks a ``str`` field as a file path: relative paths written in a file are taken relative
  to that file's folder (``Path`` fields count as file paths too).
- ``Rule(key, message)`` is what a check involving several keys raises; it is reported at ``key``.
- ``Layers`` collects the layers with each key's origin; ``Layers.validate(cls)`` returns the model
  or raises ``ConfigError``.
"""

from __future__ import annotations

import argparse
import difflib
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import annotated_types
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic_core import core_schema

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")

Key = tuple[str, ...]  # a dotted key as its parts: ("mqtt", "tls", "ca_file")
M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key, the value, its origin and what is
    allowed. A ValueError, so ``emotion-edge`` prints it as one line."""


class Rule(ValueError):
    """A check over several keys failed; reported at ``key`` (relative to the table that checks it)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


FILE = "file path"  # Annotated marker: a str field holding a file path


@dataclass(frozen=True)
class OneOf:
    """Annotated marker: a ``str`` that must be one of ``names`` (a registry: name -> what it is)."""

    names: Mapping[str, str] | tuple[str, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], Any]) -> Any:
        def check(value: str) -> str:
            if value not in self.names:
                raise ValueError(choices_text(self.names))
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Callable[[Any], Any]) -> Any:
        out = handler(schema)
        out["enum"] = list(self.names)
        return out


def choices_text(names: Iterable[str] | Mapping[str, str]) -> str:
    text = f"choose one of: {', '.join(names)}"
    if isinstance(names, Mapping):
        text += " (" + "; ".join(f"{n}: {what}" for n, what in names.items()) + ")"
    return text


class Section(BaseModel):
    """A table of the configuration (see the module's notes)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _from_text(cls, value: Any, info: ValidationInfo) -> Any:
        assert info.field_name is not None
        return coerce(value, cls.model_fields[info.field_name].annotation)


def _optional(hint: Any) -> tuple[bool, Any]:
    """(whether None is allowed, the type without None and without Annotated's metadata)."""
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return True, rest[0] if len(rest) == 1 else hint
    return False, hint


def coerce(value: Any, hint: Any) -> Any:
    """``value`` turned into the type ``hint`` where text (or a TOML number) says so unambiguously;
    anything else is returned as it is, for the strict check to refuse with the key named."""
    optional, base = _optional(hint)
    if optional and (value is None or (isinstance(value, str) and value.strip().lower() in ("", "none"))):
        return None
    text = value.strip() if isinstance(value, str) else None
    origin = typing.get_origin(base)
    if base is bool and text is not None and text.lower() in (*_TRUE, *_FALSE):
        return text.lower() in _TRUE
    if base is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if text is not None:
            try:
                return int(text)
            except ValueError:
                pass
    if base is float:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if text is not None:
            try:
                return float(text)
            except ValueError:
                pass
    # A TOML or environment literal such as camera 0, device id 42 or protocol 5 arrives as a number.
    textual = base is str or (origin is Literal and all(isinstance(a, str) for a in typing.get_args(base)))
    if textual and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if base is Path and isinstance(value, str):
        return Path(value).expanduser()
    if origin is list:
        (item,) = typing.get_args(base) or (Any,)
        if text is not None:
            value = [part.strip() for part in text.split(",") if part.strip()]
        if isinstance(value, list):
            return [coerce(v, item) for v in value]
    return value


# --- layers ---------------------------------------------------------------------------------------


def _model_of(hint: Any) -> type[BaseModel] | None:
    _, base = _optional(hint)
    return base if isinstance(base, type) and issubclass(base, BaseModel) else None


def _named_model_of(hint: Any) -> type[BaseModel] | None:
    """The model of a table of named tables (``dict[str, Model]``, e.g. ``[cameras.NAME]``), or None."""
    _, base = _optional(hint)
    args = typing.get_args(base) if typing.get_origin(base) is dict else ()
    inner = args[1] if len(args) == 2 else None
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _is_file_field(info: Any) -> bool:
    _, base = _optional(info.annotation)
    return base is Path or FILE in info.metadata


def fold(cls: type[BaseModel], table: Mapping[str, Any]) -> dict[str, Any]:
    """Nested tables may be written flat: ``tls_ca_file = x`` is ``tls = {ca_file = x}`` (that is
    how ``EMOTION_EDGE_MQTT_TLS_CA_FILE`` arrives); a flat key wins over the nested one."""
    out: dict[str, Any] = {}
    flat: list[tuple[str, str, Any]] = []
    for key, value in table.items():
        sub = _model_of(cls.model_fields[key].annotation) if key in cls.model_fields else None
        if sub is not None and isinstance(value, Mapping):
            out[key] = fold(sub, value)
            continue
        named = _named_model_of(cls.model_fields[key].annotation) if key in cls.model_fields else None
        if named is not None and isinstance(value, Mapping):
            out[key] = {n: fold(named, t) if isinstance(t, Mapping) else t for n, t in value.items()}
            continue
        nested = next(
            (n for n, f in cls.model_fields.items() if _model_of(f.annotation) and str(key).startswith(n + "_")),
            None,
        )
        if nested is None or key in cls.model_fields:
            out[key] = value
        else:
            flat.append((nested, str(key)[len(nested) + 1 :], value))
    for nested, key, value in flat:
        sub_model = _model_of(cls.model_fields[nested].annotation)
        assert sub_model is not None
        current = out.get(nested, {})
        if not isinstance(current, Mapping):
            current = {}
        out[nested] = {**current, **fold(sub_model, {key: value})}
    return out


@dataclass
class Layers:
    """Raw values, later layers winning key by key, and each key's origin for the messages."""

    raw: dict[str, Any] = field(default_factory=dict)
    origins: dict[Key, str] = field(default_factory=dict)

    def add(
        self,
        cls: type[BaseModel],
        table: Mapping[str, Any],
        origin: str,
        base_dir: Path | None = None,
        is_path: Callable[[Key, Any], bool] | None = None,
    ) -> Layers:
        """Merge ``table`` (for the model ``cls``). With ``base_dir`` (a file's folder), relative file
        paths in it are made relative to that folder; ``is_path`` may claim more keys as paths."""
        self._merge(cls, fold(cls, table), self.raw, (), origin, base_dir, is_path)
        return self

    def _merge(
        self,
        cls: type[BaseModel] | None,
        table: Mapping[str, Any],
        target: dict[str, Any],
        at: Key,
        origin: str,
        base_dir: Path | None,
        is_path: Callable[[Key, Any], bool] | None,
    ) -> None:
        for key, value in table.items():
            key = str(key)
            info = cls.model_fields.get(key) if cls is not None else None
            sub = _model_of(info.annotation) if info is not None else None
            here = (*at, key)
            if sub is not None and isinstance(value, Mapping):
                if not isinstance(target.get(key), dict):
                    target[key] = {}
                self.origins[here] = origin
                self._merge(sub, value, target[key], here, origin, base_dir, is_path)
                continue
            named = _named_model_of(info.annotation) if info is not None else None
            if named is not None and isinstance(value, Mapping):
                if not isinstance(target.get(key), dict):
                    target[key] = {}
                self.origins[here] = origin
                for name, table in value.items():
                    at_name: Key = (*here, str(name))
                    if isinstance(table, Mapping):
                        if not isinstance(target[key].get(name), dict):
                            target[key][name] = {}
                        self._merge(named, table, target[key][name], at_name, origin, base_dir, is_path)
                    else:
                        target[key][name] = table
                        self.origins[at_name] = origin
                continue
            if base_dir is not None and _relative(value):
                claimed = is_path is not None and is_path(here, value)
                if claimed or (info is not None and _is_file_field(info)):
                    value = os.path.normpath(base_dir / Path(value).expanduser())
            target[key] = value
            self.origins[here] = origin

    def validate(self, cls: type[M], at: Key = ()) -> M:
        """The model, or ConfigError for the first problem (the others are counted)."""
        try:
            return cls.model_validate(self.raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            first = explain(errors[0], cls, self.origins, at)
            more = f" (and {len(errors) - 1} more problem{'s' * (len(errors) > 2)})" if len(errors) > 1 else ""
            raise ConfigError(first + more) from None


def _relative(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not Path(value).expanduser().is_absolute()


# --- command-line flags ---------------------------------------------------------------------------


def choices_of(info: Any) -> tuple[str, ...] | None:
    """A field's allowed names: a ``Literal``'s values or a ``OneOf`` registry's."""
    _, base = _optional(info.annotation)
    if typing.get_origin(base) is Literal:
        return tuple(str(a) for a in typing.get_args(base))
    one_of = next((m for m in info.metadata if isinstance(m, OneOf)), None)
    return tuple(one_of.names) if one_of is not None else None


def add_flags(
    parser: argparse.ArgumentParser,
    cls: type[BaseModel],
    names: Mapping[str, str] | None = None,
    repeated: Iterable[str] = (),
) -> None:
    """One flag per field of ``cls``: ``--field-name`` (or ``names[field]``), help from the field's
    description and default, choices from a ``Literal`` or ``OneOf``; booleans get ``--x``/``--no-x``;
    lists take comma-separated values, or one value per flag, repeated, for the fields in ``repeated``.
    Values stay text: the configuration converts and checks them, naming the flag (``flag_layers``)."""
    names, repeated = names or {}, set(repeated)
    flags = {name: names.get(name, "--" + name.replace("_", "-")) for name in cls.model_fields}
    parser.set_defaults(config_flags=flags)
    for name, info in cls.model_fields.items():
        flag = flags[name]
        _, base = _optional(info.annotation)
        default = info.get_default(call_default_factory=True)
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        text = (info.description or name.replace("_", " ")).replace("%", "%%")
        if name in repeated:
            text += "; repeat the flag for several"
        help_text = f"{text} (default: {shown!s})" if shown not in ("", None) else text
        kw: dict[str, Any] = {"dest": f"field_{name}", "default": None, "help": help_text}
        if base is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif name in repeated:
            parser.add_argument(flag, action="append", metavar=name.rstrip("s").upper(), **kw)
        elif typing.get_origin(base) is list:
            parser.add_argument(flag, metavar="A,B,...", **kw)
        else:
            metavar = {int: "N", float: "X"}.get(base, name.upper())
            options = choices_of(info)
            parser.add_argument(flag, choices=options, metavar=None if options else metavar, **kw)


def flag_layers(args: argparse.Namespace, cls: type[BaseModel], layers: Layers) -> Layers:
    """The flags ``add_flags`` made, those given, added to ``layers`` with their flag as the origin."""
    flags: Mapping[str, str] = getattr(args, "config_flags", {})
    for name in cls.model_fields:
        value = getattr(args, f"field_{name}", None)
        if value is not None:
            layers.add(cls, {name: value}, f"command line {flags.get(name, name)}")
    return layers


# --- messages -------------------------------------------------------------------------------------

_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "is_instance_of": "a file path",
    "list_type": "a list",
}


def dotted(key: Iterable[str | int]) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _field(cls: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[type[BaseModel] | None, Any]:
    """The model holding the last key of ``loc`` and that key's FieldInfo (None where unknown)."""
    model: type[BaseModel] | None = cls
    info = None
    name_next = False  # the part after a table of named tables is a name, not a key
    for i, part in enumerate(loc):
        if name_next or model is None or isinstance(part, int):
            name_next = False
            continue
        info = model.model_fields.get(part)
        if i == len(loc) - 1 or info is None:
            break
        named = _named_model_of(info.annotation)
        model, name_next = (named, True) if named is not None else (_model_of(info.annotation), False)
    return model, info


def _origin(origins: Mapping[Key, str], loc: tuple[str | int, ...]) -> str | None:
    key = tuple(p for p in loc if isinstance(p, str))
    while key:
        if key in origins:
            return origins[key]
        key = key[:-1]
    return None


def _range(info: Any, name: str) -> str:
    low = high = ""
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            low = f"{m.ge} <= "
        elif isinstance(m, annotated_types.Gt):
            low = f"{m.gt} < "
        elif isinstance(m, annotated_types.Le):
            high = f" <= {m.le}"
        elif isinstance(m, annotated_types.Lt):
            high = f" < {m.lt}"
    return f"{low}{name}{high}"


def suggest(word: str, options: Iterable[str]) -> str | None:
    """The closest of ``options`` to a misspelled ``word`` (a longer name it begins counts too)."""
    options = list(options)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    started = [o for o in options if o.startswith(word + "_")]
    return close[0] if close else (started[0] if len(started) == 1 else None)


# A value is shown in the message as its repr (escapes visible, never sent raw to a terminal), cut
# here: a 70,000-character client id or a 10 MB URI is named by its start and its length.
SHOWN_VALUE = 80


def _cut(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_VALUE else f"{text[:SHOWN_VALUE]}... ({len(text)} characters)"


def explain(err: Mapping[str, Any], cls: type[BaseModel], origins: Mapping[Key, str], at: Key = ()) -> str:
    """One pydantic error as our message: the dotted key, the value, its origin, what is allowed."""
    loc: tuple[str | int, ...] = tuple(err["loc"])
    kind, value = err["type"], err.get("input")
    error = (err.get("ctx") or {}).get("error")
    if isinstance(error, Rule):
        loc = (*loc, error.key)
    name = dotted((*at, *loc))
    origin = _origin(origins, loc)
    source = f" (from {origin})" if origin else ""
    label = f"{name}={_cut(value)}{source}"
    model, info = _field(cls, loc)
    if isinstance(error, Rule):
        return f"{error} ({name} from {origin})" if origin else str(error)
    if kind == "extra_forbidden":
        keys = list(model.model_fields) if model is not None else []
        what = "section" if model is cls and getattr(cls, "SECTIONED", False) else "key"
        shown = f"[{name}]" if what == "section" else name
        parent = dotted((*at, *loc[:-1]))
        listing = f"{what}s{f' of [{parent}]' if parent else ''} are: {', '.join(keys)}"
        guess = suggest(str(loc[-1]), keys)
        hint = ""
        if guess is not None:
            hint = f"; did you mean {dotted((*at, *loc[:-1], guess))}?"
            if origin and origin.startswith(ENV_PREFIX):
                hint = f"; did you mean {ENV_PREFIX}{'_'.join((*at, *map(str, loc[:-1]), guess)).upper()}?"
        return f"unknown {what} {shown}{source}; {listing}{hint}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"[{name}]{source} must be a table of keys, got {value!r}"
    if kind in _EXPECTED:
        return f"{label}: expected {_EXPECTED[kind]}"
    if kind == "literal_error" and info is not None:
        _, base = _optional(info.annotation)
        if typing.get_origin(base) is list:  # an item of a list of choices
            (base,) = typing.get_args(base)
        return f"{label} is not allowed; {choices_text(str(a) for a in typing.get_args(base))}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal") and info is not None:
        return f"{label} is out of range; allowed: {_range(info, name)}"
    if kind in ("too_short", "string_too_short") and not value:
        return f"{label} is not allowed: it is empty"
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        return f"{label} is not allowed: {err['msg'].lower()}"
    if isinstance(value, Mapping):  # a check of a whole table: its message names the keys; no values shown
        return f"{error or err['msg']}" + (f" ({name} from {origin})" if origin else "")
    if error is not None:
        sep = "; " if str(error).startswith("choose") else ": "
        return f"{label} is not allowed{sep}{error}"
    return f"{label}: {err['msg']}"


ENV_PREFIX = "EMOTION_EDGE_"
