"""The agent's connection to its node monitor, against a real monitor process.

A request is one JSON line on a shared stream. If a request is cancelled after part of
its line went out (the monitor stopped reading and the socket buffer filled up), the
next line would be glued to that part and its request would never get an answer.
"""

from __future__ import annotations

import os
import signal

import pytest
import trio

from symphony.node.process.client import MonitorClient, MonitorLost
from tests.jobs.harness import ended, monitor_pid, wait_real

BIG = "x" * 800_000  # larger than a socket's buffer, smaller than the monitor's line limit


async def test_client_a_request_cancelled_mid_line_never_strands_the_next(tmp_path) -> None:
    state_dir = str(tmp_path / "node")
    os.makedirs(state_dir, mode=0o700)
    client = MonitorClient(state_dir)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_run_quietly, client)
            await wait_real(lambda: client._stream is not None)
            pid = monitor_pid(state_dir)
            assert pid is not None
            try:
                assert (await client.request("stats"))["pid"] == pid
                os.kill(pid, signal.SIGSTOP)
                with trio.move_on_after(0.5) as scope:
                    await client.request("stats", pad=BIG)
                assert scope.cancelled_caught  # stuck in the send: part of the line is out
                os.kill(pid, signal.SIGCONT)
                # The next request is answered, or fails as a lost monitor (which the
                # agent replaces); it must never wait forever.
                with trio.fail_after(10):
                    try:
                        reply = await client.request("stats")
                    except MonitorLost:
                        pass
                    else:
                        assert reply["pid"] == pid
                assert not client._pending  # no request left waiting
            finally:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
                await wait_real(lambda: ended(pid))
                nursery.cancel_scope.cancel()


async def _run_quietly(client: MonitorClient) -> None:
    try:
        await client.run()
    except* MonitorLost:
        pass  # the connection ends either way: broken by the client, or the monitor killed


async def test_a_request_cancelled_without_a_connection_is_cancelled_not_lost(tmp_path) -> None:
    """A node cancelled as a whole closes its monitor connection while a start may still
    be on its way to a request: that request must end with the cancel, not raise
    MonitorLost, which grouped with the Cancelled outlived it (and reached whoever
    embedded the node)."""
    client = MonitorClient(str(tmp_path))
    with trio.CancelScope() as scope:
        scope.cancel()
        await client.request("spawn")
    assert scope.cancelled_caught
    with pytest.raises(MonitorLost, match="not connected"):
        await client.request("spawn")  # not cancelled: the error, as before
