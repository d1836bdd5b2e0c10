"""Silence the Conductor caused is not the node's: no node is lost for heartbeats the
Conductor was too busy to read, and the grace after a restart starts when it is ready.

Real links on 127.0.0.1 into a registry in the test's loop, under the virtual clock. A
stall is ``clock.jump``: virtual time passes while no task runs, which is what a Conductor
too busy to run its tasks looks like to them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from benchmarks.nodes import declared_lost
from symphony.actors import spawn
from symphony.conductor.nodes.model import ExpectNodes, ListNodes
from symphony.conductor.nodes.registry import NodeRegistry
from symphony.wire import ConductorConnection, Heartbeat

from .fleet import Endpoint, endpoint


async def _beat_forever(conn: ConductorConnection) -> None:
    seq = 0
    while True:
        await conn.send(Heartbeat(seq=seq))
        seq += 1
        await trio.sleep(1.0)


async def _state(ep: Endpoint, node_id: str) -> str:
    return (await ep.views())[node_id].state


async def test_stall_no_node_is_lost_for_the_conductors_own_silence(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        endpoint(tmp_path) as ep,
        ep.node("alive") as (alive, _),
        ep.node("frozen") as (frozen, _),
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(_beat_forever, alive)
        await frozen.send(Heartbeat(seq=0))  # then nothing: a frozen node, link open
        await trio.sleep(2.0)
        # The Conductor stalls for 20 s, four times the node timeout (5 s): nothing runs.
        autojump_clock.jump(20.0)
        stalled_until = trio.current_time()
        await trio.sleep(4.0)  # less than a node timeout after the stall
        assert await _state(ep, "alive") == "ready"
        assert await _state(ep, "frozen") == "ready"  # silence counts from the stall's end
        # A node that stays silent after the stall is lost one node timeout later.
        with trio.fail_after(10):
            while await _state(ep, "frozen") != "lost":
                await trio.sleep(0.1)
        assert trio.current_time() - stalled_until >= 5.0
        assert await _state(ep, "alive") == "ready"
        nursery.cancel_scope.cancel()
    # The node benchmark counts the nodes lost in a restart storm from the Conductor's
    # log: the line it looks for is the one the registry writes, once per loss.
    log = tmp_path / "conductor.log"
    log.write_text("".join(f"{record.getMessage()}\n" for record in caplog.records))
    assert declared_lost(log, 0) == 1


async def test_stall_a_link_dropped_during_a_strain_has_a_grace_to_return(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with endpoint(tmp_path, restart_grace_sec=40.0) as ep:
        async with ep.node("n1") as (conn, _):
            await conn.send(Heartbeat(seq=0))
            await trio.sleep(0.5)
            autojump_clock.jump(20.0)  # the Conductor stalls (a reconnect storm, say)
            strained_at = trio.current_time()
            await trio.sleep(1.0)  # the late sweep notices
        # The link drops (its hello timed out on a starved Conductor, say): its retries
        # were being turned away, so its backoff may be far past its 5 s node timeout.
        # It has twice the sweep's lateness (about 2 x 17 s here), at most 40 s.
        with trio.fail_after(5):
            while await _state(ep, "n1") != "disconnected":
                await trio.sleep(0.1)
        await trio.sleep(20.0)  # four node timeouts
        assert await _state(ep, "n1") == "disconnected"
        with trio.fail_after(60):
            while await _state(ep, "n1") != "lost":
                await trio.sleep(0.5)
        assert 30.0 <= trio.current_time() - strained_at <= 41.0


async def test_stall_expected_nodes_get_their_grace_from_when_the_conductor_is_ready(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, NodeRegistry(restart_grace_sec=40.0))
        await trio.sleep(30.0)  # the rest of the Conductor takes long to start
        ready_at = trio.current_time()
        await registry.tell(ExpectNodes(("n1",)))

        async def state() -> str:
            (view,) = await registry.ask(ListNodes())
            return str(view.state)

        await trio.sleep(39.0)  # 69 s after the registry started, 39 s after ready
        assert await state() == "disconnected"
        while await state() != "lost":
            await trio.sleep(0.5)
        assert trio.current_time() - ready_at >= 40.0
        nursery.cancel_scope.cancel()
