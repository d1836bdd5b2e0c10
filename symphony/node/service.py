"""Assemble and run a Node: its credentials, its actor tree, its link to the Conductor.

::

    Node (Supervisor, one_for_one)
    ├── resources   ResourceMonitor: CPU, RAM, disks, GPUs
    └── link        ConductorLink: connect with backoff, hello, heartbeats, commands

Embedding::

    async with trio.open_nursery() as nursery:
        node = await nursery.start(run_node, NodeConfig(node_id="n1", ...))
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

import trio

from symphony.actors import ActorRef, ChildSpec, Supervisor, spawn
from symphony.config import NodeConfig
from symphony.pki import client_ssl_context

from .link import ConductorLink, Jobs, LinkSettings
from .resources import ResourceMonitor

log = logging.getLogger("symphony.node")


class NodeCredentialsError(Exception):
    """The node has no usable TLS credentials (files missing, or no join configured)."""


@dataclass(frozen=True, slots=True)
class NodeHandle:
    """What ``run_node`` reports: the tree and its link (ask it ``"status"``)."""

    tree: Supervisor
    link: ActorRef


def node_ssl_context(config: NodeConfig) -> ssl.SSLContext:
    """The client TLS context from ``node.tls`` files (join enrolment comes separately)."""
    files = (config.ca_file, config.cert_file, config.key_file)
    if any(f is None for f in files):
        raise NodeCredentialsError(
            "node.tls needs ca_file, cert_file and key_file (or use node.join with a token)"
        )
    missing = [str(f) for f in files if f is not None and not Path(f).exists()]
    if missing:
        raise NodeCredentialsError(f"node TLS files not found: {', '.join(missing)}")
    return client_ssl_context(*files)  # type: ignore[arg-type]


def build_tree(
    config: NodeConfig, ssl_context: ssl.SSLContext, jobs: Jobs | None = None
) -> Supervisor:
    """The Node's supervision tree (not started yet)."""
    settings = LinkSettings(
        host=config.conductor_host,
        port=config.conductor_port,
        ssl_context=ssl_context,
        node_id=config.node_id,
        groups=tuple(config.groups),
        capacities_total=dict(config.capacities_total),
        heartbeat_sec=config.heartbeat_sec,
    )
    disks = (Path(config.state_dir).resolve(),)

    def resources() -> ResourceMonitor:
        return ResourceMonitor(disk_paths=disks)

    def link() -> ConductorLink:
        return ConductorLink(settings, tree.child("resources"), jobs)

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
    """Run a Node until cancelled; reports a :class:`NodeHandle` once started."""
    Path(config.state_dir).mkdir(parents=True, exist_ok=True)
    tree = build_tree(config, node_ssl_context(config))
    async with trio.open_nursery() as nursery:
        await spawn(nursery, tree, name=f"node:{config.node_id}")
        task_status.started(NodeHandle(tree, tree.child("link")))
