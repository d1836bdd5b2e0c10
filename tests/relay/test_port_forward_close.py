"""symphony port-forward closes its socket to the Conductor when the Conductor closes first.

trio-websocket's client leaves its stream open when the server starts the close (its
``aclose()`` returns at once on a closed WebSocket), so each forwarded connection that
the far side ended would keep a file descriptor until the garbage collector found it.
A long-running ``port-forward`` would gather them. Real sockets here: a WebSocket server
on 127.0.0.1 that sends one message and closes, and the command's own per-connection
code. No socket may be left for its finaliser to close (a ``ResourceWarning``), and the
count of the process's open descriptors must not grow.
"""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Iterator

import psutil
import trio
import trio_websocket

from symphony.cli.portforward import forward_connection

ROUNDS = 20


async def close_first(request: trio_websocket.WebSocketRequest) -> None:
    ws = await request.accept()
    await ws.send_message(b"from the service")
    await ws.aclose()  # the server's close: it starts the closing handshake


@contextlib.contextmanager
def no_collector() -> Iterator[None]:
    """Without the cycle collector a socket is freed only when closed (or unreferenced)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_port_forward_closes_its_socket_when_the_conductor_closes_first() -> None:
    me = psutil.Process()
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            trio_websocket.serve_websocket, close_first, "127.0.0.1", 0, None
        )
        url = f"ws://127.0.0.1:{server.port}/experiments/e/services/s/forward?session=t"
        with no_collector(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            before = me.num_fds()
            for _ in range(ROUNDS):
                local, user = trio.socket.socketpair()
                user_stream = trio.SocketStream(user)
                with trio.fail_after(10):
                    await forward_connection(trio.SocketStream(local), url, [])
                    assert await user_stream.receive_some(100) == b"from the service"
                await user_stream.aclose()
            grown = me.num_fds() - before
        nursery.cancel_scope.cancel()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == [], f"{len(unclosed)} sockets left to their finaliser: {unclosed[:2]}"
    assert grown == 0, f"{grown} descriptors left open after {ROUNDS} closes by the server"
