"""The checkpoint format (train/checkpoint.py): it round-trips, it reads the files earlier releases
wrote, and anything else gets an error that names the file and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edge.contract import CropPolicy, Preprocessing
from train import checkpoint
from train.checkpoint import Arch, CheckpointError

ARCH = Arch((8, 16), (1, 1), 0.1)
CLASSES = ["angry", "happy", "sad"]


def write(path: Path, **extra: object) -> torch.nn.Module:
    torch.manual_seed(0)
    net = ARCH.build(len(CLASSES))
    state = checkpoint.header({"seed": 0}, CLASSES, Preprocessing(equalize="clahe"), ARCH, net)
    checkpoint.save({**state, "model": net.state_dict(), "epoch": 3, "val_top1": 0.5, **extra}, path)
    return net.eval()


def test_a_checkpoint_round_trips_to_the_same_model_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "best.pt"
    net = write(path)
    loaded = checkpoint.load(path)
    assert loaded.class_names == CLASSES and loaded.arch == ARCH
    assert loaded.preprocessing == Preprocessing(equalize="clahe") and loaded.crop == CropPolicy()
    info = loaded.info()
    assert info.classes == CLASSES and info.preprocessing.equalize == "clahe"
    x = torch.randn(4, 1, 48, 48)
    with torch.no_grad():
        assert torch.equal(loaded.model()(x), net(x))
    assert not (tmp_path / "best.pt.tmp").exists()  # written atomically


def test_the_weight_average_is_what_a_last_checkpoint_gives(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    other = ARCH.build(len(CLASSES)).state_dict()
    write(path, ema=other)
    weights = checkpoint.load(path).weights()
    assert all(torch.equal(weights[k], other[k]) for k in other)


def test_a_checkpoint_in_the_first_releases_keys_loads(tmp_path: Path) -> None:
    """The dict as the trainer wrote it before train/checkpoint.py existed, key for key."""
    net = ARCH.build(len(CLASSES))
    old = {
        "config": {"widths": [8, 16], "depths": [1, 1], "dropout": 0.1},
        "class_names": CLASSES,
        "preprocessing": {"equalize": "hist"},  # a dict with fewer keys than today's: defaults fill it
        "crop": {"margin": 0.1, "align": True},
        "arch": {"widths": [8, 16], "depths": [1, 1], "dropout": 0.1},
        "params": 1,
        "macs": 2,
        "model": net.state_dict(),
        "epoch": 7,
        "val_top1": 0.6,
    }
    torch.save(old, tmp_path / "best.pt")
    loaded = checkpoint.load(tmp_path / "best.pt")
    assert loaded.arch == ARCH and loaded.crop.margin == 0.1 and loaded.preprocessing.equalize == "hist"
    with torch.no_grad():
        assert loaded.model()(torch.zeros(1, 1, 48, 48)).shape == (1, len(CLASSES))
    # What is written today has exactly the same header keys.
    today = checkpoint.header({}, CLASSES, Preprocessing(), ARCH, net)
    assert set(today) == set(old) - {"model", "epoch", "val_top1"}
    assert today["arch"] == old["arch"]


def test_a_file_that_is_not_a_checkpoint_gets_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "photo.pt"
    junk.write_bytes(b"\x89PNG not a checkpoint")
    with pytest.raises(CheckpointError, match=r"photo\.pt is not an emotion-edge checkpoint.*emotion-edge train"):
        checkpoint.load(junk)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match=r"--init: .*other\.pt is not an emotion-edge training checkpoint"):
        checkpoint.load(other, flag="--init")
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*missing\.pt; give the best\.pt"):
        checkpoint.load(tmp_path / "missing.pt")


def test_weights_that_do_not_fit_the_recorded_arch_are_named(tmp_path: Path) -> None:
    path = tmp_path / "best.pt"
    write(path)
    state = torch.load(path, weights_only=False)
    state["arch"] = {"widths": [8, 32], "depths": [1, 1], "dropout": 0.1}
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"best\.pt: its weights do not fit the architecture"):
        checkpoint.load(path).model()
