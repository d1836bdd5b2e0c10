"""One command that fails on the node fails that command, never the link.

A real Conductor and a real node on 127.0.0.1: what fails is the node's own work for
one request (a start whose record cannot be written; a log file that cannot be read),
and the link must stay the one it was (``connects == 1``), answering the rest.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from symphony.node.link import GetLinkStatus
from symphony.node.process.recordlog import RECORDS_FILE
from symphony.node.sources import prepare
from tests.link.cluster import get_nodes, shared_cert_node, start_conductor, start_node, wait_for


def _spec(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["sleep", "1000"]},
        "restart_policy": {"type": "never"},
    }


@asynccontextmanager
async def _one_node(tmp_path: Path) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """A Conductor, node ``n1`` (state in ``tmp_path/n``) and an API client; at the end
    the node's jobs are killed and everything stops."""
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, tmp_path / "c")
            node = await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n"))
            headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
            async with httpx.AsyncClient(
                base_url=info.http_url, headers=headers, timeout=10
            ) as http:
                yield node, http
            await node.processes.shutdown_monitor(kill_jobs=True)
            nursery.cancel_scope.cancel()


async def _connected_once(node: Any) -> None:
    """The link is the one it was: never dropped."""
    status = await node.link.ask(GetLinkStatus())
    assert (status.state, status.connects) == ("connected", 1)


async def test_link_start_failing_on_the_node_is_reported_failed_and_the_link_stays(
    tmp_path: Path,
) -> None:
    async with _one_node(tmp_path) as (node, http):
        # A directory where the node's instance records go: saving one fails with
        # an OSError, as on a full disk (whoever runs the tests, root included).
        os.mkdir(tmp_path / "n" / "jobs" / "instances" / RECORDS_FILE)
        assert (await http.post("/deployments", json=_spec("nodisk"))).status_code == 201

        async def failed() -> list[dict[str, Any]]:
            body = (await http.get("/deployments/nodisk")).json()
            return [i for i in body["instances"] if i["state"] == "failed"]

        (instance, *_) = await wait_for(failed, timeout=15)
        assert "cannot start" in (instance["reason"] or "")
        await _connected_once(node)


async def test_link_log_that_cannot_be_read_fails_that_request_only(tmp_path: Path) -> None:
    async with _one_node(tmp_path) as (node, http):
        assert (await http.post("/deployments", json=_spec("logme"))).status_code == 201

        async def running() -> list[dict[str, Any]]:
            body = (await http.get("/deployments/logme")).json()
            return [i for i in body["instances"] if i["state"] == "running"]

        (instance,) = await wait_for(running, timeout=30)
        # Its stdout log is a directory now: reading it fails with an OSError.
        logs = tmp_path / "n" / "jobs" / "logs" / instance["id"]
        os.rename(logs / "stdout.log", logs / "stdout.log.aside")
        os.mkdir(logs / "stdout.log")
        answer = await http.get("/deployments/logme/logs", params={"stream": "stdout"})
        assert "Is a directory" in answer.text
        # The link is the one it was, and serves the next request.
        answer = await http.get("/deployments/logme/logs", params={"stream": "stderr"})
        assert answer.status_code == 200, answer.text
        await _connected_once(node)


def _venv(envs_dir: Path, name: str) -> None:
    """What the node looks for in its ``envs_dir``: a directory with a ``pyvenv.cfg``."""
    (envs_dir / name).mkdir(parents=True)
    (envs_dir / name / "pyvenv.cfg").write_text("home = /usr/bin\n")


async def test_link_env_with_a_name_the_wire_refuses_is_left_out_not_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare, "ENV_SCAN_INTERVAL", 0.2)
    envs = tmp_path / "envs"
    _venv(envs, "good")
    _venv(envs, "my env")  # a space: not an environment name the wire carries
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, tmp_path / "c")
            config = shared_cert_node(info, "n1", tmp_path / "n", envs_dir=envs)
            node = await start_node(nursery, config)

            async def envs_of_n1() -> list[str] | None:
                found = [n["envs"] for n in await get_nodes(info) if n["node_id"] == "n1"]
                return found[0] if found and found[0] else None

            assert await wait_for(envs_of_n1, timeout=15) == ["good"]
            # In a heartbeat too: a new odd one is left out, a new good one comes.
            _venv(envs, "_hidden")
            _venv(envs, "later")
            await wait_for(lambda: _has(envs_of_n1, "later"), timeout=15)
            assert await envs_of_n1() == ["good", "later"]
            await _connected_once(node)
            await node.processes.shutdown_monitor(kill_jobs=True)
            nursery.cancel_scope.cancel()


async def _has(envs: Any, name: str) -> bool:
    return name in (await envs() or [])
