"""Admission control: a bounded number of node links open at once; the rest wait or leave.

Real TCP + TLS links on 127.0.0.1 into an endpoint in the test's loop, under the virtual
clock (the gate's waits, the handshake timeout). A silent TCP client (it connects and
never starts TLS) holds a turn for the whole handshake timeout (3 s here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from symphony.wire import ConnectFailed
from symphony.wire.admission import HandshakeGate

from .fleet import Endpoint, endpoint


@asynccontextmanager
async def _gate_held(
    tmp_path: Path, max_wait: float
) -> AsyncIterator[tuple[HandshakeGate, Endpoint, trio.SocketStream]]:
    """An endpoint whose gate has one turn, held by a TCP client that never starts TLS
    (it keeps the turn for the 3 s handshake timeout, or until it leaves)."""
    gate = HandshakeGate(concurrency=1, max_wait=max_wait)
    async with endpoint(tmp_path, gate=gate) as ep:
        silent = await trio.open_tcp_stream("127.0.0.1", ep.port)
        with trio.fail_after(1):
            while gate.opening < 1:
                await trio.sleep(0.01)
        yield gate, ep, silent


async def test_admission_a_link_waits_for_its_turn_and_opens_after_it(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with _gate_held(tmp_path, max_wait=10.0) as (gate, ep, silent):
        began = trio.current_time()
        async with ep.node("n1") as (_, accepted):
            # It waited for the silent client's turn to end (its handshake timed out).
            assert trio.current_time() - began == pytest.approx(3.0, abs=0.5)
            assert accepted.protocol_version == 5
            # Its own turn ended with the hello: the next link opens at once, while the
            # first one stays up.
            began = trio.current_time()
            async with ep.node("n2"):
                assert trio.current_time() - began < 0.5
                # Its turn ends once the answer to its hello is sent, which the node
                # may read before the endpoint's task goes on to give the turn back.
                with trio.fail_after(0.1):
                    while gate.opening:
                        await trio.sleep(0.01)
                assert gate.turned_away == 0
                views = await ep.views()
                assert {n: v.state for n, v in views.items()} == {"n1": "ready", "n2": "ready"}
        await silent.aclose()


async def test_admission_a_link_that_waited_too_long_is_told_to_retry(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with _gate_held(tmp_path, max_wait=1.0) as (gate, ep, silent):
        began = trio.current_time()
        # Closed before any TLS: the node retries after its backoff, with a warning that
        # says why (not a certificate rejection).
        with pytest.raises(ConnectFailed, match="before the TLS handshake finished"):
            async with ep.node("n1"):
                pass
        # Turned away after max_wait, well before its own connect timeout (30 s here).
        assert trio.current_time() - began == pytest.approx(1.0, abs=0.5)
        assert gate.turned_away == 1
        # Once the gate is free again, the retry gets in.
        await silent.aclose()
        async with ep.node("n1"):
            assert (await ep.views())["n1"].state == "ready"


def test_admission_gate_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        HandshakeGate(concurrency=0)
    with pytest.raises(ValueError, match="max_wait"):
        HandshakeGate(max_wait=float("nan"))
