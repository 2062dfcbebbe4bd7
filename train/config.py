"""Training configuration: one validated dataclass, written resolved into every run directory."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edge.contract import EQUALIZE_METHODS

CLASS_WEIGHTING = ("none", "sqrt_inv", "inv")
LABELS = ("fer2013", "ferplus")
SELECT_ON = ("fer2013", "ferplus", "mean")


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and the allowed values."""


@dataclass
class TrainConfig:
    data: str = "../shared/datasets/fer2013.tar.gz"
    out: str = "runs"
    name: str = "release"
    classes: list[str] = field(default_factory=list)  # empty: every class of the data set
    epochs: int = 160
    batch_size: int = 128
    optimizer: str = "adamw"  # adamw | sgd (Nesterov momentum)
    lr: float = 2e-3
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    label_smoothing: float = 0.1
    class_weighting: str = "sqrt_inv"
    ema_decay: float = 0.999  # 0 disables the weight average
    patience: int = 40  # epochs without a better val top-1 before stopping (long cosine: mid-run plateaus)
    equalize: str = "hist"
    augment: bool = True
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    depths: list[int] = field(default_factory=lambda: [1, 2, 2, 2])
    dropout: float = 0.3
    mixup_alpha: float = 0.0  # >0: every training batch is blended with a shuffled copy, Beta(a, a) weights
    seed: int = 0
    init: str = ""  # a checkpoint (.pt) whose weights start the run: a warm restart or fine-tuning
    # Checkpoints (.pt) or models (.onnx) whose flip-averaged predictions are soft targets; with
    # several, their ensemble (log-probabilities averaged).
    teachers: list[str] = field(default_factory=list)
    distill_weight: float = 0.5  # share of the loss from the teacher's soft targets (with a teacher)
    distill_temperature: float = 2.0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast on CPUs with native bf16 (else float32); bf16 or fp16 on CUDA
    threads: int = 0  # 0: every core
    limit_train: int = 0  # >0: a stratified subset of that many train images (smoke runs)
    limit_eval: int = 0  # >0: at most that many val/test images
    skip_bad: bool = False
    strict_size: bool = False
    # FER+ (train/ferplus.py): with labels "ferplus" the target of a training image is
    # ferplus_weight x its FER+ vote distribution + (1 - ferplus_weight) x its FER2013 label.
    labels: str = "fer2013"
    votes: str = ""  # FER+'s fer2013new.csv (needed for labels "ferplus" and select_on ferplus|mean)
    ferplus_weight: float = 1.0
    select_on: str = "fer2013"  # val top-1 that picks the epoch: FER2013 labels, FER+ majority, their mean
    test_report: bool = True  # score PrivateTest at the end (off for probes: select first, test once)
    device_crop: bool = False  # re-frame faces to the device's YuNet box (train/augment.py, crop_stats.py)
    yunet: str = "../shared/models/face_detection_yunet.onnx"  # the device's detector, for device_crop
    camera: bool = False  # camera degradations: down-and-up scaling, JPEG (train/augment.py)

    def validate(self) -> TrainConfig:
        positive = ("epochs", "batch_size")
        for key in positive:
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key} must be a positive integer, got {getattr(self, key)}")
        non_negative = ("lr", "weight_decay", "warmup_epochs", "patience", "threads", "limit_train", "limit_eval")
        for key in non_negative:
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ConfigError(f"distill_weight must be in [0, 1], got {self.distill_weight}")
        if self.distill_temperature <= 0:
            raise ConfigError(f"distill_temperature must be > 0, got {self.distill_temperature}")
        if self.mixup_alpha < 0:
            raise ConfigError(f"mixup_alpha must be >= 0 (0 disables mixup), got {self.mixup_alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.class_weighting not in CLASS_WEIGHTING:
            raise ConfigError(
                f"class_weighting must be one of {', '.join(CLASS_WEIGHTING)}, got {self.class_weighting!r}"
            )
        if self.equalize not in EQUALIZE_METHODS:
            raise ConfigError(f"equalize must be one of {', '.join(EQUALIZE_METHODS)}, got {self.equalize!r}")
        if self.optimizer not in ("sgd", "adamw"):
            raise ConfigError(f"optimizer must be sgd or adamw, got {self.optimizer!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if any(not isinstance(t, str) or not t for t in self.teachers):
            raise ConfigError(f"teachers must be a list of checkpoint or .onnx paths, got {self.teachers!r}")
        if self.labels not in LABELS:
            raise ConfigError(f"labels must be one of {', '.join(LABELS)}, got {self.labels!r}")
        if self.select_on not in SELECT_ON:
            raise ConfigError(f"select_on must be one of {', '.join(SELECT_ON)}, got {self.select_on!r}")
        if (self.labels == "ferplus" or self.select_on != "fer2013") and not self.votes:
            raise ConfigError("labels ferplus and select_on ferplus|mean need votes: the FER+ votes file (--votes)")
        if not 0.0 <= self.ferplus_weight <= 1.0:
            raise ConfigError(f"ferplus_weight must be in [0, 1], got {self.ferplus_weight}")
        if len(self.widths) != len(self.depths) or not self.widths:
            raise ConfigError(f"widths {self.widths} and depths {self.depths} must be non-empty and equally long")
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        if "teacher" in data:  # run configs written before ensembles named one teacher
            legacy = data.pop("teacher")
            data.setdefault("teachers", [legacy] if legacy else [])
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training config keys {unknown}; known: {sorted(known)}")
        return cls(**data).validate()

    @classmethod
    def from_file(cls, path: Path) -> TrainConfig:
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
