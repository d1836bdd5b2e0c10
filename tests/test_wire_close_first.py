"""A node's link leaves no socket behind when the Conductor ends the connection first.

trio-websocket's client, which nodes once used, left its stream open when the server
closed first (its ``aclose()`` returned at once on a closed WebSocket); a node that
reconnects many times (Conductor restarts, links it closes) would hold one socket per
reconnect until the garbage collector found it. The link must close its stream whoever
closes first: real TLS sockets here, the Conductor closing N links either way, and the
count of the process's open descriptors (with the cycle collector off) must not grow
once the stand-in has closed its side of every link too.
"""

from __future__ import annotations

import gc
import ssl
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio
import trio_websocket

from symphony.pki import ConductorPKI, server_ssl_context
from symphony.wire import ConnectionClosed, Heartbeat, connect_to_conductor
from tests.test_wire_support import make_pki, node_files

ROUNDS = 20


async def serve(
    ctx: ssl.SSLContext,
    abrupt: bool,
    ended: list[None],
    *,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """A Conductor stand-in that reads one message per link, then ends it: with a close
    frame (the Conductor closing the link), or with only a TCP close (a Conductor that
    died). ``ended`` gets an item per link whose socket it has closed."""
    listeners = await trio.open_ssl_over_tcp_listeners(0, ctx, host="127.0.0.1")
    task_status.started(listeners[0].transport_listener.socket.getsockname()[1])

    async def one(stream: trio.SSLStream[Any]) -> None:
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(nursery, stream)
            ws = await request.accept()
            await ws.get_message()
            if abrupt:
                await trio.aclose_forcefully(stream)
            else:
                await ws.aclose()
            nursery.cancel_scope.cancel()
        await trio.aclose_forcefully(stream)
        ended.append(None)

    await trio.serve_listeners(one, listeners)


@pytest.fixture
def pki(tmp_path: Path) -> ConductorPKI:
    return make_pki(tmp_path)


@pytest.mark.parametrize("abrupt", [False, True], ids=["link-closed", "conductor-died"])
async def test_link_reconnects_without_leaving_sockets_open(
    pki: ConductorPKI, tmp_path: Path, abrupt: bool
) -> None:
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    me = psutil.Process()
    async with trio.open_nursery() as nursery:
        ended: list[None] = []
        port = await nursery.start(partial(serve, server_ssl_context(pki), abrupt, ended))
        gc.collect()
        gc.disable()  # a socket is then freed only when closed (or unreferenced)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                before = me.num_fds()
                for _ in range(ROUNDS):
                    with trio.fail_after(10):
                        async with connect_to_conductor("localhost", port, ctx) as conn:
                            await conn.send(Heartbeat(seq=1, usage={}))
                            with pytest.raises(ConnectionClosed):
                                await conn.receive()
                # The stand-in's sockets are this process's too: count once it is done.
                with trio.fail_after(10):
                    while len(ended) < ROUNDS:
                        await trio.sleep(0.01)
                grown = me.num_fds() - before
        finally:
            gc.enable()
        nursery.cancel_scope.cancel()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == [], f"{len(unclosed)} sockets left to their finaliser: {unclosed[:2]}"
    assert grown == 0, f"{grown} descriptors left open after {ROUNDS} reconnects"
