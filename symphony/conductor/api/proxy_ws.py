"""WebSockets through a relayed stream: a service's own (``/x/``), and port-forward's.

A service's WebSocket (Jupyter's kernels, a TensorBoard plugin) is opened to the service
over a relayed stream with the browser's path, subprotocols, Origin and cookies (but
not the visit cookie), plus ``X-Forwarded-Prefix``; only then is the browser's accepted,
with the subprotocol the service chose. Messages are copied one at a time each way, and
each side reads the next only once the other took the last (the app's WebSocket reads
the visitor's next message only once the route asks, :mod:`.wsconn`; the service's
queue is a rendezvous): a WebSocket whose far side reads nothing holds about three
messages (visitor to service) or four (service to visitor) in the Conductor, and a slow
reader slows only its own WebSocket. A message is at most
``conductor.relay.websocket_max_message`` (4 MiB by default; a bigger one closes the
socket with 1009). A Conductor relays at most :data:`MAX_SERVICE_WEBSOCKETS` of them
(and :data:`MAX_FORWARDS` port-forwards) at once, and one client address at most
``conductor.relay.websockets_per_client`` of them (8; :data:`FORWARDS_PER_CLIENT`
port-forwards): one more is refused with 503 before it opens. So 32 WebSockets cost at
most about 32 x 7 x 4 MiB = 0.9 GiB, and one visitor a quarter of that. A visitor that
takes nothing sent to it for ``conductor.relay.send_timeout`` seconds (30) loses its
WebSocket (reset, a warning logged): one gone without a word (its network lost, its
laptop shut) would otherwise hold its slot and those messages for minutes, until the
kernel gave up retransmitting; a slow visitor that takes 64 KiB within each bound stays.

Port-forward's WebSocket carries a TCP connection's bytes as binary messages, as
``kubectl port-forward`` does over its own streams.

When the session of the node that serves it ends (its link dropped, the node was
declared lost), a relayed WebSocket of either kind is closed at once with
:data:`CLOSE_NODE_GONE` and a reason that says so, and its slot is free again; before
the visitor's WebSocket was accepted, it is refused with 502 instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import trio
import trio_websocket
from quart import websocket

from symphony.actors import sole_exception
from symphony.wire.relay import CHUNK

from ..relay import RelayError, RelayHub, Target
from ..relay.table import RelayRow
from .errors import HttpError
from .proxy_http import _cookie_without_ours
from .wsconn import READ_ON_ASK

#: The largest message of a port-forward (``symphony port-forward`` sends at most 256
#: KiB). Quart-Trio's WebSocket read up to ten messages ahead of the route: with the
#: server's own limit (16 MiB), a forward to a service that does not read held ~160 MiB.
FORWARD_MESSAGE = 1024 * 1024
#: A service's own WebSockets one Conductor relays at once. One whose far side reads
#: nothing holds up to ~4 messages each way (measured: ~66 MiB from a client sending
#: 16 MiB messages, ~76 MiB from such a service), so the limit bounds the whole.
MAX_SERVICE_WEBSOCKETS = 32
#: Port-forward connections one Conductor relays at once (each holds ~4 MiB at most).
MAX_FORWARDS = 256
#: Port-forward connections one client address may hold at once (a browser through a
#: forward opens a few connections per page).
FORWARDS_PER_CLIENT = 64
#: The close code of a relayed WebSocket whose node's link is gone (1011, the server
#: cannot go on: the far end it relays to is gone, not the Conductor).
CLOSE_NODE_GONE = 1011


class _Visitor:
    """The visitor's side of one relayed WebSocket: whether it was accepted yet decides
    how a node whose link is gone shows (see the module docstring)."""

    def __init__(self, row: RelayRow) -> None:
        self.row = row  # its row of ``GET /tunnels``
        self.accepted = False

    async def accept(self, subprotocol: str | None = None) -> None:
        await websocket.accept(subprotocol=subprotocol)
        self.accepted = True

    async def serve(self, relay: Awaitable[None]) -> None:
        """Await ``relay``; a :class:`RelayError` after the accept closes the socket
        (and is its row's failure, as the route records one before it)."""
        try:
            await relay
        except RelayError as error:
            if not self.accepted:
                raise  # the route refuses the upgrade with its status (and records it)
            self.row.failed(str(error))
            reason = str(error).encode()[:123].decode(errors="ignore")  # a close's limit
            await websocket.close(CLOSE_NODE_GONE, reason)


@contextmanager
def _slot(hub: RelayHub, kind: str, limits: tuple[int, int], what: str) -> Iterator[None]:
    """Count one open WebSocket of ``kind`` for this client address; past either limit
    (the Conductor's, the client's share) a 503, nothing opened. The address is the
    visitor's as the Conductor sees it: behind a reverse proxy, every visitor shares one."""
    limit, share = limits
    client = (kind, websocket.remote_addr or "")
    held, mine = hub.websockets.get(kind, 0), hub.websockets_by_client.get(client, 0)
    if held >= limit:
        detail = (
            f"this Conductor already relays {held} {what}, its limit: close one or try again later"
        )
        raise HttpError(503, "too many WebSockets", detail)
    if mine >= share:
        detail = (
            f"you already have {mine} {what} open through this Conductor, the share of one "
            "client address: close one or try again later"
        )
        raise HttpError(503, "too many WebSockets", detail)
    hub.websockets[kind] = held + 1
    hub.websockets_by_client[client] = mine + 1
    try:
        yield
    finally:
        hub.websockets[kind] -= 1
        if hub.websockets_by_client[client] <= 1:
            del hub.websockets_by_client[client]
        else:
            hub.websockets_by_client[client] -= 1


def _limit(size: int, send_timeout: float) -> None:
    """Have the server close a message over ``size`` bytes with 1009, and give up the
    socket once a send takes nothing for ``send_timeout`` seconds (our server only)."""
    extensions: dict[str, Any] = websocket.scope.get("extensions") or {}
    for name, value in (("max_message", size), ("send_timeout", send_timeout)):
        limit = extensions.get(f"symphony.{name}")
        if callable(limit):
            limit(value)


def _upstream_headers(prefix: str) -> list[tuple[bytes, bytes]]:
    out = [(b"X-Forwarded-Prefix", prefix.encode())]
    origin = websocket.headers.get("Origin")
    if origin:
        out.append((b"Origin", origin.encode("latin-1", "replace")))
    cookie = websocket.headers.get("Cookie")
    kept = _cookie_without_ours(cookie) if cookie else None
    if kept:
        out.append((b"Cookie", kept.encode("latin-1", "replace")))
    return out


async def proxy_websocket(hub: RelayHub, target: Target, rest: str, row: RelayRow) -> None:
    """Serve the browser's WebSocket from the service's (see the module docstring)."""
    prefix = f"/x/{target.experiment}/{target.service}"
    query = websocket.query_string.decode("latin-1")
    resource = "/" + rest + (f"?{query}" if query else "")
    limits = (MAX_SERVICE_WEBSOCKETS, hub.websockets_per_client)
    with _slot(hub, "visit", limits, "WebSockets to services"):
        _limit(hub.websocket_max_message, hub.send_timeout)
        scope = cast(dict[str, Any], websocket.scope)
        scope[READ_ON_ASK] = True  # the next message stays in the socket meanwhile
        visitor = _Visitor(row)
        await visitor.serve(_proxy(hub, target, resource, prefix, row, visitor))


async def _proxy(
    hub: RelayHub, target: Target, resource: str, prefix: str, row: RelayRow, visitor: _Visitor
) -> None:
    try:
        await _relay(hub, target, resource, prefix, row, visitor)
    except BaseExceptionGroup as group:
        # trio-websocket's reader raises the service's refusal (ConnectionRejected, an
        # HTTP status instead of the upgrade) in the nursery, cancelling the handshake
        # that the handler below waits in: it comes out here, alone in a group.
        refused = sole_exception(group)
        if not isinstance(refused, trio_websocket.HandshakeError):
            raise
        detail = f"the service refused the WebSocket: {refused}"
        raise HttpError(502, "bad gateway", detail) from None


async def _relay(
    hub: RelayHub, target: Target, resource: str, prefix: str, row: RelayRow, visitor: _Visitor
) -> None:
    async with hub.connect(target) as stream, trio.open_nursery() as nursery:
        try:
            # Bounded: a service that takes the connection but never answers the
            # upgrade would otherwise hold one of the Conductor's few slots for ever.
            with trio.fail_after(hub.open_timeout):
                upstream = await trio_websocket.wrap_client_stream(
                    nursery,
                    stream,  # type: ignore[arg-type]  # a TLS stream (typed as SSLStream[Any])
                    websocket.headers.get("Host", "localhost"),
                    resource,
                    subprotocols=list(websocket.requested_subprotocols) or None,
                    extra_headers=_upstream_headers(prefix),
                    message_queue_size=0,  # its reader holds the one message it hands over
                    max_message_size=hub.websocket_max_message,
                )
        except trio.TooSlowError:
            detail = f"the service did not answer the WebSocket upgrade in {hub.open_timeout:g} s"
            raise HttpError(504, "gateway timeout", detail) from None
        except (trio_websocket.HandshakeError, trio.BrokenResourceError) as error:
            detail = f"the service refused the WebSocket: {error}"
            raise HttpError(502, "bad gateway", detail) from None
        await visitor.accept(upstream.subprotocol)
        row.opened()
        try:
            await _copy_messages(upstream, row)
        finally:
            row.closed()
            nursery.cancel_scope.cancel()


async def _copy_messages(upstream: trio_websocket.WebSocketConnection, row: RelayRow) -> None:
    async with trio.open_nursery() as nursery:

        async def down() -> None:
            try:
                while True:
                    message = await upstream.get_message()
                    row.from_service(len(message))
                    await websocket.send(message)
            except trio_websocket.ConnectionClosed:
                pass
            nursery.cancel_scope.cancel()

        async def up() -> None:
            while True:
                message = await websocket.receive()
                row.to_service(len(message))
                try:
                    await upstream.send_message(message)
                except trio_websocket.ConnectionClosed:
                    break
            nursery.cancel_scope.cancel()

        nursery.start_soon(down)
        nursery.start_soon(up)


async def forward_bytes(hub: RelayHub, target: Target, row: RelayRow) -> None:
    """Port-forward: the WebSocket's binary messages are the TCP connection's bytes."""
    with _slot(hub, "forward", (MAX_FORWARDS, FORWARDS_PER_CLIENT), "port-forward connections"):
        await _forward(hub, target, row)


async def _forward(hub: RelayHub, target: Target, row: RelayRow) -> None:
    _limit(FORWARD_MESSAGE, hub.send_timeout)
    visitor = _Visitor(row)
    await visitor.serve(_forward_bytes(hub, target, row, visitor))


async def _forward_bytes(hub: RelayHub, target: Target, row: RelayRow, visitor: _Visitor) -> None:
    async with hub.connect(target) as stream:
        await visitor.accept()
        row.opened()
        try:
            async with trio.open_nursery() as nursery:

                async def down() -> None:
                    try:
                        while data := await stream.receive_some(CHUNK):
                            row.from_service(len(data))
                            await websocket.send(bytes(data))
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass
                    nursery.cancel_scope.cancel()

                async def up() -> None:
                    try:
                        while True:
                            message = await websocket.receive()
                            data = message.encode() if isinstance(message, str) else message
                            row.to_service(len(data))
                            await stream.send_all(data)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass
                    nursery.cancel_scope.cancel()

                nursery.start_soon(down)
                nursery.start_soon(up)
        finally:
            row.closed()
