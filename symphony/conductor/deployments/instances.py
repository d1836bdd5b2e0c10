"""Pure helpers about instance records: state mapping, templates, ids (what states
mean is :mod:`symphony.wire.states`)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from symphony.wire import (
    InstanceStatus,
    JobSpec,
    StartInstance,
    StopInstance,
    job_spec_from_dict,
)
from symphony.wire.states import InstanceState, is_final, is_live

from ..placement import job_needs
from ..store import DeploymentRecord, InstanceRecord

if TYPE_CHECKING:
    from symphony.spec import DeploymentSpec

S = InstanceState
#: The capacity class a node's GPU devices provide (``node.gpus``).
GPU_CLASS = "gpu"
#: The states a node reports (the others are the Conductor's own). A node's ``exited``
#: that is not final (a restart may follow) is recorded as ``restarting`` (see
#: :func:`conductor_state`): the Conductor's ``exited`` always means "ended for good".
NODE_STATES = frozenset(
    {S.STARTING, S.RUNNING, S.EXITED, S.RESTARTING, S.FAILED, S.STOPPING, S.STOPPED}
)
#: Node states that always end an instance (no restart will follow on the node).
ALWAYS_FINAL = frozenset({S.FAILED, S.STOPPED})
#: States of an instance that has not run yet (when it has never been ``running``).
NOT_RUN_STATES = frozenset({S.PENDING, S.ASSIGNED, S.STARTING})
#: Spec fields that do not change the processes: changing them keeps the instances.
#: (``update`` says how a new template rolls out: changing it rolls nothing.)
NON_TEMPLATE_FIELDS = frozenset(
    {"replicas", "desired_state", "reschedule", "placement", "name", "labels", "update"}
    # When a deployment runs, not what runs: a new timetable keeps its processes.
    | {"schedule", "restart_schedule"}
)


def is_final_update(update: InstanceStatus) -> bool:
    """Whether the node will not run this instance again by itself."""
    return bool(update.final) or update.state in ALWAYS_FINAL


def ended_by_itself(update: InstanceStatus) -> bool:
    """Whether a node says that an instance ended for good there without a stop (its
    policy runs it no more): the node keeps it, to report its end in every hello, until
    told to forget it (a stop, once its end is recorded here)."""
    return is_final_update(update) and update.state in (S.EXITED, S.FAILED)


def forget_ended(instance_ids: Iterable[str]) -> list[StopInstance]:
    """The stops that let a node forget instances whose end is recorded here."""
    reason = "ended: its end is recorded by the conductor"
    return [StopInstance(instance_id=i, reason=reason) for i in dict.fromkeys(instance_ids)]


def conductor_state(update: InstanceStatus, current: InstanceState) -> InstanceState:
    """The state the Conductor records for a node's update (``current`` if the update
    names no state a node reports). A final update always lands in a final state and
    a non-final one in a live state, so that the state alone says whether the instance
    has ended (a confused node cannot make a "running" instance that holds nothing)."""
    state = InstanceState(update.state) if update.state in NODE_STATES else current
    if is_final_update(update):
        if is_live(state):
            return S.STOPPED if state == S.STOPPING else S.EXITED
        return state
    if state == S.EXITED:
        return S.RESTARTING  # the run ended; the node restarts it or says it failed
    return state


def new_instance_id(deployment_name: str, replica: int) -> str:
    """Readable and unique: ``web-0-3fa9c1`` (a new one for every incarnation)."""
    return f"{deployment_name}-{replica}-{secrets.token_hex(3)}"


def new_instance(
    record: DeploymentRecord,
    replica: int,
    updated_at: float = 0.0,
    reason: str | None = None,
) -> InstanceRecord:
    """A new incarnation of ``replica``, waiting to be placed (``updated_at``: when it is
    stored, if known now; ``reason``: why it waits, if known now)."""
    return InstanceRecord(
        id=new_instance_id(record.name, replica),
        deployment_id=record.id,
        replica=replica,
        state=S.PENDING,
        reason=reason or "waiting for a node",
        generation=record.generation,
        version=record.version,
        updated_at=updated_at,
    )


def runs_from_the_start(spec: DeploymentSpec) -> bool:
    """Whether a new deployment of ``spec`` gets its first instances at its create (not
    stopped, not on a schedule)."""
    return spec.desired_state == "running" and spec.schedule is None


def first_instances(record: DeploymentRecord, reason: str | None = None) -> list[InstanceRecord]:
    """The instances a deployment just created starts with: one per replica, stamped
    with its creation time, so they can be stored in the deployment's own transaction,
    with the ``reason`` they wait for if foreseen. None for a deployment that does not
    run from the start (stopped, or on a schedule): its supervisor decides, as it does
    on every later change."""
    spec = record.spec
    if not runs_from_the_start(spec):
        return []
    at = record.updated_at
    return [new_instance(record, replica, at, reason) for replica in range(spec.replicas)]


def template(spec: DeploymentSpec) -> dict[str, Any]:
    """The part of a spec that shapes the processes (a change means replacement)."""
    return {k: v for k, v in spec.to_dict().items() if k not in NON_TEMPLATE_FIELDS}


#: The deployment spec's fields a :class:`JobSpec` is made of (the same names).
JOB_FIELDS = {f.name for f in fields(JobSpec)}
#: Job specs kept by :func:`job_spec`, the oldest made dropped first.
JOB_SPECS_KEPT = 256
_job_specs: dict[str, JobSpec] = {}


def job_spec(spec: DeploymentSpec) -> JobSpec:
    """The typed job spec a node runs, from a validated deployment spec (which filled in
    every default). The frame compiler checks it here by the node's own rules.

    Variables that reference secrets leave ``config.env`` for ``config.secret_env``
    (names only: their values travel beside the spec, in the start message).

    Made once per job: deployments whose specs agree on :data:`JOB_FIELDS` (the name,
    replicas, placement and the like play no part) share one (a frozen message), found
    by those fields' JSON, which costs a sixth of making and checking it again."""
    try:
        key = spec.model_dump_json(include=JOB_FIELDS)
    except ValueError:  # text JSON cannot hold (a lone surrogate an older version stored)
        return _make_job_spec(spec)  # made, not kept: sending it fails for its instance
    made = _job_specs.get(key)
    if made is None:
        made = _make_job_spec(spec)  # a spec it refuses raises, and is not kept
        if len(_job_specs) >= JOB_SPECS_KEPT:
            del _job_specs[next(iter(_job_specs))]
        _job_specs[key] = made
    return made


def _make_job_spec(spec: DeploymentSpec) -> JobSpec:
    data = spec.to_dict()
    env = data["config"]["env"]
    refs = {name: value["secret"] for name, value in env.items() if isinstance(value, dict)}
    if refs:
        data["config"]["env"] = {k: v for k, v in env.items() if k not in refs}
        data["config"]["secret_env"] = refs
    return job_spec_from_dict(data)


def placement_needs(spec: DeploymentSpec) -> frozenset[str]:
    """What a node must offer besides capacity to run ``spec`` (see ``placement``)."""
    config = spec.config
    return job_needs(
        image=config.image is not None,
        git=config.git is not None,
        kind=spec.kind,
        env_name=config.env_name,
    )


def start_command(
    record: DeploymentRecord,
    inst: InstanceRecord,
    body: JobSpec,
    secrets: dict[str, str] | None = None,
) -> StartInstance:
    """The command that starts ``inst`` on its node. ``gpus`` is the instance's ``gpu``
    request: placement reserved that many, and the node picks which devices; ``secrets``
    the values of ``body.config.secret_env`` (see ``secret_delivery.py``)."""
    return StartInstance(
        instance_id=inst.id,
        deployment_id=record.id,
        deployment_name=record.name,
        replica=inst.replica,
        spec=body,
        gpus=record.spec.capacity_requests.get(GPU_CLASS) or None,
        secrets=secrets,
    )


def apply_update(instance: InstanceRecord, update: InstanceStatus) -> InstanceRecord:
    """The instance record after a node's status update (the caller saves it)."""
    state = conductor_state(update, instance.state)
    changes: dict[str, Any] = {
        "state": state,
        "restarts": update.restarts,
        "health": update.health,
        "restart_at": update.restart_at if state == S.RESTARTING else None,
    }
    if update.devices is not None:  # a node of protocol 4 says which GPUs it holds
        changes["devices"] = tuple(update.devices)
    if update.pid is not None or not is_live(state) or state == S.RESTARTING:
        changes["pid"] = update.pid if state in (S.STARTING, S.RUNNING, S.STOPPING) else None
    if update.state in (S.EXITED, S.FAILED, S.STOPPED) and (
        update.exit_code is not None or update.signal is not None
    ):
        changes["exit_code"] = update.exit_code
        changes["signal"] = _signal_name(update.signal)
    if update.reason is not None or update.state == S.RUNNING:
        changes["reason"] = update.reason
    if update.state == S.RUNNING:
        changes["started_at"] = _started_at(instance, update)
    if is_final(state):
        changes["finished_at"] = update.finished_at or update.at or time.time()
    return evolved(instance, changes)


_FIELDS: tuple[str, ...] = InstanceRecord.__slots__


def evolved(instance: InstanceRecord, changes: dict[str, Any]) -> InstanceRecord:
    """``replace(instance, **changes)`` for changes known to be valid (``state`` an
    :class:`InstanceState`): without the generic ``replace`` and the record's checks,
    which cost more than half of applying a node's update, four times per restart,
    and most of noting the Scheduler's reason for an instance no node fits."""
    evolved = object.__new__(InstanceRecord)
    for name in _FIELDS:
        object.__setattr__(
            evolved, name, changes[name] if name in changes else getattr(instance, name)
        )
    return evolved


def _started_at(instance: InstanceRecord, update: InstanceStatus) -> float:
    """When the running process started: the node says so (protocol 2). A version-1 node
    does not, so a report about the same process keeps the time already recorded (an
    agent restart must not reset the instance's age); only a new process takes the time
    of its first report."""
    if update.started_at is not None:
        return update.started_at
    same_process = instance.state == S.RUNNING and instance.pid == update.pid
    if same_process and instance.started_at is not None:
        return instance.started_at
    return update.at or time.time()


def recency(inst: InstanceRecord) -> tuple[bool, float, float]:
    """Sort key: live instances last, then by when they ended (the largest is the latest)."""
    return (is_live(inst.state), inst.finished_at or 0.0, inst.updated_at)


def replacements(
    instances: Iterable[InstanceRecord], inst: InstanceRecord
) -> tuple[list[InstanceRecord], list[InstanceRecord]]:
    """The live instances that replace ``inst``: (not run yet, run already)."""
    others = [
        i for i in instances if i.replica == inst.replica and i.id != inst.id and is_live(i.state)
    ]
    unstarted = [i for i in others if i.started_at is None and i.state in NOT_RUN_STATES]
    return unstarted, [i for i in others if i not in unstarted]


def restarts_added(before: InstanceRecord | None, after: InstanceRecord) -> int:
    """How many restarts an update reports beyond what was known (never negative: a
    node that lost count does not take restarts back from the metrics' total)."""
    return 0 if before is None else max(0, after.restarts - before.restarts)


def prunable(instances: Iterable[InstanceRecord], keep: int) -> list[str]:
    """Ids of ended instances beyond the ``keep`` most recent per replica (oldest first
    in the order given, which is the order they were recorded)."""
    ended_by_replica: dict[int, list[InstanceRecord]] = {}
    for inst in instances:
        if not is_live(inst.state):
            ended_by_replica.setdefault(inst.replica, []).append(inst)
    return [i.id for group in ended_by_replica.values() for i in group[:-keep]]


def ended(inst: InstanceRecord, state: InstanceState, reason: str | None) -> InstanceRecord:
    """``inst`` ended for good now, in ``state`` (a final one; the caller saves it)."""
    assert is_final(state), state
    return replace(
        inst, state=state, reason=reason, pid=None, restart_at=None, finished_at=time.time()
    )


def status_event(
    before: InstanceRecord, after: InstanceRecord, u: InstanceStatus
) -> tuple[str, str, dict[str, Any]] | None:
    """The event (kind, message, data) a node's update is worth, if any."""
    if u.state == S.STARTING and u.reason:
        # The node is putting the job's code in place (downloading, unpacking, cloning).
        return "preparing", f"{after.id}: {u.reason}", {}
    if u.state == S.RUNNING and before.state != S.RUNNING:
        return "started", f"{after.id} running on {after.node_id} (pid {after.pid})", {}
    if u.state == S.EXITED and before.state != S.EXITED:
        # A node reports a run's end ("exited") and, when no restart follows, that the
        # instance settled ("exited" again, final): one exit, one event.
        how = f"signal {after.signal}" if after.signal else f"code {after.exit_code}"
        data = {"exit_code": after.exit_code, "signal": after.signal}
        # Why, when the node knows: a failed health check, an exit status it could not
        # know, a container runtime's own error (its last words).
        why = f": {u.reason}" if u.reason else ""
        return "exited", f"{after.id} exited with {how}{why}", data
    if u.state == S.RESTARTING:
        when = u.restart_at - (u.at or time.time()) if u.restart_at is not None else None
        text = f"{after.id} restarting" + (f" in {max(when, 0.0):.3g} s" if when else "")
        text += f": {u.reason}" if u.reason else ""
        return "restarting", text, {"restarts": after.restarts, "restart_at": u.restart_at}
    if u.state == S.FAILED:
        return "failed", f"{after.id} failed: {after.reason}", {}
    if u.state == S.STOPPED:
        return "stopped", f"{after.id} stopped", {}
    if u.state == S.STARTING and u.reason:
        # News while a run is prepared, such as a container image's pull.
        return "starting", f"{after.id}: {u.reason}", {}
    return None


def _signal_name(signal: int | None) -> str | None:
    if signal is None:
        return None
    import signal as signals

    try:
        return signals.Signals(signal).name
    except ValueError:
        return f"SIG{signal}"
