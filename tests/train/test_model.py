"""The model's size figures (recorded in every checkpoint and the model card) hold wherever the
model lives."""

from __future__ import annotations

from train.model import EmotionNet, count_macs, count_parameters


def test_macs_are_counted_on_the_device_the_weights_are_on() -> None:
    model = EmotionNet(7)
    on_cpu = count_macs(model)
    assert on_cpu > 50_000_000 and count_parameters(model) > 500_000
    # The trainer counts after moving the model to its device (a CUDA GPU: the probe face must
    # follow the weights there). The meta device stands in for one here: no data, same shapes.
    assert count_macs(model.to("meta")) == on_cpu
