"""Training configuration: one pydantic model in the configuration's idiom (``edge.fields``), written
resolved into every run directory (config.json).

Every field is a flag of ``emotion-edge train`` (``train.cli`` generates them from the fields: name,
type, help from the description, choices from a ``Literal`` or a registry), so a new setting is one
line here. Layers: the defaults, then a ``--config`` file (JSON or TOML), then the flags; an error
names the key, the value, where it came from and what is allowed.
"""

from __future__ import annotations

import json
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from edge import paths
from edge.fields import ConfigError, Layers, OneOf, Rule, Section
from edge.registry import EQUALIZERS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["ConfigError", "TrainConfig"]

ClassWeighting = Literal["none", "sqrt_inv", "inv"]
CLASS_WEIGHTING: tuple[str, ...] = typing.get_args(ClassWeighting)
PathText = Annotated[str, StringConstraints(min_length=1)]
Width = Annotated[int, Field(ge=1)]
Labels = Literal["fer2013", "ferplus"]
LABELS: tuple[str, ...] = typing.get_args(Labels)
SelectOn = Literal["fer2013", "ferplus", "mean"]
SELECT_ON: tuple[str, ...] = typing.get_args(SelectOn)
# Parts of the default augmentation a run can leave out (train/augment.py's ABLATIONS).
Ablatable = Literal["blur", "noise", "gamma"]


class TrainConfig(Section):
    """The settings of one training run (``emotion-edge train``; every key is also a flag)."""

    model_config = ConfigDict(frozen=False)

    data: str = Field(paths.DEV_DATA, description="fer2013.csv, an image-folder tree or a .tar.gz/.zip of one")
    out: str = Field("runs", description="parent of run directories")
    name: str = Field("release", description="run name: the run directory is OUT/NAME")
    classes: list[str] = Field(default_factory=list, description="subset of the data set's classes (empty: all)")
    epochs: int = Field(160, ge=1)
    batch_size: int = Field(128, ge=1)
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="sgd: with Nesterov momentum")
    lr: float = Field(2e-3, ge=0, description="peak learning rate (cosine schedule after the warm-up)")
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    weight_decay: float = Field(0.05, ge=0)
    warmup_epochs: float = Field(2.0, ge=0)
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    class_weighting: ClassWeighting = Field("sqrt_inv", description="loss weight per class from its frequency")
    logit_adjustment: float = Field(
        0.0,
        ge=0,
        description="tau of the logit-adjusted loss against class imbalance (Menon et al., ICLR 2021): the label "
        "loss sees logits + tau x log(class prior), inference the plain logits (0: off; with class_weighting none)",
    )
    ema_decay: float = Field(0.999, ge=0, lt=1, description="weight average; 0 disables it")
    patience: int = Field(40, ge=0, description="early-stopping patience in epochs (0: never stop early)")
    equalize: Annotated[str, OneOf(EQUALIZERS)] = Field("hist", description="contrast equalisation of faces")
    augment: bool = Field(True, description="random flips, shifts, rotations, erasing of training images")
    widths: list[Width] = Field(default_factory=lambda: [32, 64, 128, 256], description="channels per stage")
    depths: list[Width] = Field(default_factory=lambda: [1, 2, 2, 2], description="blocks per stage")
    dropout: float = Field(0.3, ge=0, lt=1)
    mixup_alpha: float = Field(
        0.0, ge=0, description="blend each batch with a shuffled copy, weights from Beta(a, a) (0: off)"
    )
    seed: int = 0
    init: str = Field(
        "",
        description="start from this checkpoint's weights (a best.pt: its selected weights) instead of a random "
        "initialisation, for a warm restart or fine-tuning; same architecture and classes",
    )
    init_prune: bool = Field(
        False,
        description="with an --init model wider than this run (same depths): keep each layer's filters of largest "
        "L1 norm (Li et al., ICLR 2017), so a narrower student starts from the model's strongest features",
    )
    teachers: list[PathText] = Field(
        default_factory=list,
        description="distil from this checkpoint (.pt) or released model (.onnx): its prediction averaged over "
        "each training image and its mirror becomes a soft target beside the label; several: their ensemble",
    )
    distill_weight: float = Field(0.5, ge=0, le=1, description="share of the loss from the teacher's soft targets")
    distill_temperature: float = Field(2.0, gt=0, description="softening of both distributions")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = Field(True, description="bf16 autocast on CPUs with native bf16, bf16 or fp16 on CUDA (else float32)")
    threads: int = Field(0, ge=0, description="CPU threads (0: every core)")
    limit_train: int = Field(0, ge=0, description="a stratified subset of this many train images (smoke runs; 0: all)")
    limit_eval: int = Field(0, ge=0, description="at most this many val and test images (0: all)")
    skip_bad: bool = Field(False, description="skip unreadable images and bad CSV rows (counted)")
    strict_size: bool = Field(False, description="reject images that are not 48x48 (else resized and counted)")
    # FER+ (train/ferplus.py): with labels "ferplus" the target of a training image is
    # ferplus_weight x its FER+ vote distribution + (1 - ferplus_weight) x its FER2013 label.
    labels: Labels = Field("fer2013", description="training targets: FER2013's labels or the FER+ vote blend")
    votes: str = Field("", description="FER+'s fer2013new.csv (for labels ferplus and select_on ferplus|mean)")
    ferplus_weight: float = Field(1.0, ge=0, le=1, description="share of the FER+ vote distribution in the target")
    contempt: bool = Field(
        False,
        description="an eighth class, contempt, learnt from the FER+ votes alone (labels ferplus): FER2013 has no "
        "contempt images, so FER2013's labels never name it",
    )
    select_on: SelectOn = Field("fer2013", description="val top-1 that picks the epoch: FER2013, FER+ majority, mean")
    test_report: bool = Field(True, description="score PrivateTest at the end (off for probes: select, then test once)")
    device_crop: bool = Field(False, description="re-frame faces like the device's YuNet box (train/augment.py)")
    yunet: str = Field(paths.DEV_YUNET, description="the device's face detector, for device_crop")
    align_landmarks: bool = Field(
        False,
        description="five-point alignment: every face warped so YuNet's landmarks fall on the Training faces' "
        "mean landmarks, the template recorded in the model's crop policy for the device (train/landmarks.py)",
    )
    camera: bool = Field(False, description="camera degradations: down-and-up scaling, JPEG (train/augment.py)")
    augment_off: list[Ablatable] = Field(
        default_factory=list,
        description="parts of the default augmentation to leave out, to measure what each adds: blur, noise, gamma",
    )

    @model_validator(mode="after")
    def _architecture(self) -> TrainConfig:
        if len(self.widths) != len(self.depths) or not self.widths:
            raise Rule("widths", f"widths {self.widths} and depths {self.depths} must be non-empty and equally long")
        if (self.labels == "ferplus" or self.select_on != "fer2013") and not self.votes:
            raise Rule("votes", "labels ferplus and select_on ferplus|mean need votes: the FER+ votes file (--votes)")
        if self.align_landmarks and self.device_crop:
            raise Rule(
                "align_landmarks",
                "align_landmarks and device_crop frame faces two different ways (landmarks onto a template, "
                "the detector's box); choose one",
            )
        if self.logit_adjustment > 0 and self.class_weighting != "none":
            raise Rule(
                "logit_adjustment",
                f"logit_adjustment {self.logit_adjustment} corrects the class imbalance that class_weighting "
                f"{self.class_weighting} already weighs; pass --class-weighting none with it",
            )
        if self.contempt and self.labels != "ferplus":
            raise Rule("contempt", "contempt is learnt from FER+ votes alone; it needs --labels ferplus")
        return self

    def validate(self) -> TrainConfig:  # type: ignore[override]
        """The settings checked again (after attribute assignments); ConfigError names the key."""
        return Layers().add(TrainConfig, self.to_dict(), "configuration").validate(TrainConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.name

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump()
        return data

    @classmethod
    def layers(cls, data: Mapping[str, Any], origin: str | None = None, layers: Layers | None = None) -> Layers:
        """``data`` added as a layer (a run's config.json of before ensembles named one ``teacher``)."""
        data = dict(data)
        if "teacher" in data and "teachers" not in cls.model_fields.keys() & data.keys():
            legacy = data.pop("teacher")
            data["teachers"] = [legacy] if legacy else []
        return (layers or Layers()).add(cls, data, origin or "configuration")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str | None = None) -> TrainConfig:
        return cls.layers(data, origin).validate(cls)

    @classmethod
    def read(cls, path: Path) -> dict[str, Any]:
        """A settings file as a table: TOML (``.toml``) or JSON."""
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"--config {path}: cannot be read ({exc.strerror})") from exc
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            kind = "TOML" if path.suffix == ".toml" else "JSON"
            raise ConfigError(f"{path}: not valid {kind} ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a table of settings, got {type(data).__name__}")
        return data

    @classmethod
    def from_file(cls, path: Path) -> TrainConfig:
        return cls.from_dict(cls.read(path), f"file {path}")
