"""``symphony up``: a Conductor and a local Node in one process, with zero configuration.

Everything lives in one state directory (``./.symphony`` by default)::

    .symphony/
      symphony.db        the Conductor's SQLite store
      certs/             its CA, server certificate (and the shared seed node certificate)
      api-token          the HTTP API token (written by the Conductor)
      conductor.json     where its HTTP API listens, so the CLI needs no flags
      node/              the local Node: its own certificate, job state and logs

The Conductor listens on loopback only: the node endpoint on a free port (or
``node_port``), the HTTP API and web UI on ``http_port`` (default 8000), experiments'
services for browsers on ``relay_port`` (default ``http_port`` + 1, a free one when
``http_port`` is 0: an origin apart from the web UI's). The local Node
gets its own client certificate, issued directly by the Conductor's CA in-process (its
Common Name is the node id, like any enrolled node), joins group ``local`` and offers
the machine's CPUs and GPUs as capacity classes (:func:`local_capacities`).

Embedding::

    async with trio.open_nursery() as nursery:
        info = await nursery.start(run_up, UpConfig(state_dir=Path(".symphony")))
        print(info.ui_url)

Cancelling ``run_up`` stops the jobs first, each with its stop signal and stop timeout
(while the Node can still reach its process monitor), then the Node and the Conductor
together.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from symphony.config import ConductorConfig, NodeConfig, values

if TYPE_CHECKING:
    from symphony.node import NodeHandle
    from symphony.pki import ConductorPKI

log = logging.getLogger("symphony.up")

#: The node group of the local node: deployments with ``node_group: local`` land here.
LOCAL_GROUP = "local"
#: How long stopping the local jobs (each its stop signal and stop timeout) may take
#: before what is left is killed.
JOB_STOP_TIMEOUT = 20.0
#: How long killing what is left and ending the node monitor may take after that.
MONITOR_STOP_TIMEOUT = 10.0

_NODE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class UpConfig:
    """Settings of ``symphony up``; every field has a working default.

    ``http_port``, ``relay_port`` and ``node_port`` may be 0 (a free port);
    ``relay_port`` of ``None`` is ``http_port`` + 1 (or free when ``http_port`` is 0).
    ``capacities`` of ``None`` means :func:`local_capacities`; ``node_id`` of ``None``
    means :func:`local_node_id`.
    ``gpus`` lists the local node's GPU devices (``None``: NVML finds them; see
    ``NodeConfig.gpus``). ``ports`` is where the node allocates experiments' ports
    (``None``: ``node.ports``' default, 20000-29999).
    """

    state_dir: Path = Path(".symphony")
    http_port: int = 8000
    node_port: int = 0
    node_id: str | None = None
    capacities: Mapping[str, int] | None = None
    groups: tuple[str, ...] = (LOCAL_GROUP,)
    heartbeat_sec: float = 1.0
    gpus: tuple[str, ...] | None = None
    ports: str | None = None
    relay_port: int | None = None


@dataclass(frozen=True, slots=True)
class UpInfo:
    """What a running ``symphony up`` reports once both halves are serving."""

    http_url: str
    ui_url: str
    token: str | None
    node_id: str
    node_port: int
    capacities: Mapping[str, int]
    state_dir: Path
    #: Where browsers open experiments' services (``symphony visit`` links).
    relay_url: str | None = None


def local_node_id(hostname: str | None = None) -> str:
    """A valid node id from the host name: its first label, with unusual characters
    replaced by ``-``, at most 63 characters; ``local`` if nothing usable is left.

    >>> local_node_id("GPU_box.example.org")
    'GPU_box'
    """
    name = (hostname if hostname is not None else socket.gethostname()).split(".")[0]
    name = _NODE_ID_CHARS.sub("-", name).strip("._-")[:63].rstrip("._-")
    # "node-client" is the CN of the shared seed certificate: never a node's own name.
    return name if name and name != "node-client" else "local"


def cpu_count() -> int:
    """The CPUs this process may run on (a container's or taskset's limit, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def local_capacities() -> dict[str, int]:
    """The local node's capacity classes: ``cpu`` in hundredths of a core (4 cores ->
    ``cpu: 400``, so a job asks ``cpu: 50`` for half a core). Capacities are virtual:
    nothing enforces them at run time; they keep the scheduler from placing more than
    the machine should carry. The GPUs NVML finds are added by the node itself as
    ``gpu`` (one per device, each given to one job at a time).
    """
    return {"cpu": cpu_count() * 100}


def issue_local_node_certificate(
    pki: ConductorPKI, node_id: str, directory: Path
) -> tuple[Path, Path]:
    """Issue ``node_id`` a fresh client certificate from the Conductor's CA, in-process.

    Re-issued on every start (a few milliseconds with EC keys), so a regenerated CA or a
    renamed host never leaves a stale certificate behind. Returns ``(cert, key)`` paths.
    """
    from symphony.pki import issue_node_certificate, make_node_key_and_csr, write_private_file

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_pem, csr_pem = make_node_key_and_csr(node_id)
    cert_pem = issue_node_certificate(pki.ca, csr_pem, node_id)
    cert_file, key_file = directory / "node.pem", directory / "node.key"
    for path in (cert_file, key_file):
        path.unlink(missing_ok=True)
    write_private_file(key_file, key_pem)
    write_private_file(cert_file, cert_pem)
    return cert_file, key_file


def read_token(state_dir: Path) -> str | None:
    """The API token the Conductor keeps in its state directory, if it wrote one."""
    try:
        token = (state_dir / "api-token").read_text().strip()
    except FileNotFoundError:
        return None
    return token or None


async def run_up(
    config: UpConfig = UpConfig(),  # frozen: sharing it is safe
    *,
    task_status: trio.TaskStatus[UpInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a Conductor and a local Node until cancelled; reports :class:`UpInfo`.

    Cancellation is honoured at any moment, start-up included: the jobs stop (within
    :data:`JOB_STOP_TIMEOUT`), then the Node and the Conductor.
    """
    stopping = trio.Event()
    async with trio.open_nursery() as nursery:
        # _services runs shielded (it stops its parts in order itself); this sibling is
        # not, so it is how _services hears of our cancellation, even during start-up.
        nursery.start_soon(_set_when_cancelled, stopping)
        info = await nursery.start(_services, config, stopping)
        task_status.started(info)


async def _set_when_cancelled(event: trio.Event) -> None:
    try:
        await trio.sleep_forever()
    finally:
        event.set()


async def _services(
    config: UpConfig, stopping: trio.Event, *, task_status: trio.TaskStatus[UpInfo]
) -> None:
    from symphony.conductor import run_conductor
    from symphony.conductor.service import load_pki
    from symphony.node import run_node

    state_dir = config.state_dir.absolute()
    conductor_config = ConductorConfig(
        listen_host="127.0.0.1",
        listen_port=config.node_port,
        state_dir=state_dir,
        http_host="127.0.0.1",
        http_port=config.http_port,
        relay_port=config.relay_port,
    )
    node_id = config.node_id or local_node_id()
    capacities = dict(config.capacities if config.capacities is not None else local_capacities())
    # The shield lets this task stop its children in order (jobs, then node and
    # conductor) when run_up is cancelled; `stopping` is how it hears of that, and
    # _stop_when_asked does the stopping, whether start-up has finished or not.
    started: list[NodeHandle] = []  # the node, once it has started
    jobs_dir = state_dir / "node" / "jobs"
    with trio.CancelScope(shield=True):
        async with trio.open_nursery() as services:
            services.start_soon(_stop_when_asked, stopping, started, jobs_dir, services)
            conductor = await services.start(run_conductor, conductor_config)
            pki = load_pki(conductor_config)  # the files exist now: this only loads them
            cert_file, key_file = issue_local_node_certificate(
                pki, node_id, state_dir / "node" / "certs"
            )
            node_config = NodeConfig(
                node_id=node_id,
                conductor_host="127.0.0.1",
                conductor_port=conductor.node_port,
                groups=config.groups,
                capacities_total=capacities,
                heartbeat_sec=config.heartbeat_sec,
                ca_file=pki.ca_file,
                cert_file=cert_file,
                key_file=key_file,
                state_dir=state_dir / "node",
                gpus=config.gpus,
                ports=config.ports if config.ports is not None else values.DEFAULT_PORTS,
            )
            node = await services.start(run_node, node_config)
            started.append(node)
            if node.gpus:
                capacities["gpu"] = len(node.gpus)
            token = read_token(state_dir)
            task_status.started(
                UpInfo(
                    http_url=conductor.http_url,
                    ui_url=f"{conductor.http_url}/ui" + (f"#token={token}" if token else ""),
                    token=token,
                    node_id=node_id,
                    node_port=conductor.node_port,
                    capacities=capacities,
                    state_dir=state_dir,
                    relay_url=conductor.relay_url,
                )
            )
        if not started:
            # Stopped during start-up, before the node could stop its jobs itself: a
            # node monitor it may have launched already must not outlive us. (Every
            # task of `services` has ended, so no launch is still in flight.)
            from symphony.node.process import monitor_gone, stop_monitor

            with trio.move_on_after(JOB_STOP_TIMEOUT):
                await stop_monitor(jobs_dir)
                await monitor_gone(jobs_dir)
    # Stopped during start-up: task_status was never reported, and our caller is being
    # cancelled; this checkpoint (outside the shield) hands it that cancellation.
    await trio.lowlevel.checkpoint()


async def _stop_when_asked(
    stopping: trio.Event, started: list[NodeHandle], jobs_dir: Path, services: trio.Nursery
) -> None:
    """Once ``stopping`` is set: stop the jobs (if the node is up), then everything else."""
    await stopping.wait()
    if started:
        from symphony.node.process import monitor_gone

        processes = started[0].processes
        log.info("stopping the local jobs")
        with trio.move_on_after(JOB_STOP_TIMEOUT) as scope:
            # Each job as a stop from the Conductor does it: its stop signal, its stop
            # timeout, then SIGKILL, so that jobs can save their work and exit.
            await processes.stop_instances()
        if scope.cancelled_caught:
            log.warning("the local jobs did not stop within %gs: killing them", JOB_STOP_TIMEOUT)
        with trio.move_on_after(MONITOR_STOP_TIMEOUT) as scope:
            await processes.shutdown_monitor(kill_jobs=True)  # whatever is left
            # The monitor answers "shutdown" before it has exited. A `symphony up`
            # started right after this one would find it still alive and hand it
            # new jobs, which it would then take down with it.
            await monitor_gone(jobs_dir)
        if scope.cancelled_caught:
            log.warning("the node monitor did not stop within %gs", MONITOR_STOP_TIMEOUT)
    services.cancel_scope.cancel()
