"""The mTLS WebSocket transport over real TLS on 127.0.0.1."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import trio

from symphony.pki import ConductorPKI, server_ssl_context
from symphony.wire import (
    CLOSE_PROTOCOL_ERROR,
    ConnectFailed,
    ConnectionClosed,
    ConnectTimeout,
    FrameTooLarge,
    Heartbeat,
    Hello,
    HelloAccepted,
    HelloRefused,
    NodeConnection,
    ServerUntrusted,
    StopInstance,
    TLSRejected,
    answer_hello,
    client_hello,
    connect_to_conductor,
    receive_hello,
    serve_nodes,
)
from tests.test_wire_support import LogWatch, foreign_node_files, make_pki, node_files


@pytest.fixture
def pki(tmp_path: Path) -> ConductorPKI:
    return make_pki(tmp_path)


@pytest.fixture
def logs() -> Iterator[LogWatch]:
    watch = LogWatch()
    logger = logging.getLogger("symphony.wire")
    logger.addHandler(watch)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    yield watch
    logger.removeHandler(watch)
    logger.setLevel(old)


async def echo_handler(conn: NodeConnection) -> None:
    """Answers the hello, then echoes every message back tagged with the cert node id."""
    hello = await receive_hello(conn, timeout=5)
    await answer_hello(conn, hello, heartbeat_sec=5, node_timeout_sec=30)
    while True:
        got = await conn.receive()
        if isinstance(got, Heartbeat) and got.usage.get("who"):
            await conn.send(Heartbeat(seq=got.seq, usage={"cert_node_id": conn.cert_node_id}))
        else:
            await conn.send(got)


async def start_server(nursery: trio.Nursery, pki: ConductorPKI, handler=echo_handler) -> int:
    return await nursery.start(
        partial(serve_nodes, handler, host="127.0.0.1", port=0, ssl_context=server_ssl_context(pki))
    )


def hello(node_id: str = "n1", **kw: object) -> Hello:
    return Hello(protocol_version=1, node_id=node_id, groups=("g",), **kw)  # type: ignore[arg-type]


async def test_transport_mtls_round_trip(pki, tmp_path, nursery):
    port = await start_server(nursery, pki)
    ctx = node_files(pki, tmp_path / "node", "gpu-7").context()
    async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5) as conn:
        accepted = await client_hello(conn, hello("gpu-7"), timeout=5)
        assert accepted == HelloAccepted(protocol_version=1, heartbeat_sec=5, node_timeout_sec=30)
        await conn.send(Heartbeat(seq=3, usage={"who": True}))
        assert await conn.receive() == Heartbeat(seq=3, usage={"cert_node_id": "gpu-7"})
        batch = [StopInstance(instance_id=f"i{i}", reason="r") for i in range(3)]
        await conn.send(batch)
        assert await conn.receive() == batch
        assert conn.peer_cn == "localhost"


async def test_transport_localhost_name_verifies_server_cert(pki, tmp_path, nursery):
    port = await start_server(nursery, pki)
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    async with connect_to_conductor("localhost", port, ctx, timeout=5) as conn:
        await client_hello(conn, hello(), timeout=5)


async def _expect_rejected(port: int, ctx: ssl.SSLContext) -> tuple[TLSRejected, float]:
    start = time.monotonic()
    with pytest.raises(TLSRejected) as info:
        async with connect_to_conductor("127.0.0.1", port, ctx, timeout=10) as conn:
            await client_hello(conn, hello(), timeout=10)
    return info.value, time.monotonic() - start


async def test_transport_foreign_ca_client_is_refused_fast(pki, tmp_path, nursery, logs):
    port = await start_server(nursery, pki)
    ctx = foreign_node_files(pki, tmp_path / "node", "n1").context()
    error, elapsed = await _expect_rejected(port, ctx)
    assert elapsed < 1.0
    assert "rejected our client certificate" in str(error)
    with trio.fail_after(2):
        line = await logs.wait_for("rejected TLS client 127.0.0.1:")
    assert "certificate verify failed" in line


async def test_transport_client_without_cert_is_refused_fast(pki, nursery, logs):
    port = await start_server(nursery, pki)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca_file)
    error, elapsed = await _expect_rejected(port, ctx)
    assert elapsed < 1.0
    assert "rejected our client certificate" in str(error)
    with trio.fail_after(2):
        line = await logs.wait_for("rejected TLS client")
    assert "certificate" in line


async def test_transport_untrusted_server_is_reported(pki, tmp_path, nursery):
    port = await start_server(nursery, pki)
    other = make_pki(tmp_path / "other")  # a node that trusts a different CA
    ctx = node_files(other, tmp_path / "node", "n1").context()
    with pytest.raises(ServerUntrusted, match="not trusted"):
        async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5):
            pass


async def test_transport_connect_refused_is_connect_failed(pki, tmp_path):
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    with pytest.raises(ConnectFailed, match="cannot reach"):
        async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5):
            pass


async def test_transport_silent_server_times_out(pki, tmp_path, nursery, autojump_clock):
    # A TCP server that accepts and never speaks TLS: the explicit timeout fires.
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    listeners = await nursery.start(partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    with pytest.raises(ConnectTimeout, match="more than 3"):
        async with connect_to_conductor("127.0.0.1", port, ctx, timeout=3):
            pass


async def test_transport_server_drops_client_that_never_handshakes(
    pki, nursery, logs, autojump_clock
):
    port = await start_server(nursery, pki)
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        with trio.fail_after(10):
            assert await stream.receive_some() == b""  # closed after handshake_timeout (5 s)
    await logs.wait_for("handshake not done within 5")


async def test_transport_malformed_frame_closes_connection_with_1002(pki, tmp_path, nursery, logs):
    port = await start_server(nursery, pki)
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5) as conn:
        await client_hello(conn, hello(), timeout=5)
        await conn._ws.send_message(b"\x81\xa1t\xa7no-such")  # {"t": "no-such"}
        with pytest.raises(ConnectionClosed) as info:
            await conn.receive()
    assert info.value.code == CLOSE_PROTOCOL_ERROR
    assert "unknown message type" in (info.value.reason or "")
    await logs.wait_for("protocol error, closing")
    # The server is still up for everybody else.
    async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5) as conn:
        await client_hello(conn, hello(), timeout=5)


async def test_transport_text_frame_is_protocol_error(pki, tmp_path, nursery):
    port = await start_server(nursery, pki)
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5) as conn:
        await client_hello(conn, hello(), timeout=5)
        await conn._ws.send_message("hello as text")
        with pytest.raises(ConnectionClosed, match="text frame"):
            await conn.receive()


async def test_transport_first_message_must_be_hello(pki, tmp_path, nursery):
    port = await start_server(nursery, pki)
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5) as conn:
        await conn.send(Heartbeat(seq=0))
        with pytest.raises(ConnectionClosed, match="expected Hello"):
            await conn.receive()


async def test_transport_version_mismatch_is_refused_hello(pki, tmp_path, nursery):
    port = await start_server(nursery, pki)
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5) as conn:
        with pytest.raises(HelloRefused, match="no common protocol version"):
            await client_hello(conn, Hello(protocol_version=9, node_id="n1"), timeout=5)


async def test_transport_oversized_frame_is_refused_before_sending(pki, tmp_path, nursery):
    port = await start_server(nursery, pki)
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5, max_frame_size=1000) as c:
        await client_hello(c, hello(), timeout=5)
        with pytest.raises(FrameTooLarge):
            await c.send(Heartbeat(seq=0, usage={"x": "y" * 2000}))
        await c.send(Heartbeat(seq=1))  # the connection is still usable
        assert await c.receive() == Heartbeat(seq=1)


async def test_transport_handler_crash_closes_one_connection_only(pki, tmp_path, nursery, logs):
    async def crashing(conn: NodeConnection) -> None:
        await receive_hello(conn, timeout=5)
        raise RuntimeError("boom")

    port = await start_server(nursery, pki, crashing)
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    for _ in range(2):  # the server survives the first crash
        async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5) as conn:
            await conn.send(hello())
            with pytest.raises(ConnectionClosed) as info:
                await conn.receive()
            assert info.value.code == 1011
    await logs.wait_for("connection handler failed")


async def test_transport_body_exception_is_not_wrapped(pki, tmp_path, nursery):
    port = await start_server(nursery, pki)
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    with pytest.raises(KeyError):
        async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5):
            raise KeyError("mine")
