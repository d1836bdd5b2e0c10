"""The client's side of the WebSocket upgrade: ask for it, get our own WebSocket.

A node opens its link with an HTTP upgrade request; wsproto's client handshake words
it and checks the answer (the upgrade headers and the ``Sec-WebSocket-Accept`` token
made from our key). What follows is :class:`~.websocket.WebSocket` in the client's role
(see :mod:`.frames` for what that changes), read by the task that asks for a message as
on the Conductor: no reader task, nursery or channel per link, and nothing of
trio-websocket imported into the node's agent.

The answer is read here, in the calling task, up to the end of its head: bytes after
it are the server's first frames (a join's offer follows the answer at once) and go to
the WebSocket. The body of a refusal is not read; only its status is reported.

>>> ws = await connect_websocket(tls, host="conductor.example", path="/v1/node",
...                              max_message_size=1 << 22)       # doctest: +SKIP
"""

from __future__ import annotations

import trio
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, RejectConnection, Request
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from .errors import TransportError
from .websocket import RECEIVE_SIZE, WebSocket

__all__ = ["PeerLeft", "UpgradeRefused", "connect_websocket"]

#: Bytes of the answer's head read at most: ours is about 130.
HEAD_LIMIT = 16384


class PeerLeft(TransportError):
    """The stream ended (``error`` is None) or broke (``error`` says how) before the
    server answered: over TLS 1.3 most likely the server refusing our certificate."""

    def __init__(self, error: BaseException | None) -> None:
        super().__init__(str(error) if error else "the stream ended")
        self.error = error


class UpgradeRefused(TransportError):
    """The server answered, but not with a WebSocket: its status, or what was wrong."""


async def connect_websocket(
    stream: trio.abc.Stream, *, host: str, path: str, max_message_size: int
) -> WebSocket:
    """Ask for a WebSocket at ``path`` over ``stream``; the open WebSocket (which now owns
    ``stream``), or :class:`PeerLeft` or :class:`UpgradeRefused`. Bound it with a
    deadline: a server may never answer."""
    handshake = H11Handshake(ConnectionType.CLIENT)
    try:
        await stream.send_all(handshake.send(Request(host=host, target=path)))
        head, rest = await _read_head(stream)
    except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
        raise PeerLeft(error) from None
    try:
        handshake.receive_data(head)
        answer = next(handshake.events(), None)
    except RemoteProtocolError as error:
        raise UpgradeRefused(f"not a WebSocket answer ({error})") from None
    if isinstance(answer, AcceptConnection):
        return WebSocket(stream, max_message_size=max_message_size, client=True, initial=rest)
    if isinstance(answer, RejectConnection):
        raise UpgradeRefused(f"HTTP status {answer.status_code}")
    raise UpgradeRefused("not an HTTP answer")  # a head h11 took without an event


async def _read_head(stream: trio.abc.Stream) -> tuple[bytes, bytes]:
    """The answer's head (through its blank line) and the bytes read after it."""
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        if len(data) > HEAD_LIMIT:
            raise UpgradeRefused(f"an answer with no end to its head in {HEAD_LIMIT} bytes")
        more = await stream.receive_some(RECEIVE_SIZE)
        if not more:
            raise PeerLeft(None)
        data += more
    return data[: end + 4], data[end + 4 :]
