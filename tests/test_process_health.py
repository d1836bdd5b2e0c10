"""Health checks of each type failing (the job is restarted) and recovering (healthy).

Each job is unhealthy on its first run and healthy from its second. The mock clock jumps
only after 250 ms of real idleness, far more than a job needs to start listening.
"""

from __future__ import annotations

import os
import socket
import sys

import pytest
import trio
import trio.testing

from tests.jobs.harness import JOBS, Node, open_node, spec


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.25)


@pytest.fixture
async def node(tmp_path, clock):
    async with open_node(str(tmp_path / "node")) as node:
        yield node


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check(kind: str, port: int) -> dict:
    timing = {"period_seconds": 5, "timeout_seconds": 2, "failure_threshold": 3}
    if kind == "exec":
        return {"type": "exec", "command": ["test", "-f", "ready"], **timing}
    if kind == "http":
        return {"type": "http", "url": f"http://127.0.0.1:{port}/healthz", **timing}
    return {"type": "tcp", "port": port, **timing}


@pytest.mark.parametrize("kind", ["exec", "http", "tcp"])
async def test_health_check_failing_restarts_and_recovering_is_healthy(
    clock: trio.testing.MockClock, node: Node, kind: str
) -> None:
    port = free_port()
    if kind == "exec":
        command = ["sh", "-c", "if [ -f seen ]; then touch ready; else touch seen; fi; sleep 1000"]
    else:
        command = [sys.executable, os.path.join(JOBS, "serve.py"), str(port), kind]
    policy = {"backoff_seconds": 1}
    await node.start("svc", spec(command, health_check=_check(kind, port), restart_policy=policy))
    exited = await node.wait_for("svc", "exited")
    assert (exited.reason or "").startswith("unhealthy: ")
    assert exited.signal == "SIGTERM" or exited.exit_code not in (0, None)
    healthy = [u for u in node.of("svc") if u.health == "healthy"]
    while not healthy:
        await node.changed.wait()
        healthy = [u for u in node.of("svc") if u.health == "healthy"]
    states = node.states("svc")
    assert states[:2] == ["starting", "running"] and "restarting" in states
    # The first run turns unhealthy once. (The second may fail a probe before its
    # server listens, when a busy machine starts it slower than the mock clock jumps.)
    unhealthy = [
        u
        for u in node.of("svc")
        if u.health == "unhealthy" and u.state == "running" and u.restarts == 0
    ]
    assert len(unhealthy) == 1 and unhealthy[0].reason == exited.reason.removeprefix("unhealthy: ")
    (report,) = await node.manager.list_instances()
    assert (report.state, report.health, report.restarts) == ("running", "healthy", 1)


async def test_health_check_timeout_counts_as_failure(
    clock: trio.testing.MockClock, node: Node
) -> None:
    check = {
        "type": "exec",
        "command": ["sleep", "30"],
        "timeout_seconds": 1,
        "period_seconds": 1,
        "failure_threshold": 2,
    }
    policy = {"type": "never"}
    await node.start("slow", spec(["sleep", "1000"], health_check=check, restart_policy=policy))
    exited = await node.wait_for("slow", "exited")
    assert exited.reason == "unhealthy: exec health check timed out after 1s"
