"""From per-frame probabilities of a tracked face to a stable emotion.

An exponential moving average calms the probabilities; hysteresis keeps the label: it changes only
when another class's smoothed probability beats the current label's by ``hysteresis``, so a face
that sits between two close classes does not flicker between them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Probs = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Smoothed:
    label: str
    score: float  # the smoothed probability of ``label``
    probs: Probs  # smoothed probabilities of every class


@dataclass
class _State:
    ema: Probs
    label: int


class EmotionSmoother:
    def __init__(self, classes: Sequence[str], alpha: float = 0.4, hysteresis: float = 0.1) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"smoother.alpha must be in (0, 1], got {alpha}")
        if not 0.0 <= hysteresis < 1.0:
            raise ValueError(f"smoother.hysteresis must be in [0, 1), got {hysteresis}")
        self.classes = list(classes)
        self.alpha = np.float32(alpha)
        self.hysteresis = hysteresis
        self._states: dict[int, _State] = {}

    def update(self, face_id: int, probs: Probs) -> Smoothed:
        """Fold this frame's probabilities of ``face_id`` in; a new id starts from them."""
        probs = np.asarray(probs, dtype=np.float32)
        state = self._states.get(face_id)
        if state is None:
            state = _State(probs.copy(), int(probs.argmax()))
            self._states[face_id] = state
        else:
            state.ema *= 1 - self.alpha
            state.ema += self.alpha * probs
            best = int(state.ema.argmax())
            if best != state.label and state.ema[best] >= state.ema[state.label] + self.hysteresis:
                state.label = best
        return Smoothed(self.classes[state.label], float(state.ema[state.label]), state.ema.copy())

    def retain(self, face_ids: Iterable[int]) -> None:
        """Forget every face not listed (their tracks expired)."""
        keep = set(face_ids)
        for face_id in [i for i in self._states if i not in keep]:
            del self._states[face_id]

    def __len__(self) -> int:
        return len(self._states)
