"""Assemble and run a Node: its credentials, its actor tree, its link to the Conductor.

::

    Node (Supervisor, one_for_one)
    ├── resources   ResourceMonitor: CPU, RAM, disks, GPUs
    └── link        ConductorLink: connect with backoff, hello, heartbeats, commands

beside the process layer (``symphony.node.process``): a ProcessManager whose jobs are
owned by a per-node monitor process, so they outlive this agent; on start the agent
re-adopts the jobs an earlier agent left running.

Embedding::

    async with trio.open_nursery() as nursery:
        node = await nursery.start(run_node, NodeConfig(node_id="n1", ...))
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import trio

from symphony.actors import ActorRef, ChildSpec, Supervisor, spawn
from symphony.config import NodeConfig
from symphony.errors import SymphonyError
from symphony.pki import client_ssl_context
from symphony.statedir import hold_state_dir

from .gpus import GpuDevice, node_devices
from .incarnation import ensure_incarnation
from .jobs import ProcessJobs
from .link import ConductorLink, Jobs, LinkSettings
from .network import network_facts
from .process import ProcessManager
from .process.loggc import sweep_forever
from .relay import NodeRelay, RelayDial
from .resources import ResourceMonitor
from .sources.prepare import SourcePreparer
from .tunnels import Tunnels
from .uploadlink import UploadReads

log = logging.getLogger("symphony.node")

#: Seconds a node waits for ``node.tls`` files that are not there yet, and how often it
#: looks. A Conductor started at the same moment writes them in about 0.6 s on an idle
#: machine, but took 9.9 s on a slow, loaded one (two cores, load 6): ten seconds made
#: the README's quickstart fail there; a wrong path costs the wait, announced at once.
TLS_FILES_WAIT = 30.0
TLS_FILES_POLL = 0.1


class NodeCredentialsError(SymphonyError):
    """The node has no usable TLS credentials (files missing, or no join configured)."""


@dataclass(frozen=True, slots=True)
class NodeHandle:
    """What ``run_node`` reports: the tree and its link (ask it ``"status"``), and the
    GPU devices it hands out."""

    tree: Supervisor
    link: ActorRef
    processes: ProcessManager
    gpus: tuple[GpuDevice, ...] = ()


def offered_capacities(config: NodeConfig, gpus: tuple[GpuDevice, ...]) -> dict[str, int]:
    """What the node offers: its configured capacities and ``gpu``, one per device."""
    capacities = dict(config.capacities_total)
    if gpus:
        capacities["gpu"] = len(gpus)
    return capacities


async def node_credentials(
    config: NodeConfig, *, capacities: Mapping[str, int] | None = None
) -> ssl.SSLContext:
    """The link's client TLS context, first match wins: the ``node.tls`` files; else a
    certificate an earlier join stored in ``state_dir`` (when it fits this node id and
    the configured CA); else a new join with ``node.join``'s token
    (:mod:`symphony.node.enroll`)."""
    if config.ca_file is not None:
        waited = await wait_for_tls_files(config)
        return node_ssl_context(config, waited=waited)
    # Joining reads and writes certificates with ``cryptography``: imported only here,
    # so a node started with ``node.tls`` files does not keep it resident.
    from .enroll import IDENTITY_DIR, identity_for

    identity = await identity_for(config, capacities=capacities)
    if identity is None:
        raise NodeCredentialsError(
            f"node {config.node_id!r} has no credentials: give node.tls files, or node.join "
            f"(--join HOST:PORT --token T --ca-hash sha256:...) to enrol; nothing was "
            f"stored by an earlier join in {Path(config.state_dir) / IDENTITY_DIR}"
        )
    return identity.ssl_context()


async def wait_for_tls_files(config: NodeConfig, *, limit: float = TLS_FILES_WAIT) -> float:
    """Wait until every ``node.tls`` file exists, for at most ``limit`` seconds; return
    the seconds waited (0 when they were there).

    A Conductor writes the shared node certificate on its first start, so a node started
    beside it on the same machine (both at once from a script, or a service manager
    starting them together) would otherwise find nothing and exit. Files are written
    whole under their final name (see :mod:`symphony.pki.files`), so once a name exists
    it can be read. A wrong path costs the wait, announced at once in a warning that
    names the missing files.
    """
    named = [f for f in (config.ca_file, config.cert_file, config.key_file) if f is not None]
    started = trio.current_time()
    announced = False
    with trio.move_on_after(limit):
        while missing := [str(f) for f in named if not Path(f).exists()]:
            if not announced:
                log.warning(
                    "node TLS files not there yet: %s; waiting up to %g s for a Conductor "
                    "on this machine to write them on its first start",
                    ", ".join(missing),
                    limit,
                )
                announced = True
            await trio.sleep(TLS_FILES_POLL)
    return trio.current_time() - started


def node_ssl_context(config: NodeConfig, *, waited: float = 0.0) -> ssl.SSLContext:
    """The client TLS context from ``node.tls`` files (join enrolment comes separately);
    ``waited`` is how long :func:`wait_for_tls_files` waited for them, for the error."""
    ca_file, cert_file, key_file = config.ca_file, config.cert_file, config.key_file
    if ca_file is None or cert_file is None or key_file is None:
        raise NodeCredentialsError(
            "node.tls needs ca_file, cert_file and key_file (or use node.join with a token)"
        )
    missing = [str(f) for f in (ca_file, cert_file, key_file) if not Path(f).exists()]
    if missing:
        after = f" after {waited:.0f} s" if waited else ""
        raise NodeCredentialsError(
            f"node TLS files not found{after}: {', '.join(missing)}; a Conductor creates them in "
            f"its conductor.tls.cert_path on its first start: start it first (on this "
            f"machine), or enrol this node with a join token from `symphony token create`"
        )
    return client_ssl_context(ca_file, cert_file, key_file)


def relay_dial(config: NodeConfig, ssl_context: ssl.SSLContext) -> RelayDial:
    """Where the node's relay connections go: where its link goes."""
    host, port = config.conductor_host, config.conductor_port
    return RelayDial(host=host, port=port, ssl_context=ssl_context)


def build_tree(
    config: NodeConfig,
    ssl_context: ssl.SSLContext,
    jobs: Jobs | None = None,
    uploads: UploadReads | None = None,
    gpus: tuple[GpuDevice, ...] = (),
    relay: NodeRelay | None = None,
) -> Supervisor:
    """The Node's supervision tree (not started yet). ``uploads``: where reads of
    archives uploaded to the Conductor go (the link serves them); ``gpus`` are its
    devices, offered as the ``gpu`` capacity (one per device)."""
    capacities = offered_capacities(config, gpus)
    settings = LinkSettings(
        host=config.conductor_host,
        port=config.conductor_port,
        alternates=config.conductor_addrs[1:],
        ssl_context=ssl_context,
        node_id=config.node_id,
        groups=tuple(config.groups),
        capacities_total=capacities,
        heartbeat_sec=config.heartbeat_sec,
        incarnation=ensure_incarnation(Path(config.state_dir)),
        network=network_facts(config.ports, config.advertise_addr),
    )
    disks = (Path(config.state_dir).resolve(),)

    def resources() -> ResourceMonitor:
        return ResourceMonitor(disk_paths=disks, devices=gpus)

    def link() -> ConductorLink:
        return ConductorLink(settings, tree.child("resources"), jobs, uploads, relay)

    tree = Supervisor(
        [ChildSpec(name="resources", factory=resources), ChildSpec(name="link", factory=link)],
        strategy="one_for_one",
        max_restarts=5,
        max_seconds=30,
    )
    return tree


async def run_node(
    config: NodeConfig, *, task_status: trio.TaskStatus[NodeHandle] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run a Node until cancelled; reports a :class:`NodeHandle` once started.

    Raises :class:`~symphony.statedir.StateDirInUse` at once when another Node holds
    ``config.state_dir``.
    """
    # Made private (its key, job records and logs are nobody else's), or refused when it
    # may be someone else's directory: see symphony.owndir.
    with hold_state_dir(Path(config.state_dir), "node"):
        await _run_node(config, task_status)


async def _run_node(config: NodeConfig, task_status: trio.TaskStatus[NodeHandle]) -> None:
    state_dir = Path(config.state_dir)
    # Once per start: NVML is asked (and its absence logged) here, not per job.
    gpus = node_devices(config.gpus)
    # A join says what the node will offer, devices included (a token may bind it).
    ssl_context = await node_credentials(config, capacities=offered_capacities(config, gpus))
    async with trio.open_nursery() as nursery:
        uploads = UploadReads()
        sources = SourcePreparer(
            cache_dir=str(state_dir / "cache"),
            cache_max_bytes=config.cache_max_bytes,
            envs_dir=None if config.envs_dir is None else str(config.envs_dir),
            uploads=uploads,
        )
        manager = ProcessManager(
            state_dir=str(state_dir / "jobs"),
            node_id=config.node_id,
            sources=sources,
            gpus=[device.id for device in gpus],
        )
        await nursery.start(manager.run)
        jobs = ProcessJobs(manager)  # subscribes before adoption emits anything
        relay = NodeRelay(relay_dial(config, ssl_context), manager.live_requests)
        await nursery.start(relay.run)
        jobs.tunnels = Tunnels(relay)
        adopted = await manager.adopt()
        if adopted:
            log.info("re-adopted %d instance(s) from an earlier agent", len(adopted))
        # After the adoption: the instances adopted are held, their logs stay.
        nursery.start_soon(
            functools.partial(
                sweep_forever,
                manager,
                retention=config.log_retention_sec,
                max_bytes=config.orphan_logs_max_bytes,
            )
        )
        for request in manager.live_requests():  # their tunnels, on the same ports
            await jobs.tunnels.restore(request.spec, request.instance_id)
        tree = build_tree(config, ssl_context, jobs, uploads, gpus, relay)
        await spawn(nursery, tree, name=f"node:{config.node_id}")
        await nursery.start(jobs.run, tree.child("link"))
        task_status.started(NodeHandle(tree, tree.child("link"), manager, gpus))
