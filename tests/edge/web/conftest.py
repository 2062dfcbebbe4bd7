"""A live view on a free loopback port, fed real pictures by a thread (no camera or model needed)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from edge.web.config import Credentials, WebConfig
from edge.web.view import WebView
from tests.edge.web.helpers import frame


class Feeder:
    """Offers a new picture and result every ``period`` s, as the loop would."""

    def __init__(self, view: WebView, period: float = 0.02) -> None:
        self.view = view
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.wait(self.period):
            image, result = frame(i)
            self.view.handle_frame(result)
            self.view.offer(image, result, 30.0)
            i += 1

    def start(self) -> Feeder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def live_view() -> Iterator[Callable[..., WebView]]:
    """``live_view(credentials=..., **web_keys)``: a started, fed view; stopped after the test."""
    started: list[tuple[WebView, Feeder]] = []

    def make(credentials: Credentials | None = None, **keys: object) -> WebView:
        config = WebConfig(**{"enabled": True, "port": 0, **keys})  # type: ignore[arg-type]
        view = WebView(config, ["happy", "neutral", "sad"], {"model": "test 1.0"}, credentials or Credentials())
        view.start()
        feeder = Feeder(view).start()
        started.append((view, feeder))
        return view

    yield make
    for view, feeder in started:
        feeder.stop()
        view.close()
