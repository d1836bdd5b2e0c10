"""The records the process layer emits: status changes and instance reports.

Every state change of an instance is one :class:`StatusUpdate` (immutable, cheap to
batch: the node's link sends them to the conductor in groups). The states:

``starting`` -> ``running`` -> ``exited`` -> ``restarting`` (``delay``) -> ``starting`` ...
and the ends: ``exited`` (the policy does not restart), ``failed`` (``reason``: restart
budget spent, or a spawn error the policy does not retry), ``stopping`` -> ``stopped``.
"""

from __future__ import annotations

import signal as _signal
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from symphony.wire import JobSpec

#: An instance's state on the node (the wire's InstanceState holds all of these).
ProcessState = Literal[
    "starting", "running", "exited", "restarting", "failed", "stopping", "stopped"
]
#: The result of an instance's health check (None: no check, or not known yet).
Health = Literal["healthy", "unhealthy"]
STATES: tuple[ProcessState, ...] = typing.get_args(ProcessState)
FINAL_STATES: tuple[ProcessState, ...] = ("exited", "failed", "stopped")


def signal_name(signum: int | None) -> str | None:
    """``9`` -> ``"SIGKILL"`` (None stays None; unknown numbers become ``"SIG<n>"``)."""
    if signum is None:
        return None
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"SIG{signum}"


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusUpdate:
    """One state change of one instance.

    ``exit_code``/``signal``/``runtime`` describe the run that just ended (on
    ``exited``, and on ``stopped`` when a run was stopped); ``delay`` is the wait before
    the next start and ``restart_at`` its end (wall clock), on ``restarting``;
    ``reason`` says why (spawn error, unhealthy, restart budget, stop request).
    ``deployment_id`` is the instance's deployment (None for an instance started without
    one). ``adopted`` marks a run found running by a restarted agent; ``health`` is
    ``healthy``/``unhealthy``/None (no check, or not yet known).
    ``final`` marks the last update of an instance's life on this node (the policy will
    not restart it, or it was stopped): an ``exited`` without it may yet be followed by
    ``restarting``. ``started_at`` is when the current run's process started (wall clock,
    from the monitor's record: it survives agent restarts), while it runs.
    """

    instance_id: str
    state: ProcessState
    at: float
    deployment_id: str | None = None
    run_id: str | None = None
    pid: int | None = None
    started_at: float | None = None
    exit_code: int | None = None
    signal: str | None = None
    runtime: float | None = None
    delay: float | None = None
    restart_at: float | None = None
    reason: str | None = None
    restarts: int = 0
    health: Health | None = None
    adopted: bool = False
    final: bool = False
    #: The GPU devices the instance holds (None: not said in this update).
    devices: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (msgpack/JSON ready)."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, kw_only=True, slots=True)
class InstanceReport:
    """What the node says about one instance right now (``list_instances``)."""

    instance_id: str
    deployment_id: str | None
    replica: int | None
    state: ProcessState
    pid: int | None
    run_id: str | None
    restarts: int
    exit_code: int | None
    signal: str | None
    reason: str | None
    health: Health | None
    cpu_percent: float
    rss_bytes: int
    started_at: float | None = None  # the running process's start (wall clock)
    finished_at: float | None = None  # when the last run ended (wall clock), once settled
    restart_at: float | None = None  # while restarting: when the next run starts (wall clock)
    devices: tuple[str, ...] = ()  # the GPU devices it holds (or held, once it has ended)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (msgpack/JSON ready)."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, kw_only=True, slots=True)
class StartRequest:
    """Run one instance of a deployment on this node.

    ``spec`` is the typed job spec as the Conductor sent it (the wire decoder checked it).
    ``gpus`` is how many GPU devices it asks for; ``devices`` the ones the node gave it
    (filled in by the node when it starts the instance, and kept in its records).
    """

    instance_id: str
    spec: JobSpec
    deployment_id: str | None = None
    replica: int | None = None
    gpus: int = 0
    devices: tuple[str, ...] = ()


def stopped_fields(
    ended: dict[str, Any] | None, *, sigkill_sent: bool, stop_timeout: float
) -> dict[str, Any]:
    """The fields of a ``stopped`` update: how the run the stop ended, ended (``ended``:
    its end record with its ``runtime``; None if no run ended, a stop during a restart's
    backoff, which has no exit to report). ``sigkill_sent``: the stop needed SIGKILL."""
    if ended is None:
        return {"reason": "stop requested"}
    code, signum = ended.get("exit_code"), ended.get("signal")
    name = signal_name(signum)
    if ended.get("reason"):  # the monitor could not know (see docs/jobs.md)
        how = ended["reason"]
    elif sigkill_sent:
        how = f"SIGKILL after the {stop_timeout:g} s stop timeout"
    elif name is not None:
        how = f"{name} within the stop timeout"
    else:
        how = f"exited with code {code} within the stop timeout"
    return {
        "reason": f"stopped: {how}",
        "exit_code": code,
        "signal": name,
        "runtime": ended.get("runtime"),
    }
