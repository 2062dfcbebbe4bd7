"""The training checkpoint, in one place: what ``emotion-edge train`` writes (``last.pt`` every
epoch, ``best.pt`` at each better epoch) and what everything else reads (``--resume``, ``--init``,
``--teacher``, ``evaluate``, ``export onnx``).

A checkpoint is a ``torch.save``d dict. Every one holds the header (``header()``):

- ``config``         the run's settings (``TrainConfig.to_dict()``)
- ``class_names``    the classes in output order
- ``preprocessing``  ``Preprocessing.to_dict()``; ``crop``: ``CropPolicy.to_dict()``
- ``arch``           ``{"widths", "depths", "dropout"}``: enough to rebuild ``EmotionNet``
- ``params``, ``macs`` the model's size and cost per face

then ``model`` (a state dict) and ``epoch``; ``best.pt`` adds ``val_top1``; ``last.pt`` adds the
weight average (``ema``, None without one, and ``ema_updates``), the optimiser, scaler, step,
best-so-far, elapsed time and the random states, so ``--resume`` continues exactly. The keys are
the same as the first release's: older files load.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edge.contract import CropPolicy, Preprocessing
from edge.model_meta import ModelInfo
from train.model import EmotionNet, count_macs, count_parameters

# What makes a file one of ours; the rest of the header is read with defaults where it can be.
REQUIRED = ("model", "class_names", "arch")
WHAT_TO_DO = "give the best.pt (or last.pt) of an `emotion-edge train` run"


class CheckpointError(ValueError):
    """Not a checkpoint of ours, or one that does not fit; the message names the file and what to do."""


@dataclass(frozen=True)
class Arch:
    """What ``EmotionNet`` is built from, besides the number of classes."""

    widths: tuple[int, ...]
    depths: tuple[int, ...]
    dropout: float

    def to_dict(self) -> dict[str, Any]:
        return {"widths": list(self.widths), "depths": list(self.depths), "dropout": self.dropout}

    @classmethod
    def from_dict(cls, arch: dict[str, Any]) -> Arch:
        return cls(tuple(arch["widths"]), tuple(arch["depths"]), float(arch["dropout"]))

    def build(self, num_classes: int) -> EmotionNet:
        return EmotionNet(num_classes, list(self.widths), list(self.depths), self.dropout)


def header(
    config: dict[str, Any],
    class_names: list[str],
    pre: Preprocessing,
    arch: Arch,
    model: nn.Module,
    crop: CropPolicy | None = None,
) -> dict[str, Any]:
    """The keys every checkpoint of a run carries (the weights and the epoch come on top)."""
    return {
        "config": config,
        "class_names": list(class_names),
        "preprocessing": pre.to_dict(),
        "crop": (crop or CropPolicy()).to_dict(),
        "arch": arch.to_dict(),
        "params": count_parameters(model),
        "macs": count_macs(model),
    }


def save(state: dict[str, Any], path: Path) -> None:
    """Write atomically: a run interrupted mid-write keeps its previous file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


@dataclass
class Checkpoint:
    path: Path
    state: dict[str, Any]

    @property
    def class_names(self) -> list[str]:
        return list(self.state["class_names"])

    @property
    def arch(self) -> Arch:
        return Arch.from_dict(self.state["arch"])

    @property
    def preprocessing(self) -> Preprocessing:
        # The first checkpoints were all trained with the default preprocessing.
        return Preprocessing.from_dict(self.state.get("preprocessing") or Preprocessing().to_dict())

    @property
    def crop(self) -> CropPolicy:
        return CropPolicy.from_dict(self.state.get("crop") or CropPolicy().to_dict())

    def weights(self) -> dict[str, torch.Tensor]:
        """The weights selection ships: the average where the file keeps it apart (last.pt), else
        ``model`` (best.pt holds the selected weights as ``model``)."""
        ema = self.state.get("ema")
        return ema if ema is not None else self.state["model"]  # type: ignore[no-any-return]

    def model(self, device: torch.device | str = "cpu") -> EmotionNet:
        """``EmotionNet`` rebuilt from ``arch`` with ``weights()``, in eval mode."""
        net = self.arch.build(len(self.class_names))
        try:
            net.load_state_dict(self.weights())
        except RuntimeError as exc:
            raise CheckpointError(
                f"{self.path}: its weights do not fit the architecture it records ({exc}); {WHAT_TO_DO}"
            ) from exc
        return net.to(device).eval()

    def info(self) -> ModelInfo:
        """What the model would say about itself once exported (name and version are export's)."""
        return ModelInfo(
            name="emotion-edge-cnn",
            version="0",
            classes=self.class_names,
            preprocessing=self.preprocessing,
            crop=self.crop,
        )


def load(path: Path, device: torch.device | str = "cpu", flag: str = "") -> Checkpoint:
    """Read a checkpoint; ``flag`` (``--resume``, ``--init``, ...) prefixes the messages.

    A missing file raises FileNotFoundError, anything else that is not one of ours CheckpointError;
    both name the file and what to do."""
    lead = f"{flag}: " if flag else ""
    if not path.is_file():
        raise FileNotFoundError(f"{lead}no checkpoint at {path}; {WHAT_TO_DO}")
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, OSError, ValueError) as exc:
        why = " ".join(str(exc).split())
        raise CheckpointError(
            f"{lead}{path} is not an emotion-edge checkpoint: torch cannot read it ({why}); {WHAT_TO_DO}"
        ) from exc
    missing = [key for key in REQUIRED if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(
            f"{lead}{path} is not an emotion-edge training checkpoint (no {', '.join(missing)}); {WHAT_TO_DO}"
        )
    try:
        Arch.from_dict(state["arch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{lead}{path}: its arch {state['arch']!r} is malformed ({exc}); {WHAT_TO_DO}") from exc
    return Checkpoint(path, state)
