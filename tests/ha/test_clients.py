"""Clients with several Conductor URLs (``SYMPHONY_URL=a,b,c``): they go on to the next
when one cannot be reached or is a standby that reaches no leader, and stay with the
one that answered."""

from __future__ import annotations

import functools
import socket
from pathlib import Path

import httpx
import pytest
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from symphony.client import ApiError, AsyncClient, Client
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
