"""The node's own client WebSocket against a hostile server, over real TLS on 127.0.0.1.

A stand-in Conductor answers the upgrade, then writes hand-made frames that no
well-behaved server would: masked, oversized, with an unknown opcode or bad UTF-8,
cut off in the middle. The node's link (``connect_to_conductor``, the code a node
runs) must end each with the right close code, tell the server so in a (masked) close
frame, and never hang. A refused upgrade keeps its error's wording.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
import trio
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, Request
from wsproto.handshake import H11Handshake

from symphony.pki import ConductorPKI, server_ssl_context
from symphony.wire import ConnectionClosed, Heartbeat, TransportError, connect_to_conductor, encode
from symphony.wire.client import open_link
from symphony.wire.frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    FrameReader,
    build_frame,
    close_frame,
)
from symphony.wire.server import NODE_WS_PATH
from symphony.wire.tls import TLSStream
from symphony.wire.websocket import accept_websocket
from tests.test_wire_support import make_pki, node_files

MAX = 4096  # the node's message limit in these tests
Act = Callable[[TLSStream], Awaitable[None]]


@pytest.fixture
def pki(tmp_path: Path) -> ConductorPKI:
    return make_pki(tmp_path)


@dataclass
class Seen:
    """What the stand-in read from the node after its act: its frames, by kind."""

    closes: list[int] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    done: trio.Event = field(default_factory=trio.Event)


async def _read_node(stream: TLSStream, seen: Seen) -> None:
    reader = FrameReader(max_message_size=MAX)  # a client's frames: masked, or refused
    while True:
        got = reader.next()
        if got is None:
            data = await stream.receive_some()
            if not data:
                return
            reader.feed(data)
        elif got[0] == CLOSE:
            seen.closes.append(got[1][0])  # type: ignore[index]
            return
        elif got[0] == PONG:
            seen.pongs.append(got[1])  # type: ignore[arg-type]


async def _upgrade_with(stream: TLSStream, first: bytes) -> None:
    """Answer the upgrade with ``first`` (frames) in the same write as the 101."""
    handshake = H11Handshake(ConnectionType.SERVER)
    while True:
        handshake.receive_data(await stream.receive_some())
        if any(isinstance(event, Request) for event in handshake.events()):
            break
    await stream.send_all(handshake.send(AcceptConnection()) + first)


async def start(
    nursery: trio.Nursery, pki: ConductorPKI, act: Act, seen: Seen, *, coalesce: bytes = b""
) -> int:
    async def one(tcp: trio.SocketStream) -> None:
        stream = TLSStream.over(tcp, server_ssl_context(pki))
        try:
            await stream.do_handshake()
            if coalesce:
                await _upgrade_with(stream, coalesce)
            else:
                ws, _ = await accept_websocket(
                    stream, path=NODE_WS_PATH, max_message_size=MAX, timeout=5
                )
                assert ws is not None
            await act(stream)
            await _read_node(stream, seen)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            seen.done.set()
            await trio.aclose_forcefully(stream)

    listeners = await nursery.start(partial(trio.serve_tcp, one, 0, host="127.0.0.1"))
    return int(listeners[0].socket.getsockname()[1])


def _context(pki: ConductorPKI, tmp_path: Path) -> ssl.SSLContext:
    return node_files(pki, tmp_path / "node", "n1").context()


def _writes(data: bytes) -> Act:
    async def act(stream: TLSStream) -> None:
        await stream.send_all(data)

    return act


HEARTBEAT = encode(Heartbeat(seq=1, usage={}))


async def _link_closed(
    pki: ConductorPKI, tmp_path: Path, port: int, seen: Seen
) -> ConnectionClosed:
    """Connect as a node does, read until the link closes (never longer than 10 s), wait
    for the stand-in to finish; what the node's receive raised."""
    with trio.fail_after(10):
        async with connect_to_conductor(
            "127.0.0.1", port, _context(pki, tmp_path), max_frame_size=MAX
        ) as conn:
            with pytest.raises(ConnectionClosed) as info:
                await conn.receive()
        await seen.done.wait()
    return info.value


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(build_frame(BINARY, HEARTBEAT, masked=True), 1002, id="masked"),
        # Only a header that declares 1 MiB: refused from it, before any payload.
        pytest.param(bytes((0x82, 127)) + (1 << 20).to_bytes(8, "big"), 1009, id="oversize"),
        pytest.param(bytes((0x83, 0)), 1002, id="bad-opcode"),
        pytest.param(bytes((0xC2, 0)), 1002, id="reserved-bits"),
        pytest.param(build_frame(TEXT, b"\xff\xfeoops"), 1007, id="bad-utf8-text"),
    ],
)
async def test_a_broken_frame_from_the_server_closes_the_link_with_its_code(
    pki: ConductorPKI, tmp_path: Path, nursery: trio.Nursery, data: bytes, code: int
) -> None:
    seen = Seen()
    port = await start(nursery, pki, _writes(data), seen)
    closed = await _link_closed(pki, tmp_path, port, seen)
    assert closed.code == code
    assert seen.closes == [code]  # told the server why, in a masked close frame


async def test_a_server_that_leaves_mid_frame_is_1006(
    pki: ConductorPKI, tmp_path: Path, nursery: trio.Nursery
) -> None:
    async def half_then_gone(stream: TLSStream) -> None:
        await stream.send_all(bytes((0x82, 100)) + b"only some of it")
        stream.cut()

    seen = Seen()
    port = await start(nursery, pki, half_then_gone, seen)
    assert (await _link_closed(pki, tmp_path, port, seen)).code == 1006


async def test_a_close_between_fragments_is_answered(
    pki: ConductorPKI, tmp_path: Path, nursery: trio.Nursery
) -> None:
    # The first fragment of a message, then the server closes: a control frame may
    # come between fragments, and the half message is dropped.
    data = bytes((0x02, 3)) + b"abc" + close_frame(1001, "going away")
    seen = Seen()
    port = await start(nursery, pki, _writes(data), seen)
    closed = await _link_closed(pki, tmp_path, port, seen)
    assert (closed.code, closed.reason) == (1001, "going away")
    assert seen.closes == [1001]


async def test_a_ping_is_answered_and_frames_right_behind_the_answer_are_read(
    pki: ConductorPKI, tmp_path: Path, nursery: trio.Nursery
) -> None:
    # The 101, a ping and a message in one write: the client must keep what it read
    # past the answer's head.
    first = build_frame(PING, b"are you there") + build_frame(BINARY, HEARTBEAT)

    async def nothing(stream: TLSStream) -> None:
        pass

    seen = Seen()
    port = await start(nursery, pki, nothing, seen, coalesce=first)
    with trio.fail_after(10):
        async with connect_to_conductor(
            "127.0.0.1", port, _context(pki, tmp_path), max_frame_size=MAX
        ) as conn:
            assert await conn.receive() == Heartbeat(seq=1, usage={})
        await seen.done.wait()
    assert seen.pongs == [b"are you there"]
    assert seen.closes == [1000]


async def test_a_refused_upgrade_says_so(
    pki: ConductorPKI, tmp_path: Path, nursery: trio.Nursery
) -> None:
    async def one(tcp: trio.SocketStream) -> None:
        stream = TLSStream.over(tcp, server_ssl_context(pki))
        async with stream:
            await stream.do_handshake()
            # Our own endpoint: a path it does not serve gets a 404.
            await accept_websocket(stream, path="/elsewhere", max_message_size=MAX, timeout=5)

    listeners = await nursery.start(partial(trio.serve_tcp, one, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    with trio.fail_after(10), pytest.raises(TransportError) as info:
        async with open_link("127.0.0.1", port, _context(pki, tmp_path)):
            pass
    assert type(info.value) is TransportError
    assert str(info.value) == (
        f"the conductor at 127.0.0.1:{port} refused the WebSocket upgrade: HTTP status 404"
    )


async def test_one_error_from_a_nursery_in_the_body_comes_out_as_itself(
    pki: ConductorPKI, tmp_path: Path, nursery: trio.Nursery
) -> None:
    # A node's session runs its tasks in a nursery inside the link's block: its one
    # failure must reach the reconnect loop as the LinkError it is, not as a group.
    async def nothing(stream: TLSStream) -> None:
        pass

    async def fails() -> None:
        raise ConnectionClosed(1001, "going away")

    port = await start(nursery, pki, nothing, Seen())
    with trio.fail_after(10), pytest.raises(ConnectionClosed, match="going away"):
        async with (
            connect_to_conductor("127.0.0.1", port, _context(pki, tmp_path)),
            trio.open_nursery() as inner,
        ):
            inner.start_soon(fails)
