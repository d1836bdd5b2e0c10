"""Which version a changed spec is: the same (only non-template fields changed), a kept
one (its template is back: a rollback), or a new one (the highest number + 1).

A version is a template, what shapes the processes (see ``instances.template``):
scaling, stopping and starting, and changes of ``update`` itself make none. A rolling
restart is the one exception: a new version of the same template (as ``kubectl rollout
restart`` makes a new revision), so that its instances are the new ones of a roll.
"""

from __future__ import annotations

from collections.abc import Iterable

from symphony.spec import DeploymentSpec
from symphony.wire.states import is_live

from ..store import DeploymentRecord, InstanceRecord, Store, VersionRecord
from .instances import template
from .roll import RESTART_REASON, with_template


def version_of(store: Store, record: DeploymentRecord, spec: DeploymentSpec) -> int | None:
    """The version ``spec`` is, or None if it is the deployment's current one."""
    wanted = template(spec)
    if wanted == template(record.spec):
        return None
    kept = store.list_versions(record.id)
    same = next((v.version for v in kept if template(v.spec) == wanted), None)
    if same is not None:
        return same
    return next_version(record, kept)


def next_version(record: DeploymentRecord, kept: list[VersionRecord]) -> int:
    """The number a new version of the deployment gets: the highest so far + 1 (a
    rolling restart makes one of the same template, see ``restarting.py``)."""
    return max([record.version, *(v.version for v in kept)]) + 1


def rollback_target(
    versions: list[VersionRecord], current: int, version: int | None
) -> VersionRecord | str:
    """The version to go back to (``None``: the most recently current good one: after a
    reverted roll the one before is the failed one, after a superseded roll one that
    never finished rolling out), or why there is none."""
    if version is None:
        before = [v for v in versions if v.version != current]
        if not before:
            return "there is no earlier version to go back to"
        good = [v for v in before if v.status == "good"]
        if good:
            return good[0]
        said = ", ".join(f"{v.version} {v.status}" for v in before)
        return f"no earlier version kept is good ({said}): name one to go back to it anyway"
    if version == current:
        return f"version {version} is the current one"
    found = next((v for v in versions if v.version == version), None)
    if found is None:
        kept = ", ".join(str(v.version) for v in sorted(versions, key=lambda v: v.version))
        return f"version {version} is not kept (kept: {kept})"
    return found


def restart_copy(record: DeploymentRecord, target: VersionRecord) -> int | None:
    """The version a rollback to ``target`` forgets (None: none): a rolling restart's,
    ended by going back to the template it restarted. Kept, it would be what a second
    rollback picks (the same template again), not the one before."""
    restarting = (record.roll_reason or "").startswith(RESTART_REASON)
    if restarting and template(target.spec) == template(record.spec):
        return record.version
    return None


def rolled_back(record: DeploymentRecord, target: VersionRecord) -> DeploymentSpec:
    """The deployment's spec with the template of ``target``."""
    return with_template(record.spec, target.spec)


def version_news(version: int, instances: Iterable[InstanceRecord], wanted: int) -> str:
    """What becoming the current ``version`` does to the instances, for its event: those
    already running it are kept (going back to a version after a failed roll keeps the
    ones that never stopped), those of other versions are replaced (or only stopped,
    when the kept ones are enough), the replicas missing start.

    >>> version_news(2, [], 3)
    'version 2: 3 instance(s) will start'
    """
    live = [i for i in instances if is_live(i.state)]
    kept = sum(1 for i in live if i.version == version)
    others = len(live) - kept
    start = max(0, wanted - kept)
    said = []
    if kept:
        said.append(f"{kept} instance(s) running it kept")
    if others:
        what = "replaced" if start else "stopped"
        said.append(f"{others} instance(s) of other versions will be {what}")
    elif start:
        said.append(f"{start} instance(s) will start")
    return f"version {version}: " + (", ".join(said) or "no instances to change")
