"""The Conductor's own TLS stream, against trio's TLS client over real TCP on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from symphony.pki import ConductorPKI, server_ssl_context
from symphony.wire import NodeConnection, serve_nodes
from symphony.wire.tls import TLSStream
from tests.test_wire_support import foreign_node_files, make_pki, node_files


@pytest.fixture
def pki(tmp_path: Path) -> ConductorPKI:
    return make_pki(tmp_path)


@asynccontextmanager
async def tls_pair(
    pki: ConductorPKI, client_ctx: ssl.SSLContext
) -> AsyncIterator[tuple[TLSStream, trio.SSLStream[trio.SocketStream]]]:
    """(server side, client side) of one connection; the server side not yet handshaken."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        accepted: list[trio.SocketStream] = []

        async def accept() -> None:
            accepted.append(await listeners[0].accept())

        nursery.start_soon(accept)
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        client = trio.SSLStream(tcp, client_ctx, server_hostname="localhost")
    raw = accepted[0].socket
    server = TLSStream(
        socket.socket(raw.family, raw.type, raw.proto, raw.detach()), server_ssl_context(pki)
    )
    try:
        yield server, client
    finally:
        await server.aclose()
        await trio.aclose_forcefully(client)
        await listeners[0].aclose()


async def handshake(server: TLSStream, client: trio.SSLStream[Any]) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.do_handshake)
        nursery.start_soon(client.do_handshake)


async def read_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        got = await stream.receive_some(65536)
        assert got, f"the stream ended after {len(data)} of {size} bytes"
        data += got
    return data


async def test_tls_stream_carries_bytes_both_ways(pki: ConductorPKI, tmp_path: Path) -> None:
    ctx = node_files(pki, tmp_path / "n", "n1").context()
    async with tls_pair(pki, ctx) as (server, client):
        await handshake(server, client)
        assert server.getpeercert(binary_form=True)
        big = bytes(range(256)) * 8192  # 2 MiB: many records, many recv calls
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.send_all, b"small" + big)
                assert await read_exactly(server, 5 + len(big)) == b"small" + big
            async with trio.open_nursery() as nursery:
                nursery.start_soon(server.send_all, big)
                assert await read_exactly(client, len(big)) == big


async def test_tls_stream_sends_of_several_tasks_stay_whole(
    pki: ConductorPKI, tmp_path: Path
) -> None:
    """Two tasks sending at once (a link's writer and its reader answering a ping): each
    send arrives whole, never interleaved with the other's."""
    ctx = node_files(pki, tmp_path / "n", "n1").context()
    async with tls_pair(pki, ctx) as (server, client):
        await handshake(server, client)
        chunks = [bytes([k]) * 300_000 for k in range(6)]
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for chunk in chunks:
                    nursery.start_soon(server.send_all, chunk)
                got = await read_exactly(client, sum(map(len, chunks)))
        runs = [got[i : i + 300_000] for i in range(0, len(got), 300_000)]
        assert sorted(runs) == chunks  # whole, in some order


async def test_tls_stream_ends_at_close_notify_and_at_a_bare_eof(
    pki: ConductorPKI, tmp_path: Path
) -> None:
    ctx = node_files(pki, tmp_path / "n", "n1").context()
    async with tls_pair(pki, ctx) as (server, client):
        await handshake(server, client)
        await client.send_all(b"last words")
        await client.aclose()  # close_notify, then TCP's end
        with trio.fail_after(5):
            assert await read_exactly(server, 10) == b"last words"
            assert await server.receive_some() == b""
            assert await server.receive_some() == b""  # and stays ended
    async with tls_pair(pki, ctx) as (server, client):
        await handshake(server, client)
        await trio.aclose_forcefully(client.transport_stream)  # no close_notify
        with trio.fail_after(5):
            assert await server.receive_some() == b""


async def test_tls_stream_refuses_a_certificate_of_another_ca(
    pki: ConductorPKI, tmp_path: Path
) -> None:
    ctx = foreign_node_files(pki, tmp_path / "f", "n1").context()
    async with tls_pair(pki, ctx) as (server, client):
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(_quietly, client.do_handshake))
                with pytest.raises(trio.BrokenResourceError) as refused:
                    await server.do_handshake()
        assert isinstance(refused.value.__cause__, ssl.SSLError)


async def _quietly(fn: Any) -> None:
    with suppress(trio.BrokenResourceError):
        await fn()


async def test_tls_stream_cancelled_read_loses_nothing(pki: ConductorPKI, tmp_path: Path) -> None:
    ctx = node_files(pki, tmp_path / "n", "n1").context()
    async with tls_pair(pki, ctx) as (server, client):
        await handshake(server, client)
        with trio.move_on_after(0.2):
            await server.receive_some()
        await client.send_all(b"after the cancel")
        with trio.fail_after(5):
            assert await read_exactly(server, 16) == b"after the cancel"


async def _close_under_reader(server: TLSStream, close: Any) -> None:
    """Run ``close()`` while a task waits to read ``server``: it must wake, closed."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def read() -> None:
                with pytest.raises(trio.ClosedResourceError):
                    await server.receive_some()

            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            await close()


async def test_tls_stream_close_wakes_a_waiting_reader(pki: ConductorPKI, tmp_path: Path) -> None:
    ctx = node_files(pki, tmp_path / "n", "n1").context()
    async with tls_pair(pki, ctx) as (server, client):
        await handshake(server, client)
        await _close_under_reader(server, server.aclose)
        await server.aclose()  # idempotent
        with pytest.raises(trio.ClosedResourceError):
            await server.send_all(b"x")


async def test_tls_stream_cut_wakes_its_reader_and_its_peer(
    pki: ConductorPKI, tmp_path: Path
) -> None:
    """``cut`` is synchronous (a session's end calls it for streams other tasks use):
    the reader wakes closed, the peer sees the connection end, ``aclose`` still works."""
    ctx = node_files(pki, tmp_path / "n", "n1").context()
    async with tls_pair(pki, ctx) as (server, client):
        await handshake(server, client)

        async def cut() -> None:
            server.cut()
            server.cut()  # idempotent

        await _close_under_reader(server, cut)
        with trio.fail_after(5):
            with suppress(trio.BrokenResourceError):
                assert await client.receive_some() == b""
        await server.aclose()


async def test_tls_stream_cut_under_a_blocked_send_wakes_all_closed(
    pki: ConductorPKI, tmp_path: Path
) -> None:
    """A sender blocked mid-send (its peer reads nothing), a second sender queued behind
    it, and a reader that waits for the first to finish (what reading must answer cannot
    go out yet): ``cut`` wakes each of them with :class:`trio.ClosedResourceError`, none
    touching the closed socket (``ValueError`` on fd -1, ``EBADF`` as a broken stream)."""
    ctx = node_files(pki, tmp_path / "n", "n1").context()
    async with tls_pair(pki, ctx) as (server, client):
        await handshake(server, client)
        await client.send_all(b"to read")
        # A read that must write first (a TLS 1.3 key update's answer) with a send under
        # way: the standard library offers no way to ask for a key update, so the socket
        # says it once, as OpenSSL would.
        sock, recv, asked = server.socket, server.socket.recv, []

        def recv_after_a_write(size: int) -> bytes:
            if not asked:
                asked.append(size)
                raise ssl.SSLWantWriteError("the key update's answer must go out first")
            return recv(size)

        sock.recv = recv_after_a_write  # type: ignore[method-assign]
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:

                async def send() -> None:
                    with pytest.raises(trio.ClosedResourceError):
                        await server.send_all(b"x" * (64 * 1024 * 1024))

                async def read() -> None:
                    with pytest.raises(trio.ClosedResourceError):
                        await server.receive_some()

                nursery.start_soon(send)
                await trio.testing.wait_all_tasks_blocked()  # the peer's window is full
                nursery.start_soon(send)
                nursery.start_soon(read)
                await trio.testing.wait_all_tasks_blocked()
                assert asked, "the reader did not wait for the sender"
                server.cut()
        await server.aclose()


def _awaiting(coro: Any) -> list[str]:
    """The names of the coroutines ``coro`` waits in, outermost first."""
    names = []
    while coro is not None and hasattr(coro, "cr_code"):
        names.append(coro.cr_code.co_qualname)
        coro = coro.cr_await
    return names


async def test_an_idle_link_waits_in_a_short_chain(pki: ConductorPKI, tmp_path: Path) -> None:
    """A link that waits for its next message waits through our TLS stream straight on
    the socket, and holds no frame of its opening (TLS, upgrade) while it lives: every
    message read makes (and keeps alive until the next) the coroutines below the
    handler, and every link keeps all of them, so the chain must stay short. trio's
    TLS and socket streams added five coroutines below (and two exceptions per read),
    the opening one above."""
    from tests.test_wire_websocket import raw_client

    waiting: list[trio.lowlevel.Task] = []

    async def handler(conn: NodeConnection) -> None:
        waiting.append(trio.lowlevel.current_task())
        await conn.receive()

    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            partial(
                serve_nodes, handler, host="127.0.0.1", port=0, ssl_context=server_ssl_context(pki)
            )
        )
        ctx = node_files(pki, tmp_path / "n", "n1").context()
        async with raw_client(port, ctx):
            with trio.fail_after(5):
                while not waiting:
                    await trio.sleep(0.01)
                await trio.testing.wait_all_tasks_blocked()
            chain = _awaiting(waiting[0].coro)
            # trio's wait on the socket is the same whatever reads it: left out.
            ours = [name for name in chain if not name.startswith(("wait_", "EpollIOManager"))]
            assert ours == [
                "_run_handler",  # trio's serve_listeners
                "_serve_one",
                "_run_handler",
                "test_an_idle_link_waits_in_a_short_chain.<locals>.handler",
                "WireConnection.receive",
                "WebSocket.get_message",
                "TLSStream.receive_some",
            ], chain
        nursery.cancel_scope.cancel()
