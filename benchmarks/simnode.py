"""A simulated node fleet: many real node links from one process.

Each simulated node is what a real Node looks like from the Conductor's side, and nothing
more: one mTLS WebSocket (``symphony.wire.connect_to_conductor``), a real
:class:`~symphony.wire.Hello` (its own node id, groups, capacities, static resources),
then a :class:`~symphony.wire.Heartbeat` with a small, plausible usage dict every
``heartbeat_sec`` seconds (as deltas once protocol 5 was negotiated, as the real agent
sends them: its CPU figures change every time, its RAM now and then, its totals and
disks never). It runs no jobs and ignores commands. When the link drops it
reconnects with the same backoff, jitter and spread as the real node agent.

All nodes share the seed client certificate (CN ``node-client``, which may claim any
node id) and one SSL context, so a fleet of thousands costs one process and little RAM.
Connection attempts pass a semaphore (``connect_concurrency`` in flight): the simulator
then handshakes as fast as its own CPU allows, without a SYN flood that would measure
the kernel's accept queue instead of the Conductor.

Library::

    settings = FleetSettings(host="127.0.0.1", port=port, cert_dir=certs, nodes=1000)
    async with trio.open_nursery() as nursery:
        stats = await nursery.start(run_fleet, settings)   # returns once all connected
        print(stats.connected, stats.connects, stats.errors)

Script::

    python -m benchmarks.simnode --conductor 127.0.0.1:50051 --certs STATE/certs \\
        --nodes 1000 --heartbeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import random
import resource
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from symphony.actors import Backoff
from symphony.pki import client_ssl_context, validate_node_id
from symphony.wire import (
    PROTOCOL_VERSION,
    ConductorConnection,
    ConnectionClosed,
    Heartbeat,
    Hello,
    LinkError,
    client_hello,
    connect_to_conductor,
)
from symphony.wire.usagedelta import UsageSender

#: The real node agent's reconnect policy (``symphony.node.link.LinkSettings``): the
#: simulator must not reconnect faster, or slower, than a real fleet would.
NODE_BACKOFF = Backoff(initial=0.5, factor=2.0, max=30.0, jitter=0.2, reset_after=30.0)
#: And its ``reconnect_spread``: the first retry after a link that was up drops.
NODE_RECONNECT_SPREAD = 3.0
GIB = 1 << 30


@dataclass(frozen=True, kw_only=True, slots=True)
class FleetSettings:
    """Where the Conductor is and what fleet to simulate.

    ``cert_dir`` is the Conductor's certificate directory (``ca.pem``,
    ``node-client.pem``, ``node-client.key``). Node ``i`` is named
    ``f"{id_prefix}-{i:05d}"``, takes ``groups[i % len(groups)]`` and
    ``capacity_shapes[i % len(capacity_shapes)]``.
    """

    host: str
    port: int
    cert_dir: Path
    nodes: int = 100
    heartbeat_sec: float = 3.0
    id_prefix: str = "sim"
    groups: tuple[str, ...] = ("sim-a", "sim-b", "sim-c")
    capacity_shapes: tuple[Mapping[str, int], ...] = (
        {"A": 100},
        {"A": 200, "G": 8},
        {"A": 50},
    )
    connect_concurrency: int = 50
    connect_timeout: float = 10.0
    hello_timeout: float = 10.0
    backoff: Backoff = field(default=NODE_BACKOFF)
    reconnect_spread: float = NODE_RECONNECT_SPREAD

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.port <= 65535:
            problems.append(f"port must be 1..65535, got {self.port}")
        if self.nodes < 1:
            problems.append(f"nodes must be at least 1, got {self.nodes}")
        if not self.heartbeat_sec >= 0.05:  # also refuses NaN
            problems.append(
                f"heartbeat_sec must be >= 0.05 (the protocol's floor), got {self.heartbeat_sec}"
            )
        if self.connect_concurrency < 1:
            problems.append(
                f"connect_concurrency must be at least 1, got {self.connect_concurrency}"
            )
        if not self.capacity_shapes:
            problems.append("capacity_shapes must hold at least one shape")
        try:
            validate_node_id(node_id(self.id_prefix, max(self.nodes - 1, 0)))
        except LinkError as error:
            problems.append(f"id_prefix {self.id_prefix!r} makes invalid node ids: {error}")
        if problems:
            raise ValueError("; ".join(problems))

    def ssl_context(self) -> ssl.SSLContext:
        """One client context for the whole fleet (the shared seed certificate)."""
        return client_ssl_context(
            self.cert_dir / "ca.pem",
            self.cert_dir / "node-client.pem",
            self.cert_dir / "node-client.key",
        )


def node_id(prefix: str, index: int) -> str:
    """The id of simulated node ``index``: ``sim-00042``."""
    return f"{prefix}-{index:05d}"


def hello_for(settings: FleetSettings, index: int) -> Hello:
    """The hello simulated node ``index`` sends: its id, group, capacities, resources."""
    groups = settings.groups
    return Hello(
        protocol_version=PROTOCOL_VERSION,
        node_id=node_id(settings.id_prefix, index),
        groups=(groups[index % len(groups)],) if groups else (),
        capacities_total=dict(settings.capacity_shapes[index % len(settings.capacity_shapes)]),
        resources={
            "cpu_count": 8,
            "ram_total": 32 * GIB,
            "disks": [{"path": "/", "total": 500 * GIB}],
            "gpus": [],
            "hostname": node_id(settings.id_prefix, index),
        },
        heartbeat_sec=settings.heartbeat_sec,
        agent_version="simnode",
    )


def usage_sample(rng: random.Random, ram_used: int | None = None) -> dict[str, Any]:
    """A usage dict shaped like the real ResourceMonitor's, with made-up figures."""
    per_core = [round(rng.uniform(0.0, 100.0), 1) for _ in range(8)]
    return {
        "cpu_percent": round(sum(per_core) / len(per_core), 1),
        "per_core": per_core,
        "ram_used": ram_used if ram_used is not None else rng.randrange(2 * GIB, 24 * GIB),
        "ram_total": 32 * GIB,
        "disks": [{"path": "/", "total": 500 * GIB, "used": 120 * GIB}],
        "gpus": [],
    }


@dataclass(eq=False)
class FleetStats:
    """Live counters of a fleet (read them from any task of the same Trio run).

    ``connected`` is the number of links up now; ``connects`` counts accepted hellos
    since the start; ``errors`` counts failed attempts (refused, timed out, rejected);
    ``disconnects`` counts links that dropped after their hello was accepted.
    """

    target: int
    connected: int = 0
    connects: int = 0
    errors: int = 0
    disconnects: int = 0
    heartbeats: int = 0
    last_error: str | None = None
    _changed: trio.Event = field(default_factory=trio.Event, repr=False)

    def _touch(self) -> None:
        # Wake every waiter; heartbeats do not touch (5,000 wake-ups a second for nothing).
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, predicate: Callable[[FleetStats], bool]) -> None:
        """Return once ``predicate(self)`` holds (checked after every connect/drop)."""
        while not predicate(self):
            await self._changed.wait()


def collect_rarely() -> None:
    """Full collections once per 1,000 young ones, as in a Conductor process (see
    ``symphony/conductor/collector.py``, not imported here: it would load the whole
    Conductor): a fleet holds thousands of links too, and with CPython's thresholds its
    full collections take the CPU its nodes need to reconnect and to beat."""
    youngest, middle, _ = gc.get_threshold()
    gc.set_threshold(youngest, middle, 1000)


def raise_nofile_limit() -> int:
    """Raise the soft open-files limit to the hard one (each link is a socket); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit cannot be the soft one on Linux (fs.nr_open caps it).
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if wanted > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def _heartbeats(
    conn: ConductorConnection,
    interval: float,
    stats: FleetStats,
    rng: random.Random,
    deltas: UsageSender,
) -> None:
    # Like the real link: one at once, then on a fixed schedule (no drift).
    seq, next_at = 0, trio.current_time()
    ram_used = rng.randrange(2 * GIB, 24 * GIB)
    while True:
        if rng.random() < 0.1:  # memory moves now and then
            ram_used = rng.randrange(2 * GIB, 24 * GIB)
        usage, delta = deltas.next(usage_sample(rng, ram_used))
        await conn.send(Heartbeat(seq=seq, usage=usage, delta=delta))
        stats.heartbeats += 1
        seq += 1
        next_at = max(next_at + interval, trio.current_time())
        await trio.sleep_until(next_at)


async def _session(
    conn: ConductorConnection, interval: float, stats: FleetStats, seed: int, version: int
) -> None:
    """Heartbeat and drain incoming frames until the link closes."""
    rng = random.Random(seed)
    async with trio.open_nursery() as nursery:

        async def heartbeats() -> None:
            # A failed send means the link is gone: end the session from here rather
            # than raise (the nursery would wrap it in an exception group).
            with contextlib.suppress(ConnectionClosed):
                deltas = UsageSender(deltas=version >= 5)
                await _heartbeats(conn, interval, stats, rng, deltas)
            nursery.cancel_scope.cancel()

        nursery.start_soon(heartbeats)
        with contextlib.suppress(ConnectionClosed):
            while True:
                await conn.receive()  # a simulated node runs nothing: commands are dropped
        nursery.cancel_scope.cancel()


async def _connect_once(
    settings: FleetSettings,
    index: int,
    ctx: ssl.SSLContext,
    gate: trio.Semaphore,
    stats: FleetStats,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        # Hold the gate for TCP + TLS + upgrade + hello only, not for the session.
        async with gate:
            conn = await stack.enter_async_context(
                connect_to_conductor(
                    settings.host, settings.port, ctx, timeout=settings.connect_timeout
                )
            )
            accepted = await client_hello(
                conn, hello_for(settings, index), timeout=settings.hello_timeout
            )
        stats.connected += 1
        stats.connects += 1
        stats._touch()
        try:
            await _session(
                conn, accepted.heartbeat_sec, stats, seed=index, version=accepted.protocol_version
            )
        finally:
            stats.connected -= 1
            stats.disconnects += 1
            stats._touch()


async def _run_node(
    settings: FleetSettings,
    index: int,
    ctx: ssl.SSLContext,
    gate: trio.Semaphore,
    stats: FleetStats,
) -> None:
    backoff = settings.backoff.tracker()
    while True:
        began, was_up = trio.current_time(), False
        try:
            await _connect_once(settings, index, ctx, gate, stats)
            was_up = True  # it returns once a link that was up has closed
        except (LinkError, OSError) as error:
            stats.errors += 1
            stats.last_error = f"{type(error).__name__}: {error}"
        backoff.observe_run(trio.current_time() - began)
        delay = backoff.next_delay()
        if was_up and settings.reconnect_spread:
            # As the real agent: a link that was up dropped; spread the first retry.
            delay = max(delay, random.uniform(0.0, settings.reconnect_spread))
        await trio.sleep(delay)


async def run_fleet(
    settings: FleetSettings,
    *,
    stats: FleetStats | None = None,
    task_status: trio.TaskStatus[FleetStats] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the fleet until cancelled; report its :class:`FleetStats` once all are connected.

    Pass ``stats`` to watch the counters before ``task_status`` reports (e.g. to time
    the connects yourself).
    """
    stats = stats if stats is not None else FleetStats(target=settings.nodes)
    ctx = settings.ssl_context()
    gate = trio.Semaphore(settings.connect_concurrency)
    async with trio.open_nursery() as nursery:
        for index in range(settings.nodes):
            nursery.start_soon(_run_node, settings, index, ctx, gate, stats)
        await stats.wait_until(lambda s: s.connected >= s.target)
        task_status.started(stats)


# ---- the script ------------------------------------------------------------------------------


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 as ``[::1]:PORT``) -> ``(host, port)``; ArgumentTypeError if not."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (port 1..65535), got {text!r}")
    return host, int(port)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.simnode", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--conductor", type=host_port, required=True, help="node endpoint HOST:PORT"
    )
    parser.add_argument("--certs", type=Path, required=True, help="the conductor's cert directory")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--heartbeat", type=float, default=3.0, help="seconds between heartbeats")
    parser.add_argument("--concurrency", type=int, default=50, help="connects in flight")
    parser.add_argument("--prefix", default="sim", help="node id prefix")
    parser.add_argument("--report", type=float, default=5.0, help="seconds between status lines")
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> None:
    host, port = args.conductor
    settings = FleetSettings(
        host=host,
        port=port,
        cert_dir=args.certs,
        nodes=args.nodes,
        heartbeat_sec=args.heartbeat,
        connect_concurrency=args.concurrency,
        id_prefix=args.prefix,
    )
    stats = FleetStats(target=settings.nodes)
    began = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: run_fleet(settings, stats=stats))
        last_beats = 0
        while True:
            await trio.sleep(args.report)
            rate = (stats.heartbeats - last_beats) / args.report
            last_beats = stats.heartbeats
            print(
                f"{trio.current_time() - began:7.1f}s connected {stats.connected}/{stats.target}"
                f"  connects {stats.connects}  errors {stats.errors}"
                f"  heartbeats/s {rate:.0f}  last error: {stats.last_error or '-'}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"open files limit: {raise_nofile_limit()}", flush=True)
    collect_rarely()
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(_main, args)


if __name__ == "__main__":
    main()
