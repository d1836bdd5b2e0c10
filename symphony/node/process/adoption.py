"""What the monitor's runs mean for each instance an earlier agent left: the adoption plan.

A new agent (or the agent with a new monitor) knows two things: the instance records
saved on disk (what it was asked to run) and the monitor's runs, as its ``hello`` lists
them (what actually ran, each ``live`` or ``ended``). An instance may have several runs:
a job that crashed and was restarted while nobody listened leaves one ended run per
restart, and at most one live run (two only if a restart raced a monitor's death).

For one instance, its runs sorted by start time split into (see :class:`InstanceRuns`):

- **history**: ended runs older than the latest run. Each is reported (``exited``, as
  ``adopted``) so that the Conductor records every exit, then acknowledged so that the
  monitor forgets it;
- **superseded**: live runs older than the latest live one. Only one run per instance
  may run on, so these get SIGKILL;
- **live**: the latest live run, which the new supervisor watches (adopted, not
  restarted), or else **ended**: the latest ended run, whose end the new supervisor
  reports (and then restarts by its policy).

An instance with neither is one whose job was waiting out a restart's backoff, or was
settled (its record's ``final_state``) before the agent went. Runs that no record owns
belong to instances stopped meanwhile: they are ended (see ``ProcessManager.adopt``).

:func:`take_over` carries the plan out through the manager's public interface (see
:mod:`.instancehost`): ``hosts``, ``adopt_instance`` (which also knows whether a stop
of the instance is under way), ``emit`` and ``note_ended``.

Example::

    runs = runs_by_instance(hello["runs"])
    plan = InstanceRuns.split(runs.pop("web-0", []))
    plan.live, [r["run_id"] for r in plan.history]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

from .client import MonitorLost
from .devices import run_devices
from .ended import ended_at
from .localstate import SavedInstance
from .records import FINAL_STATES, StartRequest, StatusUpdate, signal_name

if TYPE_CHECKING:
    from .manager import ProcessManager

Run = dict[str, Any]  # one run as the monitor's ``hello`` lists it


def runs_by_instance(runs: object) -> dict[str, list[Run]]:
    """The monitor's runs (its ``hello`` reply's ``runs``) grouped by instance.

    Raises MonitorLost if they are not a list of runs with what the adoption reads of
    each (only a monitor of another version, or a bug, sends that): the monitor is
    then one this agent cannot work with, and the owner tries again as for any loss.
    """
    if not isinstance(runs, list):
        raise MonitorLost(f"the node monitor sent no list of runs: {str(runs)[:200]}")
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        if not _readable(run):
            raise MonitorLost(f"the node monitor listed a run this agent cannot read: {run!r:.200}")
        grouped.setdefault(run["instance_id"], []).append(run)
    return grouped


def _readable(run: object) -> TypeGuard[Run]:
    return (
        isinstance(run, dict)
        and all(isinstance(run.get(key), str) for key in ("instance_id", "run_id", "state"))
        and _is_time(run.get("started_at"))
        and (run.get("ended_at") is None or _is_time(run.get("ended_at")))
    )


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class InstanceRuns:
    """One instance's runs, split by what the adoption does with each (module docstring)."""

    history: list[Run]
    superseded: list[Run]
    live: Run | None
    ended: Run | None

    @classmethod
    def split(cls, runs: Iterable[Run]) -> InstanceRuns:
        """Split one instance's runs (in any order)."""
        mine = sorted(runs, key=lambda r: r["started_at"])
        live = [r for r in mine if r["state"] != "ended"]
        ended = [r for r in mine if r["state"] == "ended"]
        return cls(
            history=ended if live else ended[:-1],
            superseded=live[:-1],
            live=live[-1] if live else None,
            ended=None if live or not ended else ended[-1],
        )


def history_update(request: StartRequest, run: Run) -> StatusUpdate:
    """The report of a run that ended before the instance's latest run began."""
    return StatusUpdate(
        instance_id=request.instance_id,
        deployment_id=request.deployment_id,
        state="exited",
        at=run.get("ended_at") or 0.0,
        run_id=run["run_id"],
        exit_code=run.get("exit_code"),
        signal=signal_name(run.get("signal")),
        runtime=(run.get("ended_at") or run["started_at"]) - run["started_at"],
        reason=run.get("reason"),
        adopted=True,
    )


async def take_over(manager: ProcessManager, records: Iterable[SavedInstance]) -> None:
    """Adopt the instances of ``records`` by their runs (see the module docstring and
    ``ProcessManager.adopt``); runs that no record owns are ended."""
    runs = runs_by_instance((await manager.client.request("hello")).get("runs"))
    for saved in records:
        request = saved.request
        if manager.hosts(request.instance_id):
            continue
        spec = request.spec
        plan = InstanceRuns.split(runs.pop(request.instance_id, []))
        for run in plan.history:  # ended before the latest run began: report, then forget
            manager.client.remember_ended(run)
            manager.emit(history_update(request, run))
            await manager.client.ack(run["run_id"])
        outcome = saved.outcome  # the last exit and the restarts so far
        if plan.live or plan.ended or saved.final_state not in FINAL_STATES:
            # Its devices before anything new can take them: those of its live run's
            # record if it has one (what the job was started with), else its own.
            recorded = run_devices(plan.live) if plan.live else None
            held = manager.devices.hold(request.instance_id, recorded or request.devices)
            request = dataclasses.replace(request, devices=held)
        for run in plan.superseded:  # one run per instance: an older one must not run on
            await manager.client.request("signal", run_id=run["run_id"], signal=9)
        if plan.live:
            await manager.adopt_instance(request, spec, adopt_live=plan.live, outcome=outcome)
        elif plan.ended:
            manager.client.remember_ended(plan.ended)
            await manager.adopt_instance(request, spec, adopt_ended=plan.ended, outcome=outcome)
        elif saved.final_state in FINAL_STATES:
            await manager.adopt_instance(request, spec, settled=saved.final_state, outcome=outcome)
            if saved.final_state != "stopped":
                # Kept until the Conductor has its end (see ``ended``).
                manager.note_ended(request.instance_id, ended_at(outcome))
        else:  # it was waiting to restart when the agent died: it starts anew
            await manager.adopt_instance(request, spec, outcome=outcome)
    for orphaned in runs.values():  # runs of instances stopped meanwhile: end them
        for run in orphaned:
            if run["state"] == "ended":
                await manager.client.ack(run["run_id"])
            else:
                await manager.client.request("signal", run_id=run["run_id"], signal=9)
