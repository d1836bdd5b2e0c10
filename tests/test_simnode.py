"""The simulated node fleet: real links to a real Conductor, reconnects, bad input."""

from __future__ import annotations

import functools
import gc
import math
import random
import resource
import socket
from pathlib import Path
from typing import Any

import pytest
import trio

from benchmarks.simnode import (
    FleetSettings,
    FleetStats,
    collect_rarely,
    hello_for,
    host_port,
    parse_args,
    raise_nofile_limit,
    run_fleet,
    usage_sample,
)
from symphony.actors import Backoff
from symphony.conductor.collector import FULL_EVERY
from symphony.wire import Heartbeat, decode, encode

from .link.cluster import get_nodes, start_conductor

FAST_BACKOFF = Backoff(initial=0.05, factor=2.0, max=0.5, jitter=0.2, reset_after=5.0)


async def conductor_life(
    scope: trio.CancelScope, state: Path, *, task_status: Any, **overrides: Any
) -> None:
    """Run an in-process Conductor until ``scope`` is cancelled."""
    with scope:
        async with trio.open_nursery() as nursery:
            task_status.started(await start_conductor(nursery, state, **overrides))
            await trio.sleep_forever()


async def all_ready_with_usage(info: Any, count: int) -> list[dict[str, Any]]:
    """Poll ``GET /nodes`` until ``count`` nodes are ready and have sent a heartbeat."""
    with trio.fail_after(10):
        while True:
            nodes = await get_nodes(info)
            if len(nodes) == count and all(n["state"] == "ready" and n["usage"] for n in nodes):
                return nodes
            await trio.sleep(0.05)


async def test_simnode_fleet_ready_heartbeating_and_back_after_restart(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        first_life = trio.CancelScope()
        info = await nursery.start(functools.partial(conductor_life, first_life, tmp_path / "c"))
        settings = FleetSettings(
            host="127.0.0.1",
            port=info.node_port,
            cert_dir=info.cert_dir,
            nodes=20,
            heartbeat_sec=0.2,
            groups=("g1", "g2"),
            capacity_shapes=({"A": 10}, {"A": 20, "G": 1}),
            backoff=FAST_BACKOFF,
        )
        with trio.fail_after(10):
            stats: FleetStats = await nursery.start(run_fleet, settings)
        assert (stats.connected, stats.connects) == (20, 20)

        nodes = await all_ready_with_usage(info, 20)
        assert [n["node_id"] for n in nodes] == [f"sim-{i:05d}" for i in range(20)]
        assert nodes[3]["groups"] == ["g2"] and nodes[3]["capacities_total"] == {"A": 20, "G": 1}
        assert nodes[4]["groups"] == ["g1"] and nodes[4]["capacities_total"] == {"A": 10}
        assert set(nodes[0]["usage"]) >= {"cpu_percent", "per_core", "ram_used", "ram_total"}

        first_life.cancel()  # the Conductor goes away entirely
        with trio.fail_after(5):
            await stats.wait_until(lambda s: s.connected == 0)
        with trio.fail_after(10):  # the first one holds the state directory until it is over
            while not first_life.cancelled_caught:
                await trio.sleep(0.01)
        again = await nursery.start(
            functools.partial(
                conductor_life, trio.CancelScope(), tmp_path / "c", listen_port=info.node_port
            )
        )
        with trio.fail_after(10):
            await stats.wait_until(lambda s: s.connected == 20)
        assert len(await all_ready_with_usage(again, 20)) == 20
        assert stats.connects == 40 and stats.disconnects == 20
        nursery.cancel_scope.cancel()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_simnode_unreachable_conductor_retries_with_backoff(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")  # only for its certificates
        settings = FleetSettings(
            host="127.0.0.1",
            port=_closed_port(),
            cert_dir=info.cert_dir,
            nodes=3,
            backoff=Backoff(initial=1.0, factor=2.0, max=4.0, jitter=0.0),
        )
        stats = FleetStats(target=3)
        nursery.start_soon(functools.partial(run_fleet, settings, stats=stats))
        # Attempts at t = 0, 1, 3, 7, 11, 15, 19: seven per node in 20 s, not a busy loop.
        await trio.sleep(20.5)
        assert stats.errors == 3 * 7
        assert stats.connected == 0 and stats.connects == 0
        assert stats.last_error is not None and "cannot reach" in stats.last_error
        nursery.cancel_scope.cancel()


def test_simnode_hellos_and_heartbeats_are_valid_protocol(tmp_path: Path) -> None:
    settings = FleetSettings(
        host="127.0.0.1", port=1, cert_dir=tmp_path, nodes=6, groups=("a", "b", "c")
    )
    hellos = [decode(encode(hello_for(settings, i))) for i in range(6)]
    assert len({h.node_id for h in hellos}) == 6
    assert [h.groups for h in hellos[:4]] == [("a",), ("b",), ("c",), ("a",)]
    assert hellos[1].capacities_total == {"A": 200, "G": 8}
    assert all(h.heartbeat_sec == 3.0 for h in hellos)
    beat = decode(encode(Heartbeat(seq=0, usage=usage_sample(random.Random(1)))))
    assert 0 <= beat.usage["cpu_percent"] <= 100 and len(beat.usage["per_core"]) == 8


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"nodes": 0}, "nodes must be at least 1"),
        ({"heartbeat_sec": 0.01}, "heartbeat_sec must be >= 0.05"),
        ({"heartbeat_sec": math.nan}, "heartbeat_sec must be >= 0.05"),
        ({"connect_concurrency": 0}, "connect_concurrency must be at least 1"),
        ({"port": 0}, "port must be 1..65535"),
        ({"port": 70000}, "port must be 1..65535"),
        ({"capacity_shapes": ()}, "capacity_shapes must hold at least one shape"),
        ({"id_prefix": "-sim"}, "makes invalid node ids"),
        ({"id_prefix": "x" * 60}, "makes invalid node ids"),
    ],
)
def test_simnode_settings_reject_malformed(
    tmp_path: Path, change: dict[str, Any], complaint: str
) -> None:
    fields: dict[str, Any] = {"host": "127.0.0.1", "port": 7443, "cert_dir": tmp_path}
    with pytest.raises(ValueError, match=complaint):
        FleetSettings(**(fields | change))


@pytest.mark.parametrize("text", ["localhost", "host:", ":7443", "host:99999", "host:abc", ""])
def test_simnode_cli_rejects_malformed_conductor_address(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--conductor", text, "--certs", "certs"])
    assert exited.value.code == 2
    assert "expected HOST:PORT" in capsys.readouterr().err


def test_simnode_cli_reads_addresses_and_counts() -> None:
    assert host_port("[::1]:7443") == ("::1", 7443)
    args = parse_args(["--conductor", "10.0.0.5:50051", "--certs", "c", "--nodes", "1000"])
    assert args.conductor == ("10.0.0.5", 50051) and args.nodes == 1000
    assert args.heartbeat == 3.0 and args.concurrency == 50


def test_simnode_raises_open_files_limit_to_hard() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip("needs a finite hard limit above 256 to lower the soft one first")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        assert raise_nofile_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_simnode_fleet_process_collects_like_a_conductor() -> None:
    """The fleet holds as many links as the Conductor: with CPython's thresholds its
    full collections would slow the simulated nodes, and the Conductor's figures with
    them. Its thresholds follow the Conductor's (without importing the Conductor)."""
    saved = gc.get_threshold()
    try:
        collect_rarely()
        assert gc.get_threshold() == (saved[0], saved[1], FULL_EVERY)
    finally:
        gc.set_threshold(*saved)
