"""A tunnel listener that cannot accept for a moment waits, it does not end the agent.

The listeners run among the relay's streams, in the node's own nursery: an OSError from
``accept`` (the agent out of file descriptors, as when a process opens connections to
its tunnel faster than they close) ended the whole agent. Real sockets; the shortage
is real too (the test uses up its own descriptors for a moment).
"""

from __future__ import annotations

import logging
import socket
import ssl

import pytest
import trio

from symphony.node.relay import NodeRelay, RelayDial
from symphony.node.tunnels import Tunnels
from tests.jobs.fds import no_free_descriptors
from tests.jobs.harness import wait_real


def _closed_port() -> int:
    """A local port nobody listens on (the Conductor's, here: the dial fails at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_tunnel_listener_out_of_descriptors_waits_then_serves_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="symphony.node.tunnels")
    context = ssl.create_default_context()
    dial = RelayDial(host="127.0.0.1", port=_closed_port(), ssl_context=context)
    relay = NodeRelay(dial, list)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.run)
            port = await Tunnels(relay).listen("i-0", "echo")
            first = socket.create_connection(("127.0.0.1", port))  # waits in the backlog
            first.settimeout(10)
            try:
                # No descriptor left for the accepted connection: accept fails, EMFILE.
                with no_free_descriptors():
                    await wait_real(lambda: "file descriptors" in caplog.text)
                # Descriptors again: the waiting connection is taken, relayed (the dial
                # fails here: it is closed), and the next one too.
                assert await trio.to_thread.run_sync(first.recv, 1) == b""
                with socket.create_connection(("127.0.0.1", port), timeout=10) as second:
                    assert await trio.to_thread.run_sync(second.recv, 1) == b""
            finally:
                first.close()
            nursery.cancel_scope.cancel()
