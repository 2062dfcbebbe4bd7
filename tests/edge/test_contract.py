"""The input contract: what every crop goes through before the model sees it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.contract import ContractError, CropPolicy, Preprocessing


def test_hist_equalisation_then_scaling_gives_nchw_float_input() -> None:
    crop = np.tile(np.arange(100, 148, dtype=np.uint8), (48, 1))  # a low-contrast ramp
    x = Preprocessing(equalize="hist").apply(crop)
    assert x.shape == (1, 1, 48, 48) and x.dtype == np.float32
    expected = (cv2.equalizeHist(crop).astype(np.float32) / 255.0 - 0.5) / 0.5
    assert np.allclose(x[0, 0], expected)
    assert x.min() < -0.9 and x.max() > 0.9  # the ramp now spans the range


def test_no_equalisation_keeps_the_pixels() -> None:
    crop = np.full((2, 48, 48), 255, dtype=np.uint8)
    assert np.allclose(Preprocessing(equalize="none").apply(crop), 1.0)


def test_clahe_is_applied_per_image() -> None:
    rng = np.random.default_rng(1)
    crops = rng.integers(90, 110, (3, 48, 48), dtype=np.uint8)
    out = Preprocessing(equalize="clahe").equalized(crops)
    assert out.shape == crops.shape and out.std() > crops.std()


def test_bad_values_name_the_key() -> None:
    with pytest.raises(ContractError, match=r"preprocessing.equalize='gamma' is not one of none, hist, clahe"):
        Preprocessing(equalize="gamma")
    with pytest.raises(ContractError, match=r"crop.margin must be within \[-0.3, 1\]"):
        CropPolicy(margin=2.0)
    with pytest.raises(ContractError, match=r"unknown crop keys \['zoom'\]"):
        CropPolicy.from_dict({"zoom": 1})
    with pytest.raises(ContractError, match=r"face crops must be uint8"):
        Preprocessing().apply(np.zeros((48, 48), dtype=np.float32))  # type: ignore[arg-type]
