"""One classifier for every camera of the device, the faces of the cameras that are ready batched
into one call.

Each camera's loop calls ``predict`` from its own thread. The first call runs at once; calls that
arrive while it runs wait, and the next of them runs all of them as one batch (the way databases
commit groups of transactions): a camera alone pays no wait for batching, several cameras share
each call of the model (on a Jetson: one TensorRT engine, one CUDA context, fewer launches). A
camera that stops calling holds nothing back: nobody waits for a camera, only for the model.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.classify import Classifier


@dataclass
class _Request:
    crops: npt.NDArray[np.uint8]
    result: npt.NDArray[np.float32] | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class BatchFigures:
    """How the shared calls went: model calls made, and how many crops and cameras' requests each
    combined batch held (a batch over ``max_batch`` is several calls)."""

    calls: int = 0
    crops: Counter[int] = field(default_factory=Counter)
    requests: Counter[int] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        n = max(1, self.calls)
        return {
            "calls": self.calls,
            "crops_per_call_mean": round(sum(k * v for k, v in self.crops.items()) / n, 2),
            "requests_per_call_mean": round(sum(k * v for k, v in self.requests.items()) / n, 2),
            "crops_per_call": {str(k): v for k, v in sorted(self.crops.items())},
            "requests_per_call": {str(k): v for k, v in sorted(self.requests.items())},
        }


class SharedClassifier:
    """A ``Classifier`` several threads may call at once; ``max_batch`` (the engine's largest batch,
    0: none) splits a combined batch that would exceed it."""

    def __init__(self, inner: Classifier, max_batch: int = 0) -> None:
        self.inner = inner
        self.info = inner.info
        self.backend = inner.backend
        self.reason = inner.reason
        self.max_batch = max_batch
        self.figures = BatchFigures()
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._running = False

    def __getattr__(self, name: str) -> Any:
        # What a tool asks of the model itself (its path, its providers) is the inner classifier's.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        request = _Request(crops)
        with self._cond:
            self._pending.append(request)
            while self._running and not request.done:
                self._cond.wait()
            if not request.done:  # the model is free: this thread runs everything that waits
                batch, self._pending = self._pending, []
                self._running = True
            else:
                batch = []
        if batch:
            self._run(batch)
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _run(self, batch: list[_Request]) -> None:
        try:
            try:
                self._answer(batch)
            except Exception:
                if len(batch) == 1:
                    raise
                # One camera's request spoiled the batch: each is answered alone, so only its own fails.
                for request in batch:
                    try:
                        self._answer([request])
                    except Exception as exc:
                        request.error = exc
        except BaseException as exc:  # the camera hears of it as if it had called the model alone
            for request in batch:
                if request.result is None:
                    request.error = exc
        finally:
            with self._cond:
                for request in batch:
                    request.done = True
                self._running = False
                self._cond.notify_all()

    def _answer(self, batch: list[_Request]) -> None:
        sizes = [len(r.crops) for r in batch]
        crops = np.concatenate([r.crops for r in batch]) if len(batch) > 1 else batch[0].crops
        step = self.max_batch or len(crops) or 1
        parts = [self.inner.predict(crops[i : i + step]) for i in range(0, len(crops), step)]
        if not parts:
            probs = np.zeros((0, len(self.info.classes)), np.float32)
        else:
            probs = np.concatenate(parts) if len(parts) != 1 else parts[0]
        self.figures.calls += len(parts)
        self.figures.crops[len(crops)] += 1
        self.figures.requests[len(batch)] += 1
        start = 0
        for request, size in zip(batch, sizes):
            request.result = probs[start : start + size]
            start += size

    def close(self) -> None:
        self.inner.close()


def share(classifier: Classifier, max_faces: int) -> SharedClassifier:
    """``classifier`` for every camera: a TensorRT engine takes at most ``max_faces`` faces a call
    (detector.max_faces, as it was built); ONNX Runtime has no such limit."""
    return SharedClassifier(classifier, max_faces if classifier.backend == "tensorrt" else 0)
