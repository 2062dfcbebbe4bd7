"""An eighth class, contempt (``train --contempt``): learnt from FER+ votes alone, since FER2013
labels no image with it; scored on FER+ majority labels, always wrong on FER2013's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.train.test_ferplus import USAGES, vote, write_tree, write_votes
from train.config import ConfigError, TrainConfig
from train.dataset import DatasetError, load_dataset
from train.trainer import prepare_data


def contempt_votes() -> list[list[int]]:
    """Row 1 (train) and row 7 (val) are mostly contempt; the rest mostly anger."""
    return [vote(contempt=7, anger=3) if row in (1, 7) else vote(anger=8, neutral=2) for row in range(len(USAGES))]


def test_contempt_is_only_learnt_from_ferplus_votes() -> None:
    with pytest.raises(ConfigError, match=r"it needs --labels ferplus \(contempt from file x\.json\)$"):
        TrainConfig.from_dict({"contempt": True}, "file x.json")
    TrainConfig.from_dict({"contempt": True, "labels": "ferplus", "votes": "v.csv"})


def test_a_contempt_run_has_an_eighth_class_fed_by_the_votes_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMOTION_EDGE_CACHE", str(tmp_path / "cache"))
    tree = write_tree(tmp_path / "tree")
    votes = write_votes(tmp_path / "v.csv", contempt_votes(), USAGES)
    cfg = TrainConfig(data=str(tree), labels="ferplus", votes=str(votes), contempt=True)
    _, data, _ = prepare_data(cfg)
    _, without, _ = prepare_data(TrainConfig(data=str(tree), labels="ferplus", votes=str(votes)))
    assert data.class_names == (*without.class_names, "contempt")
    c = len(data.class_names) - 1
    assert data.train_t is not None and data.train_t.shape[1] == c + 1
    # The vote distribution carries contempt; FER2013's labels never do.
    assert data.train_t[:, c].max() == pytest.approx(0.7)
    assert (data.train_y < c).all() and (data.val_y < c).all()
    # FER+ majority labels name contempt where the taggers did (row 7, a PublicTest row)...
    assert data.val_fer is not None and c in data.val_fer
    # ...and without --contempt that row is left out of the benchmark, its votes out of the target.
    assert without.val_fer is not None and -1 in without.val_fer and (without.val_fer < c).all()
    assert without.train_t is not None and np.allclose(without.train_t.sum(1), 1.0)


def test_a_data_set_is_labelled_for_a_models_classes_including_vote_only_ones(tmp_path: Path) -> None:
    data = load_dataset(write_tree(tmp_path / "tree"), cache_dir=tmp_path / "cache")
    eight = data.for_model([*data.class_names, "contempt"])
    assert eight.class_names[-1] == "contempt"
    assert (eight.labels == data.labels).all()  # the same images, the same indices
    with pytest.raises(DatasetError, match="no images of \\['ahegao'\\]"):
        data.for_model([*data.class_names, "ahegao"])
