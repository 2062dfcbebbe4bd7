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
                        level), ``size``, ``color``
- ``output``            JSON: ``name``, ``kind`` (``probabilities``: softmax already applied),
                        ``temperature`` (optional, a float > 0, absent means 1: the device publishes
                        ``softmax(log(p) / temperature)``, see ``edge.contract.apply_temperature``)
- ``metrics``           JSON: the figures the model was released with
- ``extra``             JSON: anything else (parent model, calibration facts, training run)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.contract import CropPolicy, Preprocessing, apply_temperature

PREFIX = "emotion_edge."
FORMAT = "1"


class ModelMetadataError(ValueError):
    """The model lacks or garbles a metadata key the device needs; the message names it."""


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
        """The model's raw output as the scores the device publishes (its temperature applied)."""
        return apply_temperature(probs, self.temperature)

    def describe_preprocessing(self) -> str:
        p = self.preprocessing
        eq = {
            "none": "no equalisation",
            "hist": "global histogram equalisation (OpenCV equalizeHist) of the uint8 crop",
            "clahe": f"CLAHE (clip {p.clahe_clip}, {p.clahe_grid}x{p.clahe_grid} tiles) of the uint8 crop",
        }[p.equalize]
        c = self.crop
        return (
            f"square crop around the face box widened by {c.margin:.2f} of its size per side"
            f"{', rotated so the eyes are level' if c.align else ''}; grayscale; resized to "
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
                f"{source}: metadata format {fmt!r}, this runtime reads {FORMAT!r}; upgrade emotion-edge"
            )
        classes = get("classes")
        if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
            raise ModelMetadataError(f"{source}: {PREFIX}classes must be a JSON list of at least two names")
        inp, out = get("input"), get("output")
        temperature = _temperature(out, source)
        try:
            return cls(
                name=get("name", as_json=False),
                version=get("version", as_json=False),
                classes=classes,
                preprocessing=Preprocessing.from_dict(get("preprocessing")),
                crop=CropPolicy.from_dict(get("crop")),
                input_name=inp["name"],
                input_shape=list(inp["shape"]),
                output_name=out["name"],
                output_kind=out["kind"],
                temperature=temperature,
                metrics=get("metrics"),
                extra=get("extra"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelMetadataError(f"{source}: malformed emotion-edge metadata ({exc})") from exc


def _temperature(output: dict[str, Any], source: str) -> float:
    if not isinstance(output, dict):
        raise ModelMetadataError(f"{source}: metadata key {PREFIX}output must be a JSON object, got {output!r:.80}")
    value = output.get("temperature", 1.0)  # absent: a model from before calibration, unchanged
    # bool is an int to Python, and "2" is not a number: both are refused rather than guessed at.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ModelMetadataError(
            f"{source}: metadata key {PREFIX}output.temperature must be a finite number > 0, got {value!r}; "
            "re-export the model or fix its calibration"
        )
    return float(value)


def read_onnx_metadata(path: str) -> ModelInfo:
    """Read the metadata with ONNX Runtime alone (the device has no ``onnx`` package)."""
    from edge.ort import onnxruntime

    session = onnxruntime().InferenceSession(path, providers=["CPUExecutionProvider"])
    return ModelInfo.from_props(dict(session.get_modelmeta().custom_metadata_map), source=path)


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
