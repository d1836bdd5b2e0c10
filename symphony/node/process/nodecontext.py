"""NodeContext: what every instance on a node shares, handed to each supervisor.

One object per node, made by the :class:`~symphony.node.process.manager.ProcessManager`
and passed to every :class:`~symphony.node.process.supervisor.ProcessSupervisor`: where
the node keeps its state, the environment jobs start from, the secret values the
Conductor sent (in memory only), where code comes from, and the node's container
runtimes and GPU devices, and the pace of its exec health probes. A supervisor reads it;
only ``secrets`` changes in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .health import ProbePacer
from .restart import RESTART_JITTER

if TYPE_CHECKING:
    from ..sources.prepare import SourcePreparer


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeContext:
    """What every instance on a node shares."""

    state_dir: str
    node_id: str
    base_env: Mapping[str, str]
    #: The random spread of restart delays (a node setting, not part of a job's spec).
    restart_jitter: float = RESTART_JITTER
    #: Secret values by instance id, then variable: in memory only (never on disk), as
    #: the Conductor sent them; a restart of the run reuses them.
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Where jobs' code and environments come from (``config.image``, ``git``,
    #: ``env_name``); None: a node that runs only jobs without them.
    sources: SourcePreparer | None = None
    #: The container runtimes found on the node: ``{"podman": "/usr/bin/podman"}``.
    container_runtimes: Mapping[str, str] = field(default_factory=dict)
    #: The node's GPU devices (ids); a job that holds none of them must see none.
    gpus: tuple[str, ...] = ()
    #: Spaces the starts of exec health probes over all the node's instances.
    probes: ProbePacer = field(default_factory=ProbePacer)
