"""Hostile or broken frames close only the link that sent them, never the Conductor."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony.pki import client_ssl_context
from symphony.wire import (
    PROTOCOL_VERSION,
    ConnectionClosed,
    Hello,
    HelloAccepted,
    ProtocolError,
    connect_to_conductor,
)

from .cluster import get_nodes, node_state, shared_cert_node, start_conductor, start_node, wait_for


def _context(info: Any) -> ssl.SSLContext:
    certs = info.cert_dir
    return client_ssl_context(
        certs / "ca.pem", certs / "node-client.pem", certs / "node-client.key"
    )


async def _send_raw_after_hello(info: Any, payload: bytes, *, hello: bool = True) -> int:
    """Send ``payload`` as one binary frame (after a valid hello); return the close code."""
    async with connect_to_conductor("localhost", info.node_port, _context(info)) as conn:
        if hello:
            await conn.send(Hello(protocol_version=PROTOCOL_VERSION, node_id="fuzzer"))
            assert isinstance(await conn.receive(), HelloAccepted)
        try:
            await conn._ws.send_message(payload)  # raw bytes, bypassing our encoder
        except ConnectionClosed as closed:  # closed while we were sending
            return closed.code
        with trio.fail_after(5):
            while True:
                try:
                    await conn.receive()
                except ConnectionClosed as closed:
                    return closed.code
                except ProtocolError:
                    continue


def _frame(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


BAD_FRAMES = {
    "not msgpack": b"\xc1\xc1\xc1 definitely not msgpack",
    "a bare integer": _frame(42),
    "unknown type": _frame({"t": "launch_missiles", "target": "moon"}),
    "missing field": _frame({"t": "heartbeat"}),
    "wrong field type": _frame({"t": "heartbeat", "seq": "one", "usage": {}}),
    "hello twice": _frame({"t": "hello", "protocol_version": 1, "node_id": "fuzzer"}),
    "conductor-only message": _frame({"t": "stop_instance", "instance_id": "x"}),
    "batch with a bad member": _frame([{"t": "heartbeat", "seq": 1}, {"t": "nope"}]),
}


async def test_malformed_frames_close_only_that_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await start_node(nursery, shared_cert_node(info, "bystander", tmp_path / "n"))
        assert await wait_for(lambda: node_state(info, "bystander")) == "ready"
        for name, payload in BAD_FRAMES.items():
            code = await _send_raw_after_hello(info, payload)
            assert code == 1002, name
        # Garbage before any hello is refused the same way.
        assert await _send_raw_after_hello(info, b"\x00\x01", hello=False) == 1002
        # An oversized frame (over the 4 MiB limit) is refused before it is unpacked.
        assert await _send_raw_after_hello(info, b"\x00" * (5 * 1024 * 1024)) in (1002, 1009)
        assert "protocol error" in caplog.text
        nodes = {n["node_id"]: n["state"] for n in await get_nodes(info)}
        assert nodes["bystander"] == "ready"
        nursery.cancel_scope.cancel()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    payload=st.one_of(
        st.binary(max_size=256),
        st.dictionaries(
            st.sampled_from(["t", "seq", "usage", "node_id", "updates"]),
            st.one_of(
                st.integers(-(2**63), 2**64 - 1),
                st.text(max_size=8),
                st.none(),
                st.binary(max_size=8),
            ),
            max_size=4,
        ).map(_frame),
    )
)
def test_malformed_random_frames_never_hurt_the_conductor(
    tmp_path_factory: Any, payload: bytes
) -> None:
    """Random bytes and random maps: each closes its own link; the Conductor keeps serving."""
    state = tmp_path_factory.mktemp("fuzz")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, state)
            with trio.fail_after(10):
                try:
                    code = await _send_raw_after_hello(info, payload)
                except ProtocolError:
                    code = 1002
            # A random payload may happen to be a valid heartbeat; anything else closes.
            assert code in (1000, 1001, 1002)
            assert await get_nodes(info) is not None
            nursery.cancel_scope.cancel()

    trio.run(main)
