"""A rolling restart: every instance replaced by a new one of the same template, a few
at a time and health-gated, as a rolling update replaces them (``POST
/deployments/{id}/restart``, ``symphony restart``, a ``restart_schedule`` firing).

How: a new *version* of the current template (the highest number + 1, as ``kubectl
rollout restart`` makes a new revision through its ``restartedAt`` annotation), with a
new generation and the roll state ``promoted`` (no canaries: the template ran already).
The supervisor carries over only the instances of the version now current (none), so
every live instance is an old one for :mod:`.roll`, which replaces them as the spec's
``update`` says. Everything else is a rolling update's: the roll's pause, its revert
(back to the version restarted, whose instances not yet replaced run on), a rollback,
``--wait``. The roll's reason says it is a restart (:data:`.roll.RESTART_REASON`), and
its end is the event ``restarted``.

Refused (a 409, nothing changes), with what to do instead:

- a stopped deployment, or one of 0 replicas: nothing runs (start or scale it);
- a roll under way or paused: it goes on, or waits for a change (restart after it);
- a scheduled deployment (``schedule``): its runs are batch work that ends by itself,
  and each run starts new processes anyway;
- a process of an experiment: an experiment's processes are placed together and find
  each other by their addresses, so one neither rolls nor stops alone (a PATCH refuses
  its ``desired_state``, so ``symphony restart --all-at-once`` cannot either); the
  experiment is restarted whole: stopped, then started (``PATCH /experiments/{name}``,
  ``Client.update_experiment``).

A deployment that failed (its reschedules spent) starts afresh, as ``symphony start``
makes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..store import DeploymentRecord, RollConflict
from .messages import RestartDue
from .roll import PROMOTED, RESTART_REASON
from .runs import when
from .versions import next_version

if TYPE_CHECKING:
    from .manager import Deployments, Failed


def refusal(record: DeploymentRecord) -> str | None:
    """Why ``record`` cannot be restarted by a roll now (None: it can)."""
    spec, name = record.spec, record.name
    if spec.experiment is not None:
        return experiment_refusal(name, spec.experiment.process, spec.experiment.name)
    if spec.schedule is not None:
        return (
            f"deployment {name} is scheduled: its runs end by themselves and each run "
            "starts new processes; nothing to restart"
        )
    if spec.desired_state == "stopped":
        return f"deployment {name} is stopped: nothing runs to restart (start it)"
    if spec.replicas == 0:
        return f"deployment {name} has 0 replicas: nothing runs to restart (scale it)"
    return roll_refusal(record)


def roll_refusal(record: DeploymentRecord) -> str | None:
    """Why ``record`` is not restarted now because of a roll under way or paused (None:
    there is none); a scheduled restart all at once is refused so too."""
    if record.roll_state is None:
        return None
    reason = f": {record.roll_reason}" if record.roll_reason else ""
    return (
        f"deployment {record.name}: a rollout of version {record.version} is under way "
        f"({record.roll_state}{reason}); restart once it is done, or change or roll "
        "it back first"
    )


def experiment_refusal(name: str, process: str, experiment: str) -> str:
    """Why a process of an experiment is not restarted alone, and how it is restarted."""
    return (
        f"deployment {name} is process {process} of experiment {experiment}: its "
        "processes are placed together and find each other by their addresses, so one "
        "neither rolls nor restarts alone; restart the experiment: stop it, then start it "
        f'(PATCH /experiments/{experiment} {{"desired_state": "stopped"}}, then '
        '"running"; Client.update_experiment)'
    )


async def restart(
    deployments: Deployments,
    record: DeploymentRecord,
    what: str,
    kind: str = "restart-requested",
) -> DeploymentRecord | Failed:
    """Start a rolling restart of ``record`` (``what`` begins its event, of ``kind``)."""
    from .manager import Failed

    why = refusal(record)
    if why is not None:
        return Failed(RollConflict(why))
    version = next_version(record, deployments.store.list_versions(record.id))
    return await deployments.store_change(
        record,
        record.spec,
        what,
        {},
        roll_state=PROMOTED,
        reason=f"{RESTART_REASON} {record.version}",
        version=version,
        kind=kind,
    )


async def scheduled(deployments: Deployments, message: RestartDue) -> bool:
    """A ``restart_schedule`` fired: roll the deployment if its strategy says so (True:
    handled here; False: its supervisor restarts it all at once). A deployment that
    cannot roll now (a roll under way, stopped) lets the time pass, with an event."""
    from .manager import Failed

    record = deployments.store.get_deployment(message.deployment_id)
    if record is None or record.id in deployments.deleting:
        return True
    schedule = record.spec.restart_schedule
    if schedule is None or schedule.strategy != "rolling":
        return False
    if record.spec.desired_state == "stopped":
        return True  # its times pass while stopped, as for a run
    # The kind of a scheduled restart's event, whatever its strategy (the UI's runs
    # panel refreshes on it). Its time in the zone the schedule reads its cron in.
    at = when(message.scheduled_at, schedule.timezone)
    done = await restart(
        deployments, record, f"scheduled rolling restart for {at}", "restart-scheduled"
    )
    if isinstance(done, Failed):
        text = f"scheduled restart for {at} skipped: {done.error}"
        deployments.events.add(record, "restart-skipped", text)
    return True
