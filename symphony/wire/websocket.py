"""Both ends' WebSocket: frames read by the task that asks for a message, no reader task.

trio-websocket gives every connection a background reader task, a nursery and a message
channel: each frame is parsed in that task, queued, and handed to the task that asked
for it, and each idle link keeps those objects alive. A Conductor holds thousands of
links, each sending a small heartbeat every few seconds, so those per-frame hops and
per-link objects are most of what a link costs it; on a node, they were a good part of
the agent's CPU in a burst of starts. Here :meth:`WebSocket.get_message` reads the
stream and parses frames (:mod:`symphony.wire.frames`) in the calling task, until a
whole message is there. The opening HTTP upgrade is wsproto's: :func:`accept_websocket`
answers it on the Conductor, :func:`~symphony.wire._clientws.connect_websocket` asks
for it on a node. The two roles differ only in masking (see :mod:`.frames`).

The rules it keeps, as trio-websocket does:

- A message (all its fragments) is at most ``max_message_size`` bytes: a frame that
  would make it larger closes the connection with 1009 before its payload is read.
- A ping is answered while reading; a pong is ignored.
- A close from the peer is answered; ``get_message`` raises :class:`ConnectionClosed`
  with the peer's code and reason once every earlier message has been returned. A
  broken frame (bad opcode, masking the role forbids, bad UTF-8 in a text message)
  closes the connection with its code (1002, 1007); a connection lost without a close
  is 1006. A send that finds the stream broken first looks among what has already
  arrived for the peer's close (a peer that refused what we were sending says why,
  then hangs up) and raises that.
- Only one task reads (calls ``get_message``); ``aclose`` from the same task reads the
  peer's answer to our close, from another task while that one reads it does not: it
  closes the stream, and the reading task gets the :class:`ConnectionClosed`. Sends
  take turns in the order they came (see :class:`_Turn`): frames stay whole when the
  reader answers a ping while another task sends, and a task that sends frame after
  frame (a node's log lines) cannot keep a heartbeat waiting behind all of them.

Because nothing reads while nobody calls ``get_message``, a ping waits for the next
read. Neither end sends pings today, and both read all the time anyway: the Conductor
every link, a node its one link (its session loops on ``receive``).

>>> ws = await accept_websocket(stream, path="/v1/node", max_message_size=1 << 22,
...                             timeout=5)                      # doctest: +SKIP
>>> data = await ws.get_message()                             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
from typing import cast

import trio
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, RejectConnection, RejectData, Request
from wsproto.frame_protocol import CloseReason
from wsproto.handshake import H11Handshake
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from .errors import ConnectionClosed
from .frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    FrameError,
    FrameReader,
    build_frame,
    close_frame,
)

__all__ = ["WebSocket", "accept_websocket"]

log = logging.getLogger("symphony.wire")

#: Bytes asked of the stream per read: one TLS record's worth. A heartbeat is one small
#: record; a large message takes several reads either way.
RECEIVE_SIZE = 16384
#: Seconds a send that found the stream broken looks for the peer's close among what
#: has arrived (it is there already, or not coming: the kernel knows the link is gone).
PEER_CLOSE_LOOKUP = 1.0
#: Bytes of the opening HTTP request we read at most: h11 refuses a longer head anyway.
_HANDSHAKE_LIMIT = 16384


def close_reason_text(code: int) -> str:
    """The name of a close code, as a reason for a close that came without one."""
    try:
        return CloseReason(code).name.lower().replace("_", " ")
    except ValueError:
        return "no reason given"


def _lost() -> ConnectionClosed:
    return ConnectionClosed(1006, close_reason_text(1006))


class _Turn:
    """One send's place in the line of a WebSocket's senders, as trio's fair lock gives
    them, without a lock per link (thousands of links idle on a Conductor: an idle
    link holds no turn). A send waits for the turn ``before`` its own; once that is
    ``done`` it goes. A send cancelled while it waits leaves the line ``skipped``: the
    one after it then waits for the one it waited for."""

    __slots__ = ("before", "done", "skipped")

    def __init__(self, before: _Turn | None) -> None:
        self.before = before
        self.done = trio.Event()
        self.skipped = True  # until its wait is over

    async def wait(self) -> None:
        before = self.before
        while before is not None:
            self.before = before  # where one after us goes on waiting, if we leave
            await before.done.wait()
            before = before.before if before.skipped else None
        # It goes now: drop the line behind it (a busy link's would grow for good).
        self.before, self.skipped = None, False


class WebSocket:
    """An open WebSocket over ``stream``; see the module docstring.

    A server's by default; ``client=True`` for a client's (its frames masked, the
    server's not). ``initial`` holds bytes already read from the stream after the
    upgrade (frames the server sent right behind its answer). ``closed`` is ``None``
    while open, else the :class:`ConnectionClosed` that says why.
    """

    __slots__ = ("_close_sent", "_last", "_masked", "_reader", "_reading", "_stream", "closed")

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        max_message_size: int,
        client: bool = False,
        initial: bytes = b"",
    ) -> None:
        self._stream = stream
        self._masked = client  # what we send; what we read is the other way round
        self._reader = FrameReader(max_message_size=max_message_size, masked=not client)
        if initial:
            self._reader.feed(initial)
        self.closed: ConnectionClosed | None = None
        self._close_sent = False
        self._reading = False  # a task waits for the stream's bytes
        # The last send in line, while any sends or waits (see _Turn): frames never
        # interleave (the reader answers pings and closes while a writer may be sending).
        self._last: _Turn | None = None

    async def get_message(self) -> bytes | str:
        """The next whole message; :class:`ConnectionClosed` once the link has closed."""
        reader = self._reader
        while self.closed is None:
            try:
                frame = reader.next()
            except FrameError as error:
                await self._fail(error.code, error.reason)
                break
            if frame is None:
                self._reading = True
                try:
                    data = await self._stream.receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                finally:
                    self._reading = False
                if not data:
                    if self.closed is None:  # else aclose (another task) closed the stream
                        self.closed = _lost()
                    break
                reader.feed(cast(bytes, data))  # SSLStream reads bytes
                continue
            kind, payload = frame
            if kind == PING:
                await self._send_control(PONG, cast(bytes, payload))
            elif kind == CLOSE:
                await self._peer_closed(*cast(tuple[int, str], payload))
            elif kind != PONG:  # we send no pings: a pong has nothing to answer
                return cast(bytes | str, payload)
        assert self.closed is not None
        raise self.closed

    async def _peer_closed(self, code: int, reason: str) -> None:
        # Answer with the same code, then the link is over: a server closes TCP at once
        # (RFC 6455 7.1.1), which the owner does when the reading ends. A client should
        # leave that to the server; its owner closes too, as any peer may.
        self.closed = ConnectionClosed(code, reason or close_reason_text(code))
        await self._send_close(1000 if code == 1005 else code, None)

    async def _fail(self, code: int, reason: str) -> None:
        self.closed = ConnectionClosed(code, reason)
        await self._send_close(code, reason)

    async def send_message(self, data: bytes | str) -> None:
        """Send ``data`` as one message (binary, or text for a ``str``);
        :class:`ConnectionClosed` if closed."""
        if self.closed is not None:
            raise self.closed
        if isinstance(data, str):
            await self._send(build_frame(TEXT, data.encode(), masked=self._masked))
        else:
            await self._send(build_frame(BINARY, data, masked=self._masked))

    async def _send(self, data: bytes) -> None:
        self._last = turn = _Turn(self._last)
        try:
            await turn.wait()
            await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
            if self.closed is None:
                self.closed = _lost()  # for whoever asks meanwhile
                # The socket failed (not an earlier send of ours cut short: that has no
                # cause), and no reader sees the peer's close itself.
                if error.__cause__ is not None and not self._reading:
                    with trio.move_on_after(PEER_CLOSE_LOOKUP):
                        self.closed = await self._read_to_close() or self.closed
            raise self.closed from None
        finally:
            turn.done.set()  # sent, failed or skipped: the next in line may go
            if self._last is turn:
                # Last in line. Skipped (cancelled while it waited), the send it waited
                # for may still be writing: the next one waits for that one.
                self._last = turn.before if turn.skipped else None

    async def _send_control(self, opcode: int, payload: bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send(build_frame(opcode, payload, masked=self._masked))

    async def _send_close(self, code: int, reason: str | None) -> None:
        if not self._close_sent:
            self._close_sent = True
            with contextlib.suppress(ConnectionClosed):
                await self._send(close_frame(code, reason, masked=self._masked))

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close: send a close frame, read (and drop) until the peer's answer unless
        another task reads, close the stream. Idempotent. Bound it with a deadline: a
        peer may never answer."""
        try:
            if self.closed is None:
                self.closed = ConnectionClosed(code, reason)
                await self._send_close(code, reason)
                if not self._reading:
                    await self._read_to_close()
        finally:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self._stream.aclose()

    async def _read_to_close(self) -> ConnectionClosed | None:
        """Read and drop frames up to the peer's close (returned) or the stream's end."""
        reader = self._reader
        self._reading = True
        try:
            while True:
                try:
                    frame = reader.next()
                except FrameError:
                    return None
                if frame is not None:
                    if frame[0] == CLOSE:
                        code, reason = cast(tuple[int, str], frame[1])
                        return ConnectionClosed(code, reason or close_reason_text(code))
                    continue  # messages after our close are dropped
                try:
                    data = await self._stream.receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return None
                if not data:
                    return None
                reader.feed(cast(bytes, data))
        finally:
            self._reading = False


async def accept_websocket(
    stream: trio.abc.Stream,
    *,
    path: str,
    max_message_size: int,
    timeout: float,
    initial: bytes = b"",
    answer_refusals: bool = True,
) -> tuple[WebSocket | None, str | None]:
    """Read the opening HTTP request from ``stream`` and upgrade it if it asks for ``path``.

    Returns ``(websocket, path asked for)``; the websocket is ``None`` when the request
    asked for another path (answered 404), was not a WebSocket upgrade (answered 400),
    or did not come within ``timeout`` seconds (the path is then ``None`` too).
    ``initial`` holds bytes of the request already read from the stream. With
    ``answer_refusals=False`` a request for another path gets no answer at all.
    """
    handshake = H11Handshake(ConnectionType.SERVER)
    asked: str | None = None
    with trio.move_on_after(timeout):
        try:
            request = await _read_request(stream, handshake, initial)
            if request is None:
                return None, None
            asked = request.target
            if asked != path and not answer_refusals:
                return None, asked
            if asked != path:
                body = f"this endpoint serves {path}\n".encode()
                answer = handshake.send(
                    RejectConnection(
                        status_code=404,
                        headers=[(b"content-length", str(len(body)).encode())],
                        has_body=True,
                    )
                )
                await stream.send_all(answer + handshake.send(RejectData(data=body)))
                return None, asked
            await stream.send_all(handshake.send(AcceptConnection()))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None, asked
        return WebSocket(stream, max_message_size=max_message_size), asked
    return None, asked


async def _read_request(
    stream: trio.abc.Stream, handshake: H11Handshake, data: bytes
) -> Request | None:
    """The upgrade request, or None (after answering 400 if it was a bad one)."""
    received = 0
    while True:
        if data:  # (h11 takes empty data for the end of the stream)
            received += len(data)
            try:
                handshake.receive_data(data)
                for event in handshake.events():
                    if isinstance(event, Request):
                        return event
            except (RemoteProtocolError, ValueError) as error:  # ValueError: a bad Host
                log.debug("refused a WebSocket upgrade: %s", error)
                hint = getattr(error, "event_hint", None)
                if isinstance(hint, RejectConnection):
                    with contextlib.suppress(LocalProtocolError):
                        await stream.send_all(handshake.send(hint))
                return None
            if received > _HANDSHAKE_LIMIT:
                return None
        data = bytes(await stream.receive_some(RECEIVE_SIZE))
        if not data:
            return None
