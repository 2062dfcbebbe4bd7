"""Availability: ``online`` while running, ``offline`` on a clean stop, and ``offline`` through the
last will when the publisher process dies without a word. Real publisher processes."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.mqtt.topics import Topics
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber
from tests.edge.mqtt.conftest import DEVICE, publisher_table

ROOT = Path(__file__).resolve().parents[3]
T = Topics("emotion-edge", DEVICE)


class PublisherProcess:
    def __init__(self, table: dict) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.edge.mqtt.publisher_proc", json.dumps(table)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    # A generous bound on a failure, not a speed: with the suite's xdist workers and other work on a
    # 2-core machine, starting the publisher's interpreter alone has taken over 15 s.
    def expect(self, prefix: str, timeout: float = 60.0) -> str:
        try:
            while True:
                line = self.lines.get(timeout=timeout)
                if line.startswith(prefix):
                    return line
        except queue.Empty:
            err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
            raise AssertionError(f"publisher process never said {prefix!r}; stderr: {err}") from None


@pytest.fixture
def spawn(broker: Broker) -> Iterator:
    procs: list[PublisherProcess] = []

    def start(**overrides: object) -> PublisherProcess:
        p = PublisherProcess(publisher_table(broker.port, **overrides))
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.proc.poll() is None:
            p.proc.kill()
        p.proc.wait(timeout=10)


def test_a_publisher_killed_hard_is_announced_offline_by_its_last_will(
    spawn, broker: Broker, subscriber: Subscriber
) -> None:
    pub = spawn(keepalive_s=5)
    pub.expect("connected")
    subscriber.wait_topic(T.availability, "online")
    mark = subscriber.mark()
    pub.proc.kill()  # SIGKILL: no chance to say goodbye
    subscriber.wait_topic(T.availability, "offline", start=mark, timeout=10)
    late = Subscriber(broker.port, topics=(T.availability,)).start()
    try:
        retained = late.wait_topic(T.availability)
        assert retained.text == "offline" and retained.retain
    finally:
        late.stop()


def test_sigterm_flushes_what_is_queued_publishes_offline_and_exits_cleanly(spawn, subscriber: Subscriber) -> None:
    pub = spawn(rate={"faces_interval_ms": 0, "faces_min_interval_ms": 0}, flush_timeout_s=5.0)
    pub.expect("connected")
    subscriber.wait_topic(T.faces)
    mark = subscriber.mark()
    pub.proc.send_signal(signal.SIGTERM)
    last = int(pub.expect("fed ").split()[1])
    pub.expect("closed")
    assert pub.proc.wait(timeout=10) == 0
    offline = subscriber.wait_topic(T.availability, "offline", start=mark)
    frames = [r.json()["frame"] for r in subscriber.on(T.faces)]
    assert frames[-1] == last  # the last frame fed before the stop went out ...
    assert subscriber.received.index(offline) > max(
        i for i, r in enumerate(subscriber.received) if r.topic == T.faces
    )  # ... before offline
    # A clean DISCONNECT discards the last will: "offline" arrives once, from the publisher itself.
    time.sleep(0.5)
    assert [r.text for r in subscriber.received[mark:] if r.topic == T.availability] == ["offline"]
