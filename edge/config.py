"""The device configuration: one TOML file, layered and validated in one pass (``edge.fields``).

Layers, later ones winning: the defaults below, then the TOML file, then ``EMOTION_EDGE_<SECTION>_<KEY>``
environment variables (``EMOTION_EDGE_SOURCE_URI=/dev/video2``, ``EMOTION_EDGE_MQTT_TLS_CA_FILE=...``),
then command-line flags. Errors name the key, the value, where it came from and what is allowed.
Relative paths written in the file are relative to the file's folder; from the environment and
flags, relative to the working directory. ``[mqtt]`` is a section like the others (its model lives
with the publisher, ``edge.mqtt.config``).

Which ``EMOTION_EDGE_*`` variables are configuration: those whose next word names a section. Those
that are not configuration are left alone: ``EMOTION_EDGE_CONFIG`` (the file's path),
``EMOTION_EDGE_CACHE``, ``EMOTION_EDGE_MQTT_PASSWORD`` (the usual holder of ``mqtt.auth.password_env``),
``EMOTION_EDGE_WEB_TOKEN`` and ``EMOTION_EDGE_WEB_PASSWORD`` (of ``web.token_env``, ``web.password_env``),
``EMOTION_EDGE_TEST_*``, and any whose next word is not close to a section name. A variable whose
next word is close to one (``EMOTION_EDGE_SMOTHER_ALPHA``) is a misspelling and refused, with the
closest valid name.

A new section is a model and one line in ``DeviceConfig``. ``python -m edge.config`` prints the JSON
Schema of the file (docs/config.schema.json, for editor completion).
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic.json_schema import GenerateJsonSchema

from edge import catalog, paths
from edge.contract import ContractError, CropPolicy
from edge.fields import ENV_PREFIX, FILE, ConfigError, Key, Layers, OneOf, Rule, Section
from edge.mqtt.config import MqttConfig
from edge.registry import BACKENDS, DETECTORS
from edge.web.config import WebConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["ConfigError", "DeviceConfig", "load_config", "to_toml", "validate"]

EXAMPLE = paths.EXAMPLE_CONFIG
SCHEMA = "docs/config.schema.json"
# EMOTION_EDGE_<these> are not configuration (the last three: the usual holders of *_env secrets)
NOT_CONFIG = ("CONFIG", "CACHE", "MQTT_PASSWORD", "WEB_TOKEN", "WEB_PASSWORD")
NOT_CONFIG_PREFIXES = ("TEST_",)
FilePath = Annotated[str, FILE]
# What `auto` means for detector.interval and model.max_hz: ten times a second (edge.pipeline.Cadence).
AUTO_DETECT_HZ = 10.0
AUTO_CLASSIFY_HZ = 10.0
# Faces of near-equal size swapped the main face with a pixel of the detector's jitter, 34-46
# times in 10 s on the 4-face bench clips, every swap a change of the published person; with a
# fifth of area as the margin, 8-12 (README, #23).
MAIN_FACE_MARGIN = 0.2


class SourceConfig(Section):
    uri: str = Field(
        "/dev/video0",
        description="/dev/videoN or N (V4L2), csi://N (Jetson CSI), rtsp://... or http(s)://..., a video file, "
        "a folder of images, picamera2://N (Raspberry Pi)",
    )
    width: int = Field(640, ge=16, le=8192)
    height: int = Field(480, ge=16, le=8192)
    fps: float = Field(30.0, gt=0, le=1000)
    fourcc: str = Field("MJPG", description="asked of V4L2 cameras; empty keeps the camera's default")
    loop: bool = Field(False, description="files and folders start again at the end")
    realtime: bool = Field(
        True,
        description="files and folders: play at their own frame rate like a camera (stale frames dropped); "
        "false processes every frame as fast as the pipeline goes",
    )
    retry_initial_s: float = Field(0.5, gt=0, le=60, description="a failed source is reopened after this, doubling")
    retry_max_s: float = Field(10.0, gt=0, le=3600, description="...up to this")
    max_retries: int = Field(0, ge=0, description="reopen attempts in a row before giving up; 0 retries forever")
    bad_frame_limit: int = Field(5, ge=1, le=1000, description="unreadable frames in a row that count as a failure")
    wait_for_file: bool = Field(
        False,
        description="a file or folder source that does not exist at start is waited for (with the retry backoff) "
        "instead of exit 2; cameras and streams are always waited for",
    )
    first_frame_timeout_s: float = Field(
        20.0,
        gt=0,
        le=3600,
        description="a source that opened but gave no frame this long is reported (systemd STATUS, an error in the "
        "log) instead of holding the start silently",
    )

    @model_validator(mode="after")
    def _waits(self) -> SourceConfig:
        if self.retry_max_s < self.retry_initial_s:
            raise Rule(
                "retry_max_s",
                f"source.retry_max_s={self.retry_max_s} is below source.retry_initial_s={self.retry_initial_s}; "
                "the longest wait must be at least the first",
            )
        return self


class DetectorConfig(Section):
    kind: Annotated[str, OneOf(DETECTORS)] = "yunet"
    model: FilePath = Field(
        paths.DETECTOR, description="YuNet (every yunet kind): `emotion-edge models fetch` puts it here"
    )
    max_side: int = Field(320, ge=64, le=4096, description="frames are downscaled to this longer side for detection")
    score_threshold: float = Field(0.7, gt=0, le=1)
    nms_threshold: float = Field(0.3, gt=0, le=1)
    min_face: int = Field(24, ge=1, le=4096, description="smallest face kept, in frame pixels")
    max_faces: int = Field(8, ge=1, le=256, description="the largest faces are kept")
    threads: int = Field(
        0,
        ge=0,
        le=256,
        description="OpenCV's threads, or ONNX Runtime's for yunet-onnxruntime; 0: the library's choice",
    )
    interval: int | Literal["auto"] = Field(
        "auto",
        description="run the detector every this many frames (the tracker carries the boxes between); 1: every "
        "frame; auto: ten times a second, five while every face in view is still and its label clear (a face "
        "that appears is found within 0.1 s)",
    )
    fps: float | None = Field(
        None,
        gt=0,
        le=1000,
        description="run the detector this many times a second instead, half that while every face in view is "
        "still and its label clear (leave interval auto)",
    )

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> Any:
        # A whole number or "auto", also as text from the environment or a flag.
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000):
            return value
        raise ValueError('a whole number of frames from 1 to 1000, or "auto"')

    @model_validator(mode="after")
    def _one_cadence(self) -> DetectorConfig:
        if self.fps is not None and self.interval != "auto":
            raise Rule(
                "fps",
                f"detector.fps={self.fps} and detector.interval={self.interval} both set how often the detector "
                "runs; set one of them (leave interval auto)",
            )
        return self


class ModelConfig(Section):
    path: FilePath = Field(paths.MODEL, description="the emotion model (.onnx); `name` picks a shipped one instead")
    name: str = Field(
        "",
        description="a shipped model by name (`emotion-edge models`: ferplus, fer2013, NAME-int8, NAME-fp32); "
        "it replaces path's file, in path's folder and at path's precision unless the name gives one",
    )
    backend: Annotated[str, OneOf(BACKENDS)] = "auto"
    threads: int = Field(1, ge=0, le=256, description="ONNX Runtime intra-op threads; 0: all cores")
    crop_margin: float | None = Field(None, description="overrides the model's crop margin (experiments only)")
    crop_align: bool | None = Field(None, description="overrides the model's eye alignment (experiments only)")
    engine: Annotated[str | None, FILE] = Field(
        None, description="TensorRT engine; unset: <engine_dir>/<model>.<precision>.engine"
    )
    engine_dir: Annotated[str | None, FILE] = Field(
        None, description="where engines are cached; unset: beside the model (the service uses its state dir)"
    )
    precision: Literal["int8", "fp16"] = "int8"
    rebuild_engine: bool = Field(True, description="a missing or stale engine is rebuilt on start instead of refused")
    max_hz: float | Literal["auto"] = Field(
        "auto",
        description="classify each tracked face at most this many times a second, a still one whose label is "
        "clear at half that (batched; a new face, or one that moved or grew a lot, at once; the smoother keeps "
        "its last probabilities between); 0: every frame; auto: 10",
    )

    @field_validator("max_hz", mode="before")
    @classmethod
    def _max_hz(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip() != "auto":
            value = _number(value)
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if value == "auto" or (isinstance(value, float) and 0 <= value <= 1000):
            return value
        raise ValueError('a number of classifications per second from 0 (every frame) to 1000, or "auto"')

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: str) -> str:
        if value:
            catalog.entry(value)  # CatalogError (a ValueError) lists the names
        return value

    @model_validator(mode="before")
    @classmethod
    def _name_picks_the_file(cls, data: Any) -> Any:
        # Resolving is idempotent (same folder, same precision), so a printed and reloaded config
        # names the same file.
        if not isinstance(data, dict):
            return data
        name, path = data.get("name"), data.get("path", paths.MODEL)
        if isinstance(path, str) and path in catalog.names():  # `--model fer2013`: a name where a path goes
            name, path = path, paths.MODEL
        if isinstance(name, str) and name in catalog.names():  # an unknown name is refused by its own key
            data = {**data, "path": str(catalog.resolve(name, path if isinstance(path, str) else paths.MODEL))}
        return data

    @field_validator("crop_margin")
    @classmethod
    def _margin(cls, value: float | None) -> float | None:
        # The contract owns the margin's limits; asking it keeps them in one place.
        if value is not None:
            try:
                CropPolicy(margin=value)
            except ContractError as exc:
                raise ValueError(str(exc)) from None
        return value


class TrackerConfig(Section):
    iou_threshold: float = Field(0.3, gt=0, le=1, description="overlap that continues a face's track")
    grace_s: float = Field(0.5, ge=0, le=60, description="a face unseen this long loses its id")
    main_face_margin: float = Field(
        MAIN_FACE_MARGIN,
        ge=0,
        le=10,
        description="the main face (the one the emotion topic follows) passes to another face only when a detection "
        "measures it this much larger in area (0.2: a fifth, a tenth in width); 0: always the largest",
    )


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


class MotionConfig(Section):
    enabled: bool | Literal["auto"] = Field(
        "auto",
        description="skip the detector while nothing moves and no face is tracked (the gate then looks at every other "
        "frame); auto: on unless detector.interval is 1 (every frame)",
    )
    threshold: float = Field(25.0, gt=0, lt=255, description="grey levels a pixel must change by to count as moved")
    min_area: float = Field(0.002, ge=0, le=1, description="fraction of the picture that must move")
    alpha: float = Field(
        0.05,
        gt=0,
        le=1,
        description="how fast the background takes in slow changes, per frame the gate looks at "
        "(every other one while no face is tracked)",
    )
    recheck_s: float = Field(
        2.0, ge=0, le=3600, description="the detector still runs this often while nothing moves (0: never)"
    )

    @field_validator("enabled", mode="before")
    @classmethod
    def _enabled(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() != "auto":
            text = value.strip().lower()
            if text in ("true", "yes", "on", "1", "false", "no", "off", "0"):
                return text in ("true", "yes", "on", "1")
        if isinstance(value, bool) or value == "auto":
            return value
        raise ValueError('true, false or "auto"')


class SmootherConfig(Section):
    alpha: float = Field(0.4, gt=0, le=1, description="weight of the newest frame in the moving average")
    hysteresis: float = Field(0.1, ge=0, le=0.99, description="margin a new emotion needs over the current one")


class StatsConfig(Section):
    # Each report is a log line and a message: 0.1 s (ten a second) is as often as anyone can read
    # them; 1e-9 wrote a log line per frame.
    interval_s: float = Field(10.0, ge=0.1, le=86400, description="seconds between stats reports (at least 0.1)")
    window: int = Field(300, ge=2, le=1_000_000, description="frames the latency figures are taken over")


class HealthConfig(Section):
    max_failed_frames: int = Field(
        50,
        ge=0,
        le=1_000_000,
        description="frames in a row the detector or classifier may fail on before the device stops with the "
        "error and exit status 1 (a wrong or broken model file); 0 never stops",
    )


class OutputConfig(Section):
    show: bool = Field(False, description="draw results in a window (needs an OpenCV with GUI and a display)")
    record: FilePath = Field("", description="write the annotated stream to this video file")
    results: FilePath = Field("", description="append every frame's results to this JSON-lines file")


def grace_spans_detections(d: DetectorConfig, tracker: TrackerConfig, source: SourceConfig) -> None:
    """A track expires at a detection that finds it gone longer than grace_s: a longer gap between
    detections would give every face a new id at each one."""
    grace = tracker.grace_s
    if d.fps is not None:
        gap, how = 1 / d.fps, f"detector.fps = {d.fps:g}"
    elif d.interval == "auto":
        gap, how = 1 / AUTO_DETECT_HZ, "detector.interval = auto"
    else:
        gap = d.interval / source.fps
        how = f"detector.interval = {d.interval} at source.fps = {source.fps:g}"
    if d.interval != 1 and gap > grace:
        raise Rule(
            "tracker",
            f"tracker.grace_s = {grace:g} is shorter than the {gap:.3g} s between detections ({how}): every "
            f"face would get a new id at each detection; raise tracker.grace_s to at least {gap:.3g} or run "
            "the detector more often",
        )


# What a camera may set for itself; the model, MQTT, the live view and health are the device's.
CAMERA_SECTIONS = ("source", "detector", "tracker", "smoother", "motion")
DEFAULT_CAMERA = "default"
MAX_CAMERAS = 8
CAMERA_NAME_MAX = 32


def camera_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a camera, or None. A name is an MQTT topic level and part of Home
    Assistant's entity ids (lower-case letters, digits and _), so it is held to both."""
    if not name:
        return "it is empty"
    if len(name) > CAMERA_NAME_MAX:
        return f"{len(name)} characters; at most {CAMERA_NAME_MAX}"
    if not all(c in "abcdefghijklmnopqrstuvwxyz0123456789_-" for c in name) or name[0] in "_-":
        return (
            "use lower-case letters, digits, _ and - (starting with a letter or digit): it names MQTT topics "
            "and Home Assistant entities"
        )
    return None


class CameraConfig(Section):
    """[cameras.NAME]: one camera of the device. Each of its tables starts from the device-wide one
    ([source], [detector], [tracker], [smoother], [motion]): set only what differs."""

    source: SourceConfig = Field(default_factory=SourceConfig)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    smoother: SmootherConfig = Field(default_factory=SmootherConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)

    @model_validator(mode="after")
    def _grace_spans_detections(self) -> CameraConfig:
        grace_spans_detections(self.detector, self.tracker, self.source)
        return self


class DeviceConfig(Section):
    """The device configuration file (emotion-edge run --config FILE); every key is optional."""

    SECTIONED: ClassVar[bool] = True  # its keys are [sections]
    source: SourceConfig = Field(default_factory=SourceConfig)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    smoother: SmootherConfig = Field(default_factory=SmootherConfig)
    stats: StatsConfig = Field(default_factory=StatsConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)

    @property
    def base_dir(self) -> str | None:
        """The config file's folder: what relative paths in the file were taken relative to."""
        return self._base_dir

    cameras: dict[str, CameraConfig] = Field(
        default_factory=dict,
        description="several cameras in one process: [cameras.NAME] tables, each starting from the sections above; "
        "none: the one camera of [source], named default",
    )
    _base_dir: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _cameras_start_from_the_device(cls, data: Any) -> Any:
        """Each camera's tables are the device-wide ones with the camera's own keys over them, so a
        camera sets only what differs (Frigate's cameras inherit the global sections the same way)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("cameras"), Mapping):
            return data
        cameras = {}
        for name, own in data["cameras"].items():
            if not isinstance(own, Mapping):
                cameras[name] = own  # refused by validation, naming the camera
                continue
            merged = dict(own)
            for section in CAMERA_SECTIONS:
                device_wide, mine = data.get(section, {}), own.get(section, {})
                if isinstance(device_wide, Mapping) and isinstance(mine, Mapping):
                    merged[section] = {**device_wide, **mine}
            cameras[name] = merged
        return {**data, "cameras": cameras}

    @model_validator(mode="after")
    def _grace_spans_detections(self) -> DeviceConfig:
        grace_spans_detections(self.detector, self.tracker, self.source)
        return self

    @field_validator("cameras")
    @classmethod
    def _camera_names(cls, cameras: dict[str, CameraConfig]) -> dict[str, CameraConfig]:
        if len(cameras) > MAX_CAMERAS:
            raise ValueError(
                f"{len(cameras)} cameras; one device runs at most {MAX_CAMERAS} (each needs its capture and detection)"
            )
        for name in cameras:
            problem = camera_name_problem(name)
            if problem:
                raise ValueError(f"camera name {name[:40]!r}: {problem}")
        seen: dict[str, str] = {}
        for name, camera in cameras.items():
            uri = camera.source.uri
            if uri in seen:
                raise ValueError(
                    f"cameras {seen[uri]} and {name} both read {uri[:80]!r}: a camera can be opened once; "
                    "give each its own source.uri"
                )
            seen[uri] = name
        return cameras

    def camera_configs(self) -> dict[str, CameraConfig]:
        """Every camera by name: the [cameras.NAME] tables, or without any, [source] as ``default``."""
        if self.cameras:
            return dict(self.cameras)
        return {
            DEFAULT_CAMERA: CameraConfig(
                source=self.source,
                detector=self.detector,
                tracker=self.tracker,
                smoother=self.smoother,
                motion=self.motion,
            )
        }

    def single_camera(self) -> DeviceConfig:
        """The configuration of a command that works on one camera: its one camera's sections in
        place. Several are refused, naming them (``run`` runs several: ``edge.service.cameras``)."""
        cameras = self.camera_configs()
        if len(cameras) > 1:
            raise ConfigError(
                f"cameras: {len(cameras)} are configured ({', '.join(cameras)}), and this command works on one: "
                "give it a configuration with one camera (one [source], or one [cameras.NAME]); run runs them all"
            )
        return self.for_camera(next(iter(cameras)))

    def for_camera(self, name: str) -> DeviceConfig:
        """This configuration as one camera's device sees it: its sections in place of the device-wide ones."""
        camera = self.camera_configs()[name]
        one = self.model_copy(
            update={section: getattr(camera, section) for section in CAMERA_SECTIONS} | {"cameras": {}}
        )
        one._base_dir = self._base_dir
        return one

    def to_dict(self) -> dict[str, Any]:
        """The sections as plain tables (paths as text)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


SECTIONS: dict[str, type[Section]] = {
    name: f.annotation  # type: ignore[misc]
    for name, f in DeviceConfig.model_fields.items()
    if name != "cameras"  # named tables of sections, set in the file only
}


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> DeviceConfig:
    """Defaults, then the file at ``path``, then ``env`` (default: ``os.environ``), then ``overrides``
    (``{"source": {"uri": ...}}`` from flags; None values are ignored), validated."""
    layers = Layers()
    if path is not None:
        base_dir = Path(path).parent
        layers.add(DeviceConfig, read_toml(Path(path)), f"file {path}", base_dir, is_path=_uri_is_path)
    for name, section, key, value in env_variables(os.environ if env is None else env):
        layers.add(DeviceConfig, {section: {key: value}}, name)
    if overrides:
        layers.add(DeviceConfig, _without_none(overrides), "command line")
    config = layers.validate(DeviceConfig)
    config._base_dir = str(Path(path).parent) if path is not None else None
    uri_flag = (overrides or {}).get("source", {}).get("uri")
    if uri_flag is not None and config.cameras:
        # [source] is only what the cameras start from: the flag would change none of them, or all.
        raise ConfigError(
            f"--source {str(uri_flag)[:80]!r}: this configuration names its cameras ([cameras.NAME] tables); "
            "set each camera's source.uri in the file instead"
        )
    return config


def _without_none(table: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _without_none(v) if isinstance(v, Mapping) else v for k, v in table.items() if v is not None}


def _uri_is_path(key: Key, value: Any) -> bool:
    """A source URI in the file is a path when it is a plain path (not a camera index or a URL)."""
    is_uri = key == ("source", "uri") or (len(key) == 4 and key[0] == "cameras" and key[2:] == ("source", "uri"))
    return is_uri and not str(value).isdigit() and "://" not in str(value)


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


def env_variables(env: Mapping[str, str]) -> list[tuple[str, str, str, str]]:
    """``(variable, section, key, value)`` for each configuration variable (see the module's notes
    for which are); a misspelled section is refused with the closest valid name."""
    out = []
    for name, value in sorted(env.items()):
        rest = name[len(ENV_PREFIX) :] if name.startswith(ENV_PREFIX) else None
        if not rest or rest in NOT_CONFIG or rest.startswith(NOT_CONFIG_PREFIXES):
            continue
        lower = rest.lower()
        if lower.startswith("cameras_"):
            raise ConfigError(
                f"{name} (environment): cameras are set in the configuration file, as [cameras.NAME] tables, "
                "not in variables; the device-wide variables (EMOTION_EDGE_DETECTOR_..., ...) apply to every camera"
            )
        section = next((s for s in SECTIONS if lower.startswith(s + "_") and len(lower) > len(s) + 1), None)
        if section is not None:
            out.append((name, section, lower[len(section) + 1 :], value))
            continue
        for s in SECTIONS:
            words = s.count("_") + 1
            head, _, tail = lower.partition("_") if words == 1 else (lower, "", "")
            if tail and difflib.SequenceMatcher(None, head, s).ratio() >= 0.75:
                raise ConfigError(
                    f"{name} (environment) is not a configuration variable: there is no section [{head}]; "
                    f"did you mean {ENV_PREFIX}{s.upper()}_{tail.upper()}? "
                    f"Sections are: {', '.join(SECTIONS)}"
                )
    return out


def from_env(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The configuration variables of ``env`` as tables (text values, keys as written)."""
    out: dict[str, dict[str, Any]] = {}
    for _, section, key, value in env_variables(env):
        out.setdefault(section, {})[key] = value
    return out


def validate(raw: Mapping[str, Any], origins: Mapping[Key, str] | None = None) -> DeviceConfig:
    """The one gate for plain tables too (tests, tools): ConfigError naming the key."""
    layers = Layers()
    layers.add(DeviceConfig, raw, "configuration")
    layers.origins.update(origins or {})
    return layers.validate(DeviceConfig)


def describe_defaults() -> str:
    """The defaults as TOML text."""
    return to_toml(DeviceConfig().to_dict())


class _TomlSchema(GenerateJsonSchema):
    def nullable_schema(self, schema: Any) -> Any:
        return self.generate_inner(schema["schema"])  # TOML has no null: an unset key is left out


def schema() -> dict[str, Any]:
    """The JSON Schema of the TOML file (docs/config.schema.json)."""
    data = DeviceConfig.model_json_schema(schema_generator=_TomlSchema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **data}


def schema_text() -> str:
    return json.dumps(schema(), indent=2) + "\n"


def to_toml(data: Mapping[str, Any]) -> str:
    """A small TOML writer for this configuration's shape (tables of scalars, and nested tables under mqtt)."""
    lines: list[str] = []

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, (str, Path)):
            return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
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


if __name__ == "__main__":  # python -m edge.config > docs/config.schema.json
    sys.stdout.write(schema_text())
