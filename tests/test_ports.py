"""The tests' ports: each pytest-xdist worker draws from its own block, below the kernel's ephemeral
range, so a broker's port is never another worker's nor a client socket's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.ports import ephemeral_low

ROOT = Path(__file__).resolve().parents[1]


def ports_of_a_worker(worker: str, count: int = 100) -> list[int]:
    # The port a test broker gets by default (tests/edge/mqtt/broker.py), as worker `worker` sees it.
    draw = (
        "import json\n"
        "from tests.edge.mqtt.broker import Listener\n"
        f"print(json.dumps([Listener().port for _ in range({count})]))\n"
    )
    env = {**os.environ, "PYTEST_XDIST_WORKER": worker}
    done = subprocess.run([sys.executable, "-c", draw], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return list(json.loads(done.stdout))


def test_two_workers_never_draw_the_same_port_and_no_client_socket_can_hold_one() -> None:
    first, second = ports_of_a_worker("gw0"), ports_of_a_worker("gw1")
    assert len(set(first)) == len(first) and len(set(second)) == len(second)  # never twice in one worker
    assert not set(first) & set(second)
    assert max(first + second) < ephemeral_low()
