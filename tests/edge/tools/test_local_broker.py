"""The throwaway broker of `demo` and `soak`: out of the reach of the terminal's Ctrl+C (a session of
its own), and still gone when the process that started it is killed without stopping it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.tools.local_broker import find_mosquitto, has_amqtt

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(find_mosquitto() is None and not has_amqtt(), reason="no MQTT broker installed")

OWNER = """
import os, sys, time
from edge.tools.local_broker import LocalBroker
broker = LocalBroker().start()
print(broker.proc.pid, os.getsid(broker.proc.pid), os.getsid(0), flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by the init that adopted it) is gone too.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def test_the_broker_has_its_own_session_and_dies_with_an_owner_killed_without_stopping_it() -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        broker_pid, broker_session, owner_session = map(int, owner.stdout.readline().split())
        assert broker_session == broker_pid != owner_session  # Ctrl+C in the owner's terminal does not reach it
        owner.send_signal(signal.SIGKILL)  # no stop(), no clean-up: only the kernel can tell the broker
        owner.wait(10)
        end = time.monotonic() + 30
        while alive(broker_pid) and time.monotonic() < end:
            time.sleep(0.1)
        assert not alive(broker_pid), "the broker outlived the process that started it"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)
