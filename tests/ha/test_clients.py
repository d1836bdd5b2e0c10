"""Clients with several Conductor URLs (``SYMPHONY_URL=a,b,c``): they go on to the next
when one cannot be reached or is a standby that reaches no leader, and stay with the
one that answered."""

from __future__ import annotations

import functools
import os
import socket
import sys
from pathlib import Path

import httpx
import pytest
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from symphony.client import ApiError, AsyncClient, Client, ConductorUnreachable
from symphony.conductor.api.forward import Forwarder

from ..link.cluster import start_conductor

SPEC = {"node_group": "g", "kind": "exec", "config": {"command": ["true"]}}


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed when we return


async def serve_leaderless_standby(nursery: trio.Nursery) -> str:
    """A standby's API whose store names no leader: every answer is its 503."""
    client = httpx.AsyncClient()
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    binds = await nursery.start(functools.partial(serve, Forwarder(lambda: None, client), config))
    return str(binds[0])


async def test_clients_try_each_url_in_turn(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        leader = await start_conductor(nursery, tmp_path / "a", http_auth="none")
        standby = await serve_leaderless_standby(nursery)
        urls = f"{closed_port_url()}, {standby},{leader.http_url}"

        client = Client(urls)
        created = await trio.to_thread.run_sync(
            lambda: client.create_deployment({**SPEC, "name": "one"})
        )
        assert created["name"] == "one"
        assert client.url == leader.http_url  # remembered: tried first next time

        async with AsyncClient(urls) as aclient:
            assert (await aclient.create_deployment({**SPEC, "name": "two"}))["name"] == "two"
            assert aclient.url == leader.http_url
            names = [d["name"] for d in await aclient.list_deployments()]
        assert names == ["one", "two"]

        # Nobody leads anywhere: the last answer (the standby's 503) is the error.
        alone = Client(f"{closed_port_url()},{standby}")
        with pytest.raises(ApiError) as caught:
            await trio.to_thread.run_sync(alone.list_deployments)
        assert caught.value.status == 503
        nursery.cancel_scope.cancel()


async def test_clients_name_every_conductor_tried_and_what_it_said(tmp_path: Path) -> None:
    # Once, with the leader killed and SYMPHONY_URL=standby,leader, the error named the
    # leader alone ("connection refused"): not the standby's 503 "no leader".
    async with trio.open_nursery() as nursery:
        standby = await serve_leaderless_standby(nursery)
        leader = closed_port_url()

        client = Client(f"{standby},{leader}")
        with pytest.raises(ConductorUnreachable) as unreachable:
            await trio.to_thread.run_sync(client.list_deployments)
        said = str(unreachable.value)
        assert f"cannot reach the Conductor at {leader}: connection refused" in said
        assert f"before it: {standby}: 503 " in said and "no leader" in said
        assert len(unreachable.value.tried) == 1

        async with AsyncClient(f"{standby},{leader}") as aclient:
            with pytest.raises(ConductorUnreachable) as caught:
                await aclient.list_deployments()
        assert str(caught.value) == said  # the same words as the sync client's

        # The other way round, the standby's answer is the error, and names the leader.
        with pytest.raises(ApiError) as refused:
            await trio.to_thread.run_sync(Client(f"{leader},{standby}").list_deployments)
        assert refused.value.status == 503 and refused.value.url == standby
        assert refused.value.tried == (f"{leader}: connection refused",)
        assert f"(from {standby}; before it: {leader}: connection refused)" in str(refused.value)

        # The CLI says the same in its one line.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYMPHONY_")}
        env["SYMPHONY_URL"] = f"{standby},{leader}"
        ps = await trio.run_process(
            [sys.executable, "-m", "symphony.cli", "ps"],
            env=env,
            cwd=tmp_path,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        line = ps.stderr.decode()
        assert ps.returncode == 1, line
        assert f"cannot reach the Conductor at {leader} (connection refused)" in line
        assert f"before it, {standby}: 503 " in line and "no leader" in line
        env["SYMPHONY_URL"] = f"{leader},{standby}"
        ps = await trio.run_process(
            [sys.executable, "-m", "symphony.cli", "ps"],
            env=env,
            cwd=tmp_path,
            capture_stderr=True,
            check=False,
        )
        line = ps.stderr.decode()
        assert ps.returncode == 1 and "no leader" in line, line
        assert f"(from {standby}; before it, {leader}: connection refused)" in line
        nursery.cancel_scope.cancel()
