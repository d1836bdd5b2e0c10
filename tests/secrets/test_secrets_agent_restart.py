"""A node keeps secret values in memory only: after its agent restarts, the Conductor
sends them again, so a restart of the job on the node still gets them. Real processes
(the agent is SIGKILLed); the services log at DEBUG and no log of theirs holds a value."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..deployments import procs
from ..deployments.helpers import eventually, running
from ..deployments.test_failures import start_cluster

VALUE = "agent-restart-s3cret"
SCRIPT = (
    'printf "%s\\n" "$TOKEN" >> "$OUT"; '
    'while [ ! -e "$GO" ]; do sleep 0.05; done; rm -f "$GO"; exit 1'
)


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    yield procs.free_port(), procs.free_port()


async def test_secrets_sent_again_after_an_agent_restart(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    conductor, nodes, api = await start_cluster(tmp_path, ports, ["worker"], node_timeout=20)
    out, go = tmp_path / "job-out" / "seen.txt", tmp_path / "job-out" / "go"
    out.parent.mkdir()
    try:
        made = await api.http.post("/secrets", json={"name": "tok", "value": VALUE})
        assert made.status_code == 201, made.text
        spec = {
            "name": "holder",
            "node_group": "gpu-1",
            "config": {
                "command": ["sh", "-c", SCRIPT],
                "env": {"TOKEN": {"secret": "tok"}, "OUT": str(out), "GO": str(go)},
            },
            "restart_policy": {"type": "on-failure", "backoff_seconds": 0.1},
        }
        assert (await api.post(spec)).status_code == 201
        await eventually(lambda: _holds(out, 1), timeout=20)
        nodes["worker"].kill()  # SIGKILL: the agent and its memory are gone, the job stays

        async def ready_again() -> bool:
            return (await api.nodes())[0]["state"] == "ready"

        async def disconnected() -> bool:
            return (await api.nodes())[0]["state"] == "disconnected"

        await eventually(disconnected)
        nodes["worker"].start()
        await eventually(ready_again)
        await eventually(lambda: _one_running(api), timeout=20)
        go.touch()  # the job exits 1: the node restarts it, with the value sent again
        await eventually(lambda: _holds(out, 2), timeout=20, interval=0.1)
        after = await api.get("holder")
        assert after["instances"][0]["restarts"] >= 1
        assert VALUE not in str(after)
    finally:
        for service in (*nodes.values(), conductor):
            with contextlib.suppress(ProcessLookupError):
                service.signal(signal.SIGCONT)
            service.kill()
        await api.aclose()
    leaked = [
        str(p)
        for p in tmp_path.rglob("*")
        if p.is_file() and p.parent != out.parent and VALUE.encode() in p.read_bytes()
    ]
    assert leaked == []  # state dirs, databases, job logs and the services' DEBUG logs


async def _holds(out: Path, runs: int) -> bool:
    """Whether ``runs`` runs of the job have written the value (each on its own line)."""
    return out.exists() and out.read_text() == f"{VALUE}\n" * runs


async def _one_running(api: object) -> bool:
    deployment = await api.get("holder")  # type: ignore[attr-defined]
    return len(running(deployment)) == 1
