"""``--augment-off``: a run can leave blur, noise or gamma out of the default augmentation, so that
each is measured alone; what is off is never applied, and the rest stays as it was."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge.fields import ConfigError
from train.augment import AugmentConfig, augment_uint8, without
from train.config import Ablatable, TrainConfig

from .test_augment_device import STILL

ONLY: dict[str, dict[str, Any]] = {
    "blur": {"blur": 1.0},
    "noise": {"noise": 1.0},
    # Gamma is part of the photometric jitter: contrast and brightness held still, gamma far from 1.
    "gamma": {"photometric": 1.0, "contrast": (1.0, 1.0), "brightness": 0.0, "gamma": (0.5, 0.5)},
}


def faces(n: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[0:48, 0:48]
    return np.stack([(40 + (xx * 3 + yy * 2 + 9 * i) % 180).astype(np.uint8) for i in range(n)])


@pytest.mark.parametrize("part", ["blur", "noise", "gamma"])
def test_a_part_turned_off_is_never_applied(part: Ablatable) -> None:
    cfg = AugmentConfig(**{**STILL, **ONLY[part]})
    images = faces()
    changed = augment_uint8(images, cfg, np.random.default_rng(0))
    assert np.abs(changed.astype(int) - images).mean() > 1.0  # on, it changes every face
    off = augment_uint8(images, without(cfg, [part]), np.random.default_rng(0))
    assert np.array_equal(off, images)


def test_the_other_parts_stay_as_they_were() -> None:
    cfg = AugmentConfig(camera=True)
    off = without(cfg, ["blur", "gamma"])
    assert (off.blur, off.gamma) == (0.0, (1.0, 1.0))
    assert (off.noise, off.photometric, off.contrast, off.camera, off.erase) == (
        cfg.noise,
        cfg.photometric,
        cfg.contrast,
        cfg.camera,
        cfg.erase,
    )
    assert without(cfg, []) == cfg


def test_the_setting_names_only_known_parts() -> None:
    assert TrainConfig.from_dict({"augment_off": ["noise", "gamma"]}).augment_off == ["noise", "gamma"]
    assert TrainConfig().augment_off == []
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict({"augment_off": ["blur", "fog"]})
    assert "augment_off" in str(err.value) and "'fog'" in str(err.value)
    assert "choose one of: blur, noise, gamma" in str(err.value)
