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

import trio

from ..inflight import InFlight
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
        flight = InFlight(headers={"Authorization": f"Bearer {token}"})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(flight.live, url)
            nursery.start_soon(flight.create_in_parts, url, SPEC)
            await flight.opened()
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await trio.sleep(0.3)
            flight.rest.set()
            await flight.after(url)
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
    answers = flight.answers

    assert proc.returncode == 0, output
    assert took < EXIT_BOUND, (took, output)
    status, event, data = flight.live_ended()
    assert status == 200
    assert event == "event: closing"
    assert "is stopping" in data["reason"]
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
