"""A blocking connection to a node monitor, for the benchmarks and tests that speak its
protocol raw (one JSON object a line) rather than through the agent's client."""

from __future__ import annotations

import os
import socket

from symphony.node.process.monitorfiles import SOCKET_NAME


def connect_monitor(state_dir: str, timeout: float) -> socket.socket:
    """A Unix socket connected to the monitor of ``state_dir``, through the directory's
    descriptor: a socket's path is limited to ~107 bytes, a state directory's is not."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(timeout)
    directory = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sock.connect(f"/proc/self/fd/{directory}/{SOCKET_NAME}")
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(directory)
    return sock
