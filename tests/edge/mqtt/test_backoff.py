"""Reconnect waits: exponential, capped, jittered, and reset after a healthy connection."""

from __future__ import annotations

from edge.mqtt.client.link import Backoff


def test_waits_double_up_to_the_cap_and_each_is_between_half_and_all_of_its_step() -> None:
    low = Backoff(0.5, 4.0, rng=lambda: 0.0)
    high = Backoff(0.5, 4.0, rng=lambda: 1.0)
    assert [low.next() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert [high.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_reset_starts_again_from_the_first_wait() -> None:
    b = Backoff(0.5, 4.0, rng=lambda: 1.0)
    for _ in range(5):
        b.next()
    b.reset()
    assert b.next() == 0.5
