"""WebSockets and a standby: a standby forwards HTTP to the leader, not WebSockets. It
refuses an upgrade with a 503 that says so (and where the leader is) instead of a bare
500, and ``symphony port-forward`` with several Conductors in ``SYMPHONY_URL`` goes on
to the next one, as every other command does, so a standby listed first works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import trio
import trio_websocket

from symphony.cli._websocket import open_websocket

from ..link.cluster import shared_cert_node, start_node, wait_for
from ..relay.helpers import port_range
from ..relay.test_port_forward import echo_experiment, roundtrip
from .cluster import api, start_pair


async def test_port_forward_through_a_standby_listed_first(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        a, b = await start_pair(nursery, tmp_path, lease_seconds=3.0)
        node = shared_cert_node(a, "n1", tmp_path / "n1", ports=port_range())
        await start_node(nursery, node)
        created = await api(b.http_url, "POST", "/experiments", json=echo_experiment())
        assert created.status_code == 201, created.text

        async def serving() -> bool:
            found = (await api(a.http_url, "GET", "/experiments/fw")).json()
            return bool(found["state"] == "running")

        await wait_for(serving, timeout=30)

        # The standby refuses the upgrade in words, naming the leader.
        url = b.http_url.replace("http://", "ws://") + "/experiments/fw/services/echo/forward"
        try:
            async with open_websocket(url, connect_timeout=10):
                raise AssertionError("the standby took a WebSocket")
        except trio_websocket.ConnectionRejected as refused:
            status, body = refused.status_code, json.loads(refused.body or b"{}")
            headers = {k.decode().lower(): v.decode() for k, v in refused.headers or []}
        assert status == 503 and headers["x-symphony-role"] == "standby", (status, body)
        assert a.http_url in body["detail"]

        env = {**os.environ, "SYMPHONY_URL": f"{b.http_url},{a.http_url}"}
        command = [sys.executable, "-m", "symphony.cli", "port-forward", "echo", "0", "-e", "fw"]
        process = await trio.lowlevel.open_process(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        try:
            assert process.stdout is not None
            line = b""
            with trio.fail_after(30):
                while not line.endswith(b"\n"):
                    line += await process.stdout.receive_some(1)
            port = int(line.split(b" ")[2].rsplit(b":", 1)[1])
            payload = os.urandom(100_000)
            with trio.fail_after(30):
                while not (got := await roundtrip(port, payload)):
                    await trio.sleep(0.2)
            assert got == payload
        finally:
            process.terminate()
            await process.wait()
        nursery.cancel_scope.cancel()
