"""What the relay tests share: the test web app as an experiment, and waiting for it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio
import trio_websocket

from ..ports import port_range

WSAPP = Path(__file__).with_name("wsapp.py")
ECHO = Path(__file__).with_name("echo_server.py")


def web_experiment(name: str = "web", **extra: Any) -> dict[str, Any]:
    """An experiment whose process ``app`` exposes ``ui``: the test web app."""
    return {
        "name": name,
        "processes": [
            {
                "name": "app",
                "cmds": [f"exec {sys.executable} {WSAPP} $SYMPH_UI_PORT"],
                "exposes": ["ui"],
                **extra,
            }
        ],
    }


async def wait_served(
    http: httpx.AsyncClient, path: str, timeout: float = 60.0, deployment: str = "web.app"
) -> httpx.Response:
    """GET ``path`` until it answers 200 (the process starts, then its server); on
    failure the message shows the process's last lines."""
    last: Any = None
    with trio.move_on_after(timeout):
        while True:
            last = await http.get(path)
            if last.status_code == 200:
                return last
            await trio.sleep(0.1)
    logs = await http.get(
        f"/deployments/{deployment}/logs", params={"tail": 30, "stream": "stderr"}
    )
    raise AssertionError(f"{path} not served in {timeout} s: {last and last.text}\n{logs.text}")


async def wait_tunnels(
    http: httpx.AsyncClient, check: Any, timeout: float = 15.0
) -> list[dict[str, Any]]:
    """``GET /tunnels`` until some row passes ``check``; returns every row."""
    rows: list[dict[str, Any]] = []
    with trio.move_on_after(timeout):
        while True:
            rows = (await http.get("/tunnels")).json()["tunnels"]
            if any(check(r) for r in rows):
                return rows
            await trio.sleep(0.05)
    raise AssertionError(f"no such row in GET /tunnels: {rows}")


def ports(**extra: Any) -> dict[str, Any]:
    """``node_overrides`` for :func:`tests.api.helpers.cluster` with a random port range
    (what :func:`tests.link.cluster.shared_cert_node` gives by default, said out loud)."""
    return {"ports": port_range(), **extra}


async def websocket_refused(url: str, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a new WebSocket to ``url`` is refused with 503 (no slot free; any other
    refusal fails), else it opened and is closed again. The socket is our own:
    trio-websocket leaves a refused one open."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    refused = False
    try:
        async with trio.open_nursery() as nursery:
            await trio_websocket.wrap_client_stream(
                nursery, stream, parts.hostname, parts.path, extra_headers=headers
            )
            nursery.cancel_scope.cancel()
    except* trio_websocket.ConnectionRejected as group:
        assert all(e.status_code == 503 for e in group.exceptions), group  # type: ignore[attr-defined]
        refused = True
    finally:
        await trio.aclose_forcefully(stream)
    return refused
