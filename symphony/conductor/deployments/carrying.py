"""Which instances of an older generation a changed deployment carries over: they count
for their replicas as if made by the current generation, instead of being replaced.

Every stored change of a spec adds one to the deployment's generation, and reconciling
counts only the instances of the current generation (see ``supervisor.py``); an
instance of an older one is replaced. Most changes leave the processes as they are,
though: scaling, a change of ``update``, a rollback to the version an instance still
runs. Those instances are carried over: their generation is rewritten to the current
one. What runs another version is never carried (its processes would differ), and a
rolling restart makes a new version (of the same template) precisely so that none is.

A start (stopped to running) carries nothing over: a stop stops every instance and the
start that follows makes new ones. The store keeps the generation of the last start,
the deployment's ``fresh_generation``; an instance older than it is never carried, and
its replica's new instance waits until it has stopped (``supervisor.py``). Two ways to
get there, one rule:

- a change *told* to the supervisor (:func:`told`): it had handled every change before,
  so it knows the generation it leaves; the instances of that generation run the
  current version are carried, also those of older generations still live (going
  back to a version keeps the instances that never stopped running it);
- a supervisor *started* from the store (:func:`at_start`: it crashed, or the Conductor
  restarted) after a change was stored and before it was handled: it does not know
  which changes it missed, and ``fresh_generation`` is what tells them apart. An
  instance older than the last start is replaced even when the stop and the start
  (two ``PATCH``es, or ``symphony stop`` and ``start`` in quick succession) were both
  stored before the supervisor read them; one since is carried as a told change would
  carry it.

Only live instances are carried at start. An ended one of an older generation counts
for no replica, as before: a fresh start that a missed change asked (``symphony
start`` of a failed deployment: its failure cleared, no stop between) must run the
replicas again, and the store does not tell that change from a setting's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from symphony.wire.states import is_live

from ..store import DeploymentRecord, InstanceRecord


def told(
    record: DeploymentRecord, old_generation: int, instances: Iterable[InstanceRecord]
) -> list[InstanceRecord]:
    """The instances a told change to ``record`` carries over, rewritten; the supervisor
    handled the changes up to ``old_generation``."""
    return [
        replace(i, generation=record.generation)
        for i in instances
        if _runs_current(record, i)
        and i.generation >= record.fresh_generation
        and (i.generation == old_generation or is_live(i.state))
    ]


def at_start(record: DeploymentRecord, instances: Iterable[InstanceRecord]) -> list[InstanceRecord]:
    """The instances a supervisor started from the store carries over to ``record``,
    rewritten (see the module docstring)."""
    return [
        replace(i, generation=record.generation)
        for i in instances
        if _runs_current(record, i) and is_live(i.state) and i.generation >= record.fresh_generation
    ]


def replaced_because(record: DeploymentRecord, inst: InstanceRecord) -> str:
    """Why ``inst``, of an older generation and not carried over, is replaced."""
    if inst.version == record.version and inst.generation < record.fresh_generation:
        return "replaced: the deployment was started again"
    return "replaced by a new version of the spec"


def _runs_current(record: DeploymentRecord, inst: InstanceRecord) -> bool:
    """Whether ``inst`` runs ``record``'s version and belongs to an older generation."""
    return inst.version == record.version and inst.generation != record.generation
