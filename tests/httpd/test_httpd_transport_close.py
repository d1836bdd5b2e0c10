"""A connection's close: at once, from a cancelled task too, waking a read waiting on it."""

from __future__ import annotations

import socket

import trio
import trio.testing

from symphony.httpd._transport import Transport


def _pair() -> tuple[Transport, socket.socket]:
    ours, theirs = socket.socketpair()
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
    return Transport(stream, 65536, write_timeout=5.0), theirs


async def test_close_ends_the_connection_for_the_client() -> None:
    transport, client = _pair()
    with client:
        await transport.close()
        assert transport.stream.socket.fileno() == -1
        assert client.recv(10) == b""  # the client sees the end at once


async def test_close_in_a_cancelled_task_closes_and_does_not_raise() -> None:
    transport, client = _pair()
    with client, trio.CancelScope() as scope:
        scope.cancel()
        await transport.close()  # a finally of a cancelled request runs it
        closed_without_raising = True
    assert closed_without_raising
    assert transport.stream.socket.fileno() == -1


async def test_close_wakes_a_read_waiting_in_another_task() -> None:
    transport, client = _pair()
    with client:
        async with trio.open_nursery() as nursery:
            got: list[bytes] = []

            async def reader() -> None:
                got.append(await transport.read())

            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            await transport.close()
        assert got == [b""]  # the read reports the end; it does not hang


async def test_close_twice_is_harmless() -> None:
    transport, client = _pair()
    with client:
        await transport.close()
        await transport.close()
