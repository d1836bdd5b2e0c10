"""symphony port-forward: a local port that reaches an experiment's service."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio

from ..api.helpers import cluster
from .helpers import ECHO, ports, wait_tunnels


def echo_experiment(name: str = "fw") -> dict[str, object]:
    return {
        "name": name,
        "processes": [
            {
                "name": "echo",
                "cmds": [f"exec {sys.executable} {ECHO} $SYMPH_ECHO_PORT"],
                "binds": ["echo"],
            }
        ],
    }


async def roundtrip(port: int, payload: bytes) -> bytes:
    """``payload`` sent and read back; b"" when the connection was refused or cut."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    got = b""
    async with stream, trio.open_nursery() as nursery:

        async def send() -> None:
            with contextlib.suppress(trio.BrokenResourceError):
                await stream.send_all(payload)

        nursery.start_soon(send)
        try:
            while len(got) < len(payload):
                data = await stream.receive_some(65536)
                if not data:
                    break
                got += data
        except trio.BrokenResourceError:
            got = b""
        nursery.cancel_scope.cancel()
    return got


@contextlib.asynccontextmanager
async def port_forward(c: Any, service: str, experiment: str) -> AsyncIterator[int]:
    """``symphony port-forward`` running as a process; yields its local port."""
    env = {**os.environ, "SYMPHONY_URL": c.info.http_url, "SYMPHONY_TOKEN": c.info.api_token or ""}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "symphony.cli", "port-forward", service, "0", "-e", experiment],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = b""
        with trio.fail_after(30):
            while not line.endswith(b"\n"):
                line += await process.stdout.receive_some(1)
        assert line.startswith(b"Forwarding from 127.0.0.1:"), line
        yield int(line.split(b" ")[2].rsplit(b":", 1)[1])
    finally:
        process.terminate()
        await process.wait()


async def test_port_forward_reaches_a_bound_service_and_is_listed(tmp_path: Path) -> None:
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=echo_experiment())).status_code == 201
        async with port_forward(c, "echo", "fw") as port:
            payload = os.urandom(2_000_000)
            with trio.fail_after(30):
                while True:  # the echo process may not listen yet
                    got = await roundtrip(port, payload)
                    if got:
                        break
                    await trio.sleep(0.2)
            assert got == payload
            rows = await wait_tunnels(
                c.http, lambda r: r["bytes_from_service"] >= 2_000_000 and r["active"] == 0
            )
            (row,) = [r for r in rows if r["kind"] == "forward"]  # one row per CLI run
            assert row["service"] == "echo" and row["experiment"] == "fw"
            assert row["connections"] >= 1 and row["bytes_to_service"] >= 2_000_000


async def test_port_forward_to_a_name_nothing_serves_fails_at_once(tmp_path: Path) -> None:
    """As ``kubectl port-forward`` to a missing pod: one line that says what there is and
    exit 1, not a listener that runs on and drops every connection it takes."""
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=echo_experiment())).status_code == 201
        env = {**os.environ, "SYMPHONY_URL": c.info.http_url}
        env["SYMPHONY_TOKEN"] = c.info.api_token or ""
        command = [sys.executable, "-m", "symphony.cli", "port-forward", "ech0", "0", "-e", "fw"]
        with trio.fail_after(30):
            done = await trio.run_process(command, env=env, capture_stdout=True,
                                          capture_stderr=True, check=False)  # fmt: skip
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert done.stdout == b""
        assert done.stderr.decode().strip() == (
            "symphony: error: no process of experiment fw exposes or binds 'ech0' (it has echo)"
        )


async def test_port_forward_a_stream_nobody_reads_stalls_only_itself(tmp_path: Path) -> None:
    """Control first: a forwarded connection that sends and never reads fills its own
    buffers and waits; another connection to the same service still flows, and the
    node's control link still starts jobs (relayed bytes never travel on it)."""
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=echo_experiment())).status_code == 201
        async with port_forward(c, "echo", "fw") as port:
            with trio.fail_after(30):
                while not await roundtrip(port, b"ping"):  # the echo may not listen yet
                    await trio.sleep(0.2)
            stuck = await trio.open_tcp_stream("127.0.0.1", port)
            sent = 0

            async def flood() -> None:
                nonlocal sent
                chunk = b"x" * 65536
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    while True:
                        await stuck.send_all(chunk)
                        sent += len(chunk)

            async with stuck, trio.open_nursery() as nursery:
                nursery.start_soon(flood)
                with trio.fail_after(60):  # every hop's buffer full: the flood waits
                    last = -1
                    while sent != last:
                        last = sent
                        await trio.sleep(1.0)
                payload = os.urandom(500_000)
                with trio.fail_after(15):
                    assert await roundtrip(port, payload) == payload
                job = {"name": "ctl", "config": {"command": ["sleep", "60"]}}
                assert (await c.http.post("/deployments", json=job)).status_code == 201
                await c.wait_running("ctl", timeout=15)
                nursery.cancel_scope.cancel()
            assert 0 < sent < 64 * 1024 * 1024  # it stopped: nothing buffered it all
