"""Free TCP ports for the tests' brokers, cameras and servers, that never collide across pytest-xdist
workers, nor with the ports the kernel hands out for outgoing connections.

A port found free and then bound by a broker a moment later can be taken in between: by another
worker's broker, or by any client socket, which gets an ephemeral port from the kernel. So each
worker draws from its own block of ports below the kernel's ephemeral range (where no client socket
ever lands), at random within the block (two test sessions on one machine rarely meet), checks the
port can be bound, and never hands out the same port twice.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

HOST = "127.0.0.1"
FIRST = 10_000  # below it: well-known and registered services' usual ports
BLOCK = 1_000
_handed_out: set[int] = set()


def ephemeral_low() -> int:
    """The lowest port the kernel gives client sockets (Linux's ip_local_port_range; 32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def worker_index() -> int:
    """0 for a run without xdist (and for its first worker, gw0), n for worker gwn."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    start = FIRST + worker_index() * BLOCK
    if start + BLOCK > ephemeral_low():  # a machine with a wide ephemeral range: the kernel's choice
        return _kernel_port()
    candidates = list(range(start, start + BLOCK))
    random.shuffle(candidates)
    for port in candidates:
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port left in {start}-{start + BLOCK - 1} for this test worker")


def _kernel_port() -> int:
    from edge.tools.local_broker import free_port as kernel_port  # bind(0), never the same port twice

    return kernel_port()
