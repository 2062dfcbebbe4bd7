"""The self-describing model: everything the device needs, stored in ONNX ``metadata_props``.

Keys (all values are strings; JSON where noted). ``emotion_edge.`` prefixes every key:

- ``format``            metadata format version, currently ``1``
- ``name``, ``version`` model name and version
- ``classes``           JSON list of class names in output order
- ``input``             JSON: ``name``, ``shape`` (``-1`` is the dynamic batch), ``layout``
                        (``NCHW``), ``dtype``, ``color`` (``gray``)
- ``preprocessing``     JSON: ``equalize`` (``none`` | ``hist``: OpenCV ``equalizeHist`` on the
                        uint8 crop | ``clahe`` with ``clahe_clip``, ``clahe_grid``), then
                        ``x = (pixel * scale - mean) / std``
- ``preprocessing_text`` the same steps in words
- ``crop``              JSON: ``margin`` (box widened by this fraction of its size on each side,
                        square around the box centre), ``align`` (rotate so the eye line is
                        level), ``size``, ``color``; optional ``template``: five [x, y] points
                        in fractions of the crop side (five-point alignment, see CropPolicy)
- ``output``            JSON: ``name``, ``kind`` (``probabilities``: softmax already applied),
                        ``temperature`` (optional, a float > 0, absent means 1: the device publishes
                        ``softmax(log(p) / temperature)``, see ``edge.contract.apply_temperature``)
- ``metrics``           JSON: the figures the model was released with
- ``extra``             JSON: anything else (parent model, calibration facts, training run)

Checked at load (``from_props``, then ``check_graph`` against the graph itself), so that a careless
or hostile file stops the start with one line naming the key: every number finite and in range;
2 to 64 class names, unique, printable, at most 40 characters, without ``/``, ``#``, ``+`` or the
word ``none``; name and version printable and bounded; the input ``[-1, 1, size, size]`` float32
gray; the output kind ``probabilities``, one score per class, finite probabilities on a test batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.contract import CropPolicy, Preprocessing, apply_temperature

PREFIX = "emotion_edge."
FORMAT = "1"


class ModelMetadataError(ValueError):
    """The model lacks or garbles a metadata key the device needs; the message names it."""


class ModelOutputError(RuntimeError):
    """The model's output for a batch of faces cannot be published (scores that are not finite)."""


@dataclass
class ModelInfo:
    name: str
    version: str
    classes: list[str]
    preprocessing: Preprocessing
    crop: CropPolicy
    input_name: str = "input"
    input_shape: list[int] = field(default_factory=lambda: [-1, 1, 48, 48])
    output_name: str = "probabilities"
    output_kind: str = "probabilities"
    # Fitted after training so that scores mean what they say (Home Assistant thresholds on them);
    # every backend applies it through ``calibrate``.
    temperature: float = 1.0
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def calibrate(self, probs: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The model's raw output as the scores the device publishes (its temperature applied).

        Raises ``ModelOutputError`` when a score is not finite: NaN passed on would poison the
        smoother's average for good and every message after it (JSON has no NaN), and nothing would
        be published while the health said ``ok``; failing the frame instead counts it, and the
        health says ``degraded`` with this reason (then ``failed`` after ``health.max_failed_frames``)."""
        finite = np.isfinite(probs).all(axis=-1)
        if not finite.all():
            bad = int((~finite).sum())
            raise ModelOutputError(
                f"{self.name} {self.version} gave scores that are not finite (NaN or infinity) for {bad} of "
                f"{finite.size} face(s): the model overflows on real faces or its weights are broken"
            )
        return apply_temperature(probs, self.temperature)

    def describe_preprocessing(self) -> str:
        p = self.preprocessing
        eq = {
            "none": "no equalisation",
            "hist": "global histogram equalisation (OpenCV equalizeHist) of the uint8 crop",
            "clahe": f"CLAHE (clip {p.clahe_clip}, {p.clahe_grid}x{p.clahe_grid} tiles) of the uint8 crop",
        }[p.equalize]
        c = self.crop
        box = (
            f"square crop around the face box widened by {c.margin:.2f} of its size per side"
            f"{', rotated so the eyes are level' if c.align else ''}"
        )
        if c.template is not None:
            marks = ", ".join(f"({x:.4f}, {y:.4f})" for x, y in c.template)
            box = (
                "the similarity transform (least squares) mapping the detector's five landmarks (right eye, left "
                f"eye, nose tip, right and left mouth corners) to {marks} in fractions of the crop side; without "
                f"landmarks a {box}"
            )
        return (
            f"{box}; grayscale; resized to "
            f"{c.size}x{c.size}; {eq}; x = (pixel * {p.scale:.8g} - {p.mean}) / {p.std}; "
            f"input {self.input_shape} {'NCHW'} float32; output {self.output_name}: {self.output_kind} "
            f"over classes {self.classes}"
            + (f", published as softmax(log(p) / {self.temperature:g})" if self.temperature != 1.0 else "")
        )

    def to_props(self) -> dict[str, str]:
        values: dict[str, Any] = {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "classes": self.classes,
            "input": {
                "name": self.input_name,
                "shape": self.input_shape,
                "layout": "NCHW",
                "dtype": "float32",
                "color": self.crop.color,
            },
            "preprocessing": self.preprocessing.to_dict(),
            "preprocessing_text": self.describe_preprocessing(),
            "crop": self.crop.to_dict(),
            "output": {"name": self.output_name, "kind": self.output_kind, "temperature": self.temperature},
            "metrics": self.metrics,
            "extra": self.extra,
        }
        return {PREFIX + k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}

    @classmethod
    def from_props(cls, props: dict[str, str], source: str = "model") -> ModelInfo:
        def get(key: str, as_json: bool = True) -> Any:
            full = PREFIX + key
            if full not in props:
                raise ModelMetadataError(
                    f"{source} lacks metadata key {full!r}: it was not exported by `emotion-edge export onnx`; "
                    "re-export it from its checkpoint"
                )
            if not as_json:
                return props[full]
            try:
                return json.loads(props[full])
            except json.JSONDecodeError as exc:
                raise ModelMetadataError(f"{source}: metadata key {full!r} is not valid JSON ({exc})") from exc

        fmt = get("format", as_json=False)
        if fmt != FORMAT:
            raise ModelMetadataError(
                f"{source}: metadata format {_shown(fmt)}, this runtime reads {FORMAT!r}; upgrade emotion-edge"
            )
        # Everything below is published (MQTT payloads, Home Assistant's options, logs, the live
        # view) or drives the arithmetic of every frame: checked once here, so a careless or hostile
        # model file stops the start with one line instead of publishing garbage or failing later.
        name = _text(get("name", as_json=False), "name", source, MAX_NAME)
        version = _text(get("version", as_json=False), "version", source, MAX_VERSION)
        classes = _classes(get("classes"), source)
        inp, out = _object(get("input"), "input", source), _object(get("output"), "output", source)
        temperature = _temperature(out, source)
        preprocessing = _section(Preprocessing, get("preprocessing"), "preprocessing", source)
        crop = _section(CropPolicy, get("crop"), "crop", source)
        input_name, input_shape = _input(inp, crop, source)
        output_name = _text(out.get("name"), "output.name", source, MAX_NAME)
        kind = out.get("kind")
        if kind not in OUTPUT_KINDS:
            raise ModelMetadataError(
                f"{source}: metadata key {PREFIX}output.kind is {_shown(kind)}; this runtime reads "
                f"{', '.join(OUTPUT_KINDS)} (softmax applied in the graph), and treats no other output as "
                "scores: export the model with its softmax (`emotion-edge export onnx` does)"
            )
        return cls(
            name=name,
            version=version,
            classes=classes,
            preprocessing=preprocessing,
            crop=crop,
            input_name=input_name,
            input_shape=input_shape,
            output_name=output_name,
            output_kind=kind,
            temperature=temperature,
            metrics=_object(get("metrics"), "metrics", source),
            extra=_object(get("extra"), "extra", source),
        )


# Bounds of what a model may say about itself. Home Assistant lists the classes as an enum sensor's
# options (a few dozen at most make sense; FER+ has 8); names and versions are shown in one line.
MAX_CLASSES = 64
MAX_CLASS_NAME = 40
MAX_NAME = 100
MAX_VERSION = 40
OUTPUT_KINDS = ("probabilities",)
# A class name becomes a JSON key, an MQTT payload value and an option in Home Assistant; ``none``
# is the emotion topic's own word for "no face", and MQTT's wildcards and level separator are kept
# out so that a name can never be mistaken for (or end up in) a topic.
RESERVED_CLASS_NAMES = ("none",)
TOPIC_CHARACTERS = "/#+"
TEMPERATURE_RANGE = (0.01, 100.0)


def _shown(value: Any) -> str:
    """A value for a message: repr (escapes shown, never sent raw to a terminal), cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}... ({len(text)} characters)"


def _object(value: Any, key: str, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelMetadataError(f"{source}: metadata key {PREFIX}{key} must be a JSON object, got {_shown(value)}")
    return value


def _section(cls: Any, value: Any, key: str, source: str) -> Any:
    try:
        return cls.from_dict(_object(value, key, source))
    except (TypeError, ValueError) as exc:  # ContractError names the field and the allowed range
        what = f"{exc}" if str(exc).startswith(f"{key}.") else f"{key}: {exc}"
        raise ModelMetadataError(f"{source}: metadata key {PREFIX}{what}; re-export the model") from exc


def _text(value: Any, key: str, source: str, limit: int) -> str:
    """A printable, non-empty string of at most ``limit`` characters without surrounding spaces."""
    problem = None
    if not isinstance(value, str) or not value:
        problem = "must be a non-empty string"
    elif len(value) > limit:
        problem = f"is {len(value)} characters long, at most {limit} are allowed"
    elif not value.isprintable():  # control characters (ESC, newline), zero-width and direction marks
        problem = "holds control or invisible characters"
    elif value != value.strip():
        problem = "starts or ends with a space"
    if problem is not None:
        raise ModelMetadataError(
            f"{source}: metadata key {PREFIX}{key} {problem} (got {_shown(value)}); fix it and re-export the model"
        )
    return str(value)


def _classes(classes: Any, source: str) -> list[str]:
    key = f"{PREFIX}classes"
    if not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES:
        count = f"{len(classes)} names" if isinstance(classes, list) else _shown(classes)
        raise ModelMetadataError(
            f"{source}: {key} must be a JSON list of at least two and at most {MAX_CLASSES} names, got {count}"
        )
    for i, name in enumerate(classes):
        _text(name, f"classes[{i}]", source, MAX_CLASS_NAME)
        if any(c in name for c in TOPIC_CHARACTERS) or name.casefold() in RESERVED_CLASS_NAMES:
            raise ModelMetadataError(
                f"{source}: metadata key {key}[{i}] is {_shown(name)}: a class name may not contain "
                f"{', '.join(TOPIC_CHARACTERS)} (MQTT's separator and wildcards) nor be "
                f"{', '.join(RESERVED_CLASS_NAMES)} (the emotion topic's word for no face); rename the class and "
                "re-export the model"
            )
    seen: dict[str, int] = {}
    for i, name in enumerate(classes):
        first = seen.setdefault(name.casefold(), i)
        if first != i:
            raise ModelMetadataError(
                f"{source}: metadata key {key} names {_shown(classes[first])} twice (at {first} and {i}): every "
                "class needs its own name (a score per name is published); fix it and re-export the model"
            )
    return classes


def _input(inp: dict[str, Any], crop: CropPolicy, source: str) -> tuple[str, list[int]]:
    """The input's name and shape: N x 1 x size x size float32 (N may be -1, the dynamic batch),
    matching the crop the device makes."""
    name = _text(inp.get("name"), "input.name", source, MAX_NAME)
    shape: Any = inp.get("shape")
    want = [-1, 1, crop.size, crop.size]
    ok = (
        isinstance(shape, list)
        and len(shape) == 4
        and all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
        and (shape[0] == -1 or shape[0] >= 1)
        and shape[1:] == want[1:]
    )
    if not ok:
        raise ModelMetadataError(
            f"{source}: metadata key {PREFIX}input.shape is {_shown(shape)}; the device feeds "
            f"{want} (grayscale crops of crop.size {crop.size}); re-export the model"
        )
    for key, wanted in (("layout", "NCHW"), ("dtype", "float32"), ("color", "gray")):
        if inp.get(key, wanted) != wanted:
            raise ModelMetadataError(
                f"{source}: metadata key {PREFIX}input.{key} is {_shown(inp.get(key))}; this runtime feeds "
                f"{wanted!r} only"
            )
    return name, list(shape)


def _temperature(output: dict[str, Any], source: str) -> float:
    value = output.get("temperature", 1.0)  # absent: a model from before calibration, unchanged
    low, high = TEMPERATURE_RANGE
    # bool is an int to Python, and "2" is not a number: both are refused rather than guessed at.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:  # NaN fails too
        raise ModelMetadataError(
            f"{source}: metadata key {PREFIX}output.temperature must be a finite number within [{low:g}, {high:g}] "
            f"(> 0; 1 leaves the scores as they are), got {_shown(value)}; re-export the model or fix its calibration"
        )
    return float(value)


def read_onnx_metadata(path: str) -> ModelInfo:
    """Read the metadata with ONNX Runtime alone (the device has no ``onnx`` package), and check
    that the graph is what it says (``check_graph``)."""
    from edge.ort import onnxruntime

    session = onnxruntime().InferenceSession(path, providers=["CPUExecutionProvider"])
    info = ModelInfo.from_props(dict(session.get_modelmeta().custom_metadata_map), source=path)
    check_graph(session, info, path)
    return info


# A probability output sums to 1 per row; float32 softmax (and INT8 models) stay well inside this.
PROBABILITY_TOLERANCE = 1e-3


def check_graph(session: Any, info: ModelInfo, source: str) -> None:
    """The ONNX Runtime ``session``'s graph agrees with its metadata ``info``: the input's name,
    channels and size, the output's name and width, and, on one batch of two mid-grey crops, an
    output of the right shape that is finite probabilities. The metadata alone cannot be trusted:
    3 names for 7 outputs publishes wrong labels, a 64x64 graph fails every frame, a logits output
    read as probabilities publishes nonsense scores (DeepStream likewise checks a model's bindings
    against its configuration when it loads the engine, not on the first frame)."""
    problems: list[str] = []
    inputs, outputs = session.get_inputs(), session.get_outputs()
    by_name = {i.name: i for i in inputs}
    if len(inputs) != 1 or info.input_name not in by_name:
        problems.append(f"its inputs are {[i.name for i in inputs]}, the metadata names one, {info.input_name!r}")
    else:
        graph = by_name[info.input_name]
        shape = list(graph.shape)
        if graph.type != "tensor(float)":
            problems.append(f"its input is {graph.type}, the device feeds tensor(float)")
        if len(shape) != 4:
            problems.append(f"its input has shape {shape}, the metadata says {info.input_shape}")
        else:
            # A symbolic (named) dimension takes whatever comes; only fixed ones can disagree.
            for axis, what in ((1, "channels"), (2, "height"), (3, "width")):
                if isinstance(shape[axis], int) and shape[axis] != info.input_shape[axis]:
                    problems.append(f"its input has {shape[axis]} {what}, the metadata says {info.input_shape[axis]}")
    out_by_name = {o.name: o for o in outputs}
    if info.output_name not in out_by_name:
        problems.append(f"it has no output {info.output_name!r} (its outputs: {list(out_by_name)})")
    else:
        width = list(out_by_name[info.output_name].shape)
        if len(width) != 2 or (isinstance(width[1], int) and width[1] != len(info.classes)):
            problems.append(f"its output has shape {width}, the metadata names {len(info.classes)} classes")
    if not problems:
        problems = _probe(session, info)
    if problems:
        raise ModelMetadataError(
            f"{source}: the graph does not match its metadata: {'; '.join(problems)}; re-export the model with "
            "`emotion-edge export onnx` (or use the one in models/)"
        )


def _probe(session: Any, info: ModelInfo) -> list[str]:
    """Run one batch of two mid-grey crops: the output must be 2 x classes finite probabilities."""
    size = info.crop.size
    crops = np.full((2, size, size), 128, np.uint8)
    try:
        (out,) = session.run([info.output_name], {info.input_name: info.preprocessing.apply(crops)})
    except Exception as exc:  # onnxruntime raises its own untyped errors
        return [f"it fails on a 2 x 1 x {size} x {size} input ({' '.join(str(exc).split())[:200]})"]
    out = np.asarray(out)
    if out.shape != (2, len(info.classes)):
        return [f"its output for 2 faces has shape {list(out.shape)}, the metadata names {len(info.classes)} classes"]
    if not np.isfinite(out).all():
        return ["its output on a mid-grey face crop is not finite (NaN or infinity)"]
    sums = out.sum(axis=1)
    tol = PROBABILITY_TOLERANCE
    if out.min() < -tol or out.max() > 1 + tol or np.abs(sums - 1).max() > tol:
        return [
            f"its output is not {info.output_kind} (values from {out.min():.3g} to {out.max():.3g}, rows sum to "
            f"{sums[0]:.4g}): a logits output without its softmax?"
        ]
    return []


def write_onnx_metadata(path: str, info: ModelInfo) -> None:
    """Replace the model's metadata with ``info`` (and its doc string with the preprocessing in
    words), check the model and save it in place. The one writer of the keys above; it needs the
    ``onnx`` package, which the workstation has and the device does not."""
    import onnx

    model = onnx.load(path)
    del model.metadata_props[:]
    for key, value in info.to_props().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = info.describe_preprocessing()
    onnx.checker.check_model(model)
    onnx.save(model, path)
