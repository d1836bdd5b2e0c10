"""``symphony conductor`` stopped by SIGTERM (a container runtime, systemd, ``kill``)
answers what it is serving, then exits 0 promptly.

A real ``symphony conductor`` process; a web UI's ``/live`` stream is open and a create
has sent half its body when the process gets SIGTERM. The stream ends with its last
event (``closing``: the Conductor is stopping), the create's rest, sent a moment after
the signal, is still applied (``201``), a request that comes meanwhile is turned away
(``503`` with ``Retry-After``, or a refused connection), and the process exits with
status 0 well within the bound.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from ..api.test_clean_stop import _answer
from .test_up_e2e import BIN, clean_env

SPEC = json.dumps({"name": "late", "node_group": "g", "config": {"command": ["true"]}}).encode()
#: The bound on SIGTERM to exit: the grace (1 s) is not even needed here (the create
#: finishes at once once its body is in); the rest is start-up of nothing, and a busy
#: machine.
EXIT_BOUND = 5.0


async def test_sigterm_of_a_conductor_answers_what_it_serves_and_exits_0(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    log = (tmp_path / "conductor.log").open("w")
    argv = [str(BIN / "symphony"), "conductor", "--state-dir", str(state)]
    argv += ["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]
    proc = subprocess.Popen(
        argv,
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url, token = await _address(state, proc)
        answers: dict[str, Any] = {}
        headers = {"Authorization": f"Bearer {token}"}
        live_open, rest = trio.Event(), trio.Event()

        async def live() -> None:
            async with (
                httpx.AsyncClient(timeout=10, headers=headers) as client,
                client.stream("GET", f"{url}/live") as response,
            ):
                lines = []
                async for line in response.aiter_lines():
                    lines.append(line)
                    if line.startswith("event: snapshot"):
                        live_open.set()
            answers["live"] = (response.status_code, lines)

        async def create_in_two_parts() -> None:
            where = httpx.URL(url)
            stream = await trio.open_tcp_stream(where.host, where.port)
            await stream.send_all(
                f"POST /deployments HTTP/1.1\r\nHost: {where.host}\r\nAuthorization: Bearer "
                f"{token}\r\nContent-Type: application/json\r\nContent-Length: {len(SPEC)}"
                "\r\n\r\n".encode()
                + SPEC[:5]
            )
            async with stream:
                await rest.wait()
                await stream.send_all(SPEC[5:])
                answers["create"] = await _answer(stream)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(live)
            nursery.start_soon(create_in_two_parts)
            with trio.fail_after(10):
                await live_open.wait()
            await trio.sleep(0.2)  # the create's head is in
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await trio.sleep(0.3)
            rest.set()
            try:
                async with httpx.AsyncClient(timeout=10, headers=headers) as client:
                    answers["after"] = await client.get(f"{url}/deployments")
            except httpx.ConnectError:
                answers["after"] = None
        with trio.fail_after(EXIT_BOUND + 5):
            while proc.poll() is None:
                await trio.sleep(0.02)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "conductor.log").read_text()

    assert proc.returncode == 0, output
    assert took < EXIT_BOUND, (took, output)
    status, lines = answers["live"]
    assert status == 200
    assert [line for line in lines if line.startswith("event: ")][-1] == "event: closing"
    last_data = [line for line in lines if line.startswith("data: ")][-1]
    assert "is stopping" in json.loads(last_data[len("data: ") :])["reason"]
    head, _, created = answers["create"].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 "), (answers["create"], output)
    assert json.loads(created)["name"] == "late"
    after = answers["after"]
    assert after is None or (after.status_code == 503 and after.headers["retry-after"] == "1")
    assert not (state / "conductor.json").exists()  # a clean stop removes it


async def _address(state: Path, proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    """The API's URL and token, once the Conductor has written them."""
    with trio.fail_after(30):
        while True:
            assert proc.poll() is None, "the conductor exited"
            try:
                url = json.loads((state / "conductor.json").read_text())["url"]
                return url, (state / "api-token").read_text().strip()
            except (FileNotFoundError, ValueError):
                await trio.sleep(0.05)
