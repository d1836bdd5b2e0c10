"""A real Symphony cluster for the scenarios: a Conductor and Nodes as separate processes.

Each one is started the way an operator starts it, ``python -m symphony.cli conductor``
or ``... node``, with ``--auth none`` on loopback and free ports. A node's job processes
live under its node monitor (a separate, detached process), so "losing a node" here means
killing the agent, its monitor and every job of that node at once, as a machine that
loses power would.

    cluster = Cluster(tmp, heartbeat=0.5, node_timeout=1.5)
    await cluster.start(nodes=2)
    api = SymphonyApi(cluster.http_url)
    ...
    cluster.stop()
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import trio


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A Conductor plus named Nodes; ``stop()`` leaves no process behind."""

    def __init__(
        self,
        root: Path,
        *,
        heartbeat: float = 1.0,
        node_timeout: float = 5.0,
        capacity: int = 1000,
    ) -> None:
        self.root = root
        self.heartbeat = heartbeat
        self.node_timeout = node_timeout
        self.capacity = capacity
        self.node_port = free_port()
        self.http_port = free_port()
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        self.conductor: subprocess.Popen[bytes] | None = None
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with (self.root / log_name).open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "symphony.cli", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def start_conductor(self) -> None:
        """Start (or restart) the Conductor on the same ports and state directory."""
        self.conductor = self._spawn(
            [
                "conductor",
                "--listen", f"127.0.0.1:{self.node_port}",
                "--http", f"127.0.0.1:{self.http_port}", "--relay-port", "0",
                "--state-dir", str(self.root / "conductor"),
                "--auth", "none",
                "--node-timeout", str(self.node_timeout),
                "--log-level", "WARNING",
            ],
            "conductor.log",
        )  # fmt: skip

    def start_node(self, node_id: str) -> None:
        """Start a node agent offering ``A: capacity`` in group ``bench``."""
        certs = self.root / "conductor" / "certs"
        self.nodes[node_id] = self._spawn(
            [
                "node",
                "--node-id", node_id,
                "--conductor", f"localhost:{self.node_port}",
                "--group", "bench",
                "--capacity", f"A={self.capacity}",
                "--heartbeat", str(self.heartbeat),
                "--ca-file", str(certs / "ca.pem"),
                "--cert-file", str(certs / "node-client.pem"),
                "--key-file", str(certs / "node-client.key"),
                "--state-dir", str(self.root / node_id),
                "--log-level", "WARNING",
            ],
            f"{node_id}.log",
        )  # fmt: skip

    async def start(self, *, nodes: int) -> None:
        """Conductor first (it writes the certificates the nodes use), then the nodes."""
        self.start_conductor()
        await self.wait_http()
        for i in range(nodes):
            self.start_node(f"node-{i}")
        await self.wait_nodes_ready(nodes)

    async def wait_http(self, timeout: float = 30.0) -> None:
        """Until ``GET /healthz`` answers."""
        async with httpx.AsyncClient(base_url=self.http_url, timeout=2) as http:
            with trio.fail_after(timeout):
                while True:
                    self._check_alive()
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await trio.sleep(0.02)

    async def wait_nodes_ready(self, count: int, timeout: float = 60.0) -> None:
        """Until ``GET /nodes`` lists ``count`` nodes as ready."""
        async with httpx.AsyncClient(base_url=self.http_url, timeout=10) as http:
            with trio.fail_after(timeout):
                while True:
                    nodes = (await http.get("/nodes")).json()["nodes"]
                    if sum(n["state"] == "ready" for n in nodes) >= count:
                        return
                    await trio.sleep(0.02)

    def _check_alive(self) -> None:
        if self.conductor is not None and self.conductor.poll() is not None:
            log = (self.root / "conductor.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the conductor exited ({self.conductor.returncode}):\n{log}")

    def node_tree(self, node_id: str) -> list[psutil.Process]:
        """The agent, its node monitor (found by its state directory) and all their jobs."""
        marker = str(self.root / node_id)
        roots = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if any(arg == marker or arg.startswith(marker + os.sep) for arg in cmdline):
                roots.append(proc)
        found: dict[int, psutil.Process] = {}
        for proc in roots:
            found[proc.pid] = proc
            try:
                for child in proc.children(recursive=True):
                    found[child.pid] = child
            except psutil.NoSuchProcess:
                pass
        return list(found.values())

    def node_rss(self, node_id: str) -> int:
        """Resident memory of a node's agent and monitor (and jobs, if any), in bytes."""
        total = 0
        for proc in self.node_tree(node_id):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def kill_node(self, node_id: str) -> None:
        """The node's machine is gone: SIGKILL its agent, monitor and jobs together."""
        for proc in self.node_tree(node_id):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        self.nodes.pop(node_id).wait(10)

    def kill_conductor(self) -> None:
        """SIGKILL the Conductor (no goodbye to the nodes, no clean shutdown)."""
        assert self.conductor is not None
        self.conductor.kill()
        self.conductor.wait(10)

    def stop(self) -> None:
        """SIGTERM everything, then SIGKILL what is left, jobs included."""
        procs = [p for p in [self.conductor, *self.nodes.values()] if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for node_id in list(self.nodes):
            for proc in self.node_tree(node_id):
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
        self.nodes.clear()


def kill(pid: int) -> None:
    """SIGKILL one process, if it still exists."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
