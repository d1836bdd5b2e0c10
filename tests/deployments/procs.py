"""A Conductor and Nodes as separate operating-system processes (``symphony`` commands),
for tests that kill, freeze and restart them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from ..ports import port_range


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """One ``symphony`` process; its output goes to ``log``."""

    def __init__(self, args: list[str], log: Path, *, module: str = "symphony.cli") -> None:
        """``module``: what ``python -m`` runs with ``args`` (a test's launcher may wrap
        the command line)."""
        self.args = args
        self.log = log
        self.module = module
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def conductor(
    root: Path,
    *,
    node_port: int,
    http_port: int,
    node_timeout: float,
    restart_grace: float | None = None,
) -> Service:
    """A Conductor; ``restart_grace`` (default: the Conductor's, 40 s) is how long after
    a start a node the store expects has to come back, at least."""
    state = root / "conductor"
    grace = [] if restart_grace is None else ["--node-restart-grace", str(restart_grace)]
    return Service(
        [
            "conductor",
            "--listen",
            f"127.0.0.1:{node_port}",
            "--http",
            f"127.0.0.1:{http_port}",
            "--relay-port",  # not the HTTP port + 1, which may be someone else's
            "0",
            "--state-dir",
            str(state),
            "--auth",
            "none",
            "--node-timeout",
            str(node_timeout),
            "--log-level",
            "DEBUG",
            *grace,
        ],
        root / "conductor.log",
    )


def node(
    root: Path, node_id: str, *, node_port: int, heartbeat: float = 0.3, capacity: int = 10
) -> Service:
    certs = root / "conductor" / "certs"
    return Service(
        [
            "node",
            "--node-id", node_id,
            "--conductor", f"localhost:{node_port}",
            "--group", "gpu-1",
            "--capacity", f"Analytic1={capacity}",
            "--heartbeat", str(heartbeat),
            "--ports", port_range(),
            "--ca-file", str(certs / "ca.pem"),
            "--cert-file", str(certs / "node-client.pem"),
            "--key-file", str(certs / "node-client.key"),
            "--state-dir", str(root / node_id),
            "--log-level", "DEBUG",
        ],
        root / f"{node_id}.log",
    )  # fmt: skip


__all__ = ["Service", "conductor", "free_port", "node", "signal"]
