"""The device configuration: TOML, layered and validated in one place.

Layers, later ones winning: the defaults below, then the TOML file, then ``EMOTION_EDGE_<SECTION>_<KEY>``
environment variables (``EMOTION_EDGE_SOURCE_URI=/dev/video2``), then command-line flags. Every
value passes through ``_validate_section``, which names the key, where the value came from and what
is allowed. Relative paths written in the file are relative to the file's folder (as in ``[mqtt]``);
from the environment and flags, relative to the working directory.

The ``[mqtt]`` table belongs to the MQTT publisher (``edge.mqtt``), which validates it; here it is
only checked to be a table and passed on untouched (environment values for it are parsed as TOML
literals, so ``EMOTION_EDGE_MQTT_PORT=1884`` arrives as an integer).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.contract import ContractError, CropPolicy
from edge.fields import check_limits, choices, coerce, limits
from edge.registry import BACKEND_NAMES, DETECTOR_KINDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ENV_PREFIX = "EMOTION_EDGE_"
EXAMPLE = "systemd/emotion-edge.toml"


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key, its origin and what is allowed."""


PATH = {"path": True}  # field metadata: a file path, resolved against the config file's folder


def _crop_margin_error(value: Any) -> str | None:
    # The contract owns the margin's limits; asking it keeps them in one place.
    try:
        CropPolicy(margin=value)
    except ContractError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class SourceConfig:
    uri: str = "/dev/video0"
    width: int = field(default=640, metadata=limits(16, 8192))
    height: int = field(default=480, metadata=limits(16, 8192))
    fps: float = field(default=30.0, metadata=limits(0, 1000, low_open=True))
    fourcc: str = "MJPG"  # asked of V4L2 cameras; "" keeps the camera's default
    loop: bool = False  # files and folders start again at the end
    # Files and folders: true plays them at their own frame rate like a camera (stale frames are
    # dropped); false processes every frame as fast as the pipeline goes.
    realtime: bool = True
    retry_initial_s: float = field(default=0.5, metadata=limits(0, 60, low_open=True))
    retry_max_s: float = field(default=10.0, metadata=limits(0, 3600, low_open=True))
    max_retries: int = field(default=0, metadata=limits(0))  # 0 retries forever
    bad_frame_limit: int = field(default=5, metadata=limits(1, 1000))


@dataclass(frozen=True)
class DetectorConfig:
    kind: str = field(default="yunet", metadata=choices(*DETECTOR_KINDS))
    model: str = field(
        default="models/face_detection_yunet.onnx", metadata=PATH
    )  # YuNet only: `emotion-edge models fetch` puts it here
    max_side: int = field(default=320, metadata=limits(64, 4096))  # frames are downscaled to this longer side
    score_threshold: float = field(default=0.7, metadata=limits(0, 1, low_open=True))
    nms_threshold: float = field(default=0.3, metadata=limits(0, 1, low_open=True))
    min_face: int = field(default=24, metadata=limits(1, 4096))  # in frame pixels
    max_faces: int = field(default=8, metadata=limits(1, 256))
    threads: int = field(default=0, metadata=limits(0, 256))  # OpenCV threads; 0 keeps OpenCV's choice


@dataclass(frozen=True)
class ModelConfig:
    path: str = field(default="models/emotion-edge-fp32.onnx", metadata=PATH)
    backend: str = field(default="auto", metadata=choices(*BACKEND_NAMES))
    threads: int = field(default=1, metadata=limits(0, 256))  # ONNX Runtime intra-op threads; 0: all cores
    # Overrides of the crop policy the model carries; unset uses the model's own.
    crop_margin: float | None = field(default=None, metadata={"check": _crop_margin_error})
    crop_align: bool | None = None
    # TensorRT backend: the engine is a cache of model.path on this GPU (see README, Jetson guide).
    engine: str | None = field(default=None, metadata=PATH)  # unset: <engine_dir>/<model>.<precision>.engine
    engine_dir: str | None = field(
        default=None, metadata=PATH
    )  # unset: beside the model; the service uses its state dir
    precision: str = field(default="int8", metadata=choices("int8", "fp16"))
    rebuild_engine: bool = True  # a missing or stale engine is rebuilt on start instead of refused


@dataclass(frozen=True)
class TrackerConfig:
    iou_threshold: float = field(default=0.3, metadata=limits(0, 1, low_open=True))
    grace_s: float = field(default=0.5, metadata=limits(0, 60))


@dataclass(frozen=True)
class SmootherConfig:
    alpha: float = field(default=0.4, metadata=limits(0, 1, low_open=True))
    hysteresis: float = field(default=0.1, metadata=limits(0, 0.99))


@dataclass(frozen=True)
class StatsConfig:
    interval_s: float = field(default=10.0, metadata=limits(0, 86400, low_open=True))
    window: int = field(default=300, metadata=limits(2, 1_000_000))


@dataclass(frozen=True)
class OutputConfig:
    show: bool = False  # draw results in a window (needs an OpenCV with GUI and a display)
    record: str = field(default="", metadata=PATH)  # write the annotated stream to this video file
    results: str = field(default="", metadata=PATH)  # append every frame's results to this JSON-lines file


@dataclass(frozen=True)
class DeviceConfig:
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smoother: SmootherConfig = field(default_factory=SmootherConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    mqtt: dict[str, Any] = field(default_factory=dict)
    # The config file's folder: what relative paths in the file (mqtt's too) are relative to.
    base_dir: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The sections as plain tables (``base_dir`` is not configuration and is left out)."""
        data = dataclasses.asdict(self)
        del data["base_dir"]
        return data


PASS_THROUGH = ("mqtt",)  # tables validated by their owner, not here
_HINTS = typing.get_type_hints(DeviceConfig)
SECTIONS: dict[str, type] = {
    f.name: _HINTS[f.name] for f in dataclasses.fields(DeviceConfig) if f.name not in (*PASS_THROUGH, "base_dir")
}

# (section, key) -> where the value came from, for error messages
Origins = dict[tuple[str, str], str]


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> DeviceConfig:
    """Defaults, then the file at ``path``, then ``env`` (default: ``os.environ``), then ``overrides``
    (``{"source": {"uri": ...}}`` from flags; None values are ignored), validated."""
    raw: dict[str, dict[str, Any]] = {}
    origins: Origins = {}
    base_dir = None
    if path is not None:
        base_dir = Path(path).parent
        _merge(raw, origins, _resolve_paths(read_toml(Path(path)), base_dir), f"file {path}")
    env_layer = from_env(os.environ if env is None else env)
    _merge(raw, origins, env_layer, "environment")
    for section, values in env_layer.items():
        for key in values:
            origins[(section, key)] = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
    if overrides:
        flags = {s: {k: v for k, v in kv.items() if v is not None} for s, kv in overrides.items()}
        _merge(raw, origins, flags, "command line")
    config = validate(raw, origins)
    return dataclasses.replace(config, base_dir=str(base_dir) if base_dir is not None else None)


def read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        problem = "is not a file" if path.exists() else "not found"
        raise ConfigError(f"config file {path} {problem}; start from the example {EXAMPLE}")
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc


def _is_relative_file(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not Path(value).expanduser().is_absolute()


def _resolve_paths(layer: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """The file's relative paths made relative to its folder; a source URI counts when it is a
    plain path (not a camera index, a device or a URL)."""
    for section, cls in SECTIONS.items():
        values = layer.get(section)
        if not isinstance(values, dict):
            continue
        for f in dataclasses.fields(cls):
            value = values.get(f.name)
            if f.metadata.get("path") and _is_relative_file(value):
                values[f.name] = os.path.normpath(base_dir / str(value))
        uri = values.get("uri") if section == "source" else None
        if _is_relative_file(uri) and not str(uri).isdigit() and "://" not in str(uri):
            values["uri"] = os.path.normpath(base_dir / str(uri))
    return layer


def from_env(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``EMOTION_EDGE_<SECTION>_<KEY>`` variables as a nested dict. Variables whose next word is
    not a section name (``EMOTION_EDGE_TEST_MODEL``) are not configuration and are left alone."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        for section in (*SECTIONS, *PASS_THROUGH):
            if rest.startswith(section + "_") and len(rest) > len(section) + 1:
                key = rest[len(section) + 1 :]
                parsed = _toml_literal(value) if section in PASS_THROUGH else value
                out.setdefault(section, {})[key] = parsed
                break
    return out


def _toml_literal(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _merge(raw: dict[str, dict[str, Any]], origins: Origins, layer: Mapping[str, Any], origin: str) -> None:
    for section, values in layer.items():
        if section not in SECTIONS and section not in PASS_THROUGH:
            raise ConfigError(
                f"unknown section [{section}] (from {origin}); sections are: {', '.join([*SECTIONS, *PASS_THROUGH])}"
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{section}] (from {origin}) must be a table of keys, got {values!r}")
        target = raw.setdefault(section, {})
        for key, value in values.items():
            target[key] = value
            origins[(section, key)] = origin


def validate(raw: Mapping[str, Mapping[str, Any]], origins: Origins | None = None) -> DeviceConfig:
    """The one place where configuration values are checked."""
    origins = origins or {}
    sections = {name: _validate_section(name, cls, raw.get(name, {}), origins) for name, cls in SECTIONS.items()}
    mqtt = raw.get("mqtt", {})
    if not isinstance(mqtt, Mapping):
        raise ConfigError(f"[mqtt] must be a table, got {mqtt!r}")
    config = DeviceConfig(**sections, mqtt=dict(mqtt))
    s = config.source
    if s.retry_max_s < s.retry_initial_s:
        raise ConfigError(
            f"source.retry_max_s={s.retry_max_s} is below source.retry_initial_s={s.retry_initial_s}; "
            "the longest wait must be at least the first"
        )
    return config


def _validate_section(section: str, cls: type, values: Mapping[str, Any], origins: Origins) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        where = origins.get((section, unknown[0]), "configuration")
        raise ConfigError(
            f"unknown key {section}.{unknown[0]} (from {where}); keys of [{section}] are: {', '.join(fields)}"
        )
    checked: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{section}.{key}"
        where = origins.get((section, key), "configuration")
        value = coerce(name, value, hints[key], error=ConfigError, origin=where)
        check_limits(name, value, fields[key].metadata, error=ConfigError, origin=where)
        checked[key] = value
    return cls(**checked)


def describe_defaults() -> str:
    """The defaults as TOML text, for `emotion-edge run --print-config` and the example file."""
    return to_toml(DeviceConfig().to_dict())


def to_toml(data: Mapping[str, Any]) -> str:
    """A small TOML writer for this configuration's shape (tables of scalars, and nested tables under mqtt)."""
    lines: list[str] = []

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        raise TypeError(f"cannot write {value!r} as TOML")

    def table(name: str, values: Mapping[str, Any]) -> None:
        lines.append(f"[{name}]")
        nested = []
        for key, value in values.items():
            if isinstance(value, Mapping):
                nested.append((f"{name}.{key}", value))
            elif value is None:
                lines.append(f"# {key} = (unset)")
            else:
                lines.append(f"{key} = {scalar(value)}")
        lines.append("")
        for sub_name, sub in nested:
            table(sub_name, sub)

    for section, values in data.items():
        table(section, values)
    return "\n".join(lines)
