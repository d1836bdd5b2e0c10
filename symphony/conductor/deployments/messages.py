"""Messages between the Scheduler, the Deployments manager and DeploymentSupervisors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from symphony.actors import ActorRef
from symphony.wire import InstanceStatus, StartInstance

from ..placement import PendingInstance

if TYPE_CHECKING:
    from symphony.spec import DeploymentSpec, ExperimentRole

    from ..nodes.window import StatusWindow
    from ..store import DeploymentRecord, InstanceRecord

# ---- to the Scheduler ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """One instance to place, and the command that starts it once placed."""

    pending: PendingInstance
    start: StartInstance
    gang_size: int = 1  # with ``pending.gang``: how many processes the experiment has
    role: ExperimentRole | None = None  # an experiment's process: its names and group
    #: The reason its owner has stored for it waiting: the Scheduler tells the owner a
    #: reason only when it differs (a first instance stored with its foreseen reason).
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PlaceInstances:
    """Queue instances for placement; ``owner`` is told :class:`Placed` / :class:`Unplaceable`."""

    requests: tuple[PlacementRequest, ...]
    owner: ActorRef


@dataclass(frozen=True, slots=True)
class NotRestarted:
    """Told to the Scheduler by a DeploymentSupervisor: instances it was told to restart
    to reconnect (``PlacementNews.reconnect``) that it did not restart (already stopping,
    or ended), so their processes' next placements do not go back to their nodes."""

    instance_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlaceGroup:
    """Several owners' :class:`PlaceInstances` at once (the first placements of the
    deployments created together), planned in one pass: every owner hears back in the
    same moment, so their saves of what they hear share one transaction."""

    items: tuple[PlaceInstances, ...]


@dataclass(frozen=True, slots=True)
class ForeseeReasons:
    """Ask: why each of ``pending`` would wait if placed now on its own
    (``{instance_id: reason}``, the ones that would be placed left out); no gang
    members (those are placed with their experiment, once every process asked). Plans
    without reserving or telling anyone: a new group's first instances are then stored
    with their reasons (see ``foresight.py``); their placement is asked for after the
    commit, as ever. (Placed together, some may take room others needed: those are
    told their reason then, as before.)"""

    pending: tuple[PendingInstance, ...]


@dataclass(frozen=True, slots=True)
class AdoptReservation:
    """An instance already on ``node_id`` (restored from the store, or reported by a node)."""

    instance_id: str
    node_id: str
    amounts: Mapping[str, int]
    gang: str | None = None  # the experiment of a process's instance
    deployment_id: str | None = None
    ports: Mapping[str, int] = field(default_factory=dict)  # its names' ports there
    role: ExperimentRole | None = None


@dataclass(frozen=True, slots=True)
class LastPlace:
    """Where an experiment's process last ran (its latest instance placed, live or not),
    told by its supervisor as it starts: what the Scheduler knew of it in memory before
    a Conductor restart, so that a move after one is seen as a move (see
    ``ExperimentPlacer.recalled``). Told before the supervisor's adoptions and
    placements; what the Scheduler knows already is kept."""

    gang: str
    process: str
    node_id: str
    ports: Mapping[str, int]
    #: Stopped to reconnect, its replacement not placed yet: it goes back to ``node_id``.
    reconnecting: bool = False


@dataclass(frozen=True, slots=True)
class AdoptReservations:
    """Reserve capacity for instances that already run somewhere."""

    items: tuple[AdoptReservation, ...]
    owner: ActorRef


@dataclass(frozen=True, slots=True)
class ClaimInstance:
    """Ask the Scheduler: a node reports running ``item``, an instance this Conductor
    has not recorded on any node. True (and it is reserved there) only if the
    Scheduler placed it there already (the report overtook the placement), or could
    have: the node is ready, in ``group`` (None: any), and placement would put
    ``pending`` there now (not draining, the job's tags, room; never one member of a
    gang alone); or, for a
    node not ready yet whose hello lists it, if its hello says it is in ``group`` (the
    reservation is then made when it is ready, as for one restored from the store).
    False: the node was never given it (see ``claims.py``)."""

    item: AdoptReservation
    group: str | None
    owner: ActorRef
    #: The node's groups from its hello, when the report is one: the node is not ready
    #: yet (the hello is applied first), so the Scheduler has no view of it to check.
    hello_groups: tuple[str, ...] | None = None
    #: What placement would be asked to place for it: a ready node must pass the same
    #: checks (not draining, the job's tags, room); a gang's member is not claimed on a
    #: ready node (a hello may still bring one back, as after a crash).
    pending: PendingInstance | None = None
    #: When the asker stops waiting (Trio time): a claim handled later changes nothing,
    #: since the asker has taken it as undecided (an ask that timed out stays queued).
    deadline: float = math.inf


@dataclass(frozen=True, slots=True)
class ReleaseInstances:
    """These instances ended, were stopped or deleted: forget them and free their capacity."""

    instance_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WithdrawInstances:
    """Stop trying to place these instances (their replicas are no longer wanted).

    The owner hears back for each id: ``withdrawn`` if it was still queued, else the
    ``Placed`` that was already on its way (then the owner stops it on its node).
    """

    instance_ids: tuple[str, ...]
    owner: ActorRef


@dataclass(frozen=True, slots=True)
class CapacityUsage:
    """Ask: reserved capacity per node (``{node_id: {class: amount}}``)."""


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    """Ask: counters for metrics (placements, pending, scheduling latency)."""


@dataclass(frozen=True, slots=True)
class RetryPlacements:
    """The Scheduler's own timer: plan the queue again, the last plan's placements
    having failed to be stored (see :meth:`.scheduler.Scheduler._noted`)."""


# ---- from the Scheduler to an owner -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placed:
    """``instance_id`` got capacity on ``node_id``; its start command was sent there."""

    instance_id: str
    node_id: str
    reservation: Mapping[str, int]
    network: Mapping[str, Any] = field(default_factory=dict)  # an experiment process's


@dataclass(frozen=True, slots=True)
class Unplaceable:
    """``instance_id`` fits on no node now; ``reason`` says why in actionable words."""

    instance_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReservationsLost:
    """``node_id`` was lost: these instances no longer hold capacity anywhere."""

    node_id: str
    instance_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlacementNews:
    """Everything the Scheduler has to tell one owner since its last delivery.

    The Scheduler sends it through an :class:`~symphony.conductor.fanout.LosslessFanout`, merging
    a new batch into the one still queued (:meth:`merged`); the owner applies the parts
    in this order: placed, lost, withdrawn, unplaceable.
    """

    placed: tuple[Placed, ...] = ()
    lost: tuple[ReservationsLost, ...] = ()
    withdrawn: tuple[str, ...] = ()
    unplaceable: tuple[Unplaceable, ...] = ()
    # Experiment processes to restart: a name they connect to moved (``reconnect``).
    reconnect: tuple[str, ...] = ()

    def merged(self, later: PlacementNews) -> PlacementNews:
        """One batch saying both; of several reasons for one instance the latest wins,
        and none is kept for an instance placed or withdrawn meanwhile."""
        settled = {p.instance_id for p in (*self.placed, *later.placed)}
        settled.update(self.withdrawn, later.withdrawn)
        reasons = {u.instance_id: u for u in (*self.unplaceable, *later.unplaceable)}
        return PlacementNews(
            placed=self.placed + later.placed,
            lost=self.lost + later.lost,
            withdrawn=self.withdrawn + later.withdrawn,
            unplaceable=tuple(u for i, u in reasons.items() if i not in settled),
            reconnect=self.reconnect + later.reconnect,
        )


# ---- to a DeploymentSupervisor ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeReport:
    """What a node says about this deployment's instances (``full``: its hello's list)."""

    node_id: str
    updates: tuple[InstanceStatus, ...]
    full: bool
    session: ActorRef | None
    #: The node link's count of updates on their way: settled once this was applied.
    window: StatusWindow | None = None
    #: A hello's groups (``full`` only; see ``claims.py``).
    groups: tuple[str, ...] = ()

    def settle(self) -> None:
        """Count these updates off their link's window (applied, or never will be)."""
        if self.window is not None:
            self.window.settled(len(self.updates))

    def dropped_unread(self) -> None:
        """Its supervisor stopped for good (deleted) before reading it: settle it all
        the same, or the link's count would leak (see ``nodes/window.py``)."""
        self.settle()


@dataclass(frozen=True, slots=True)
class SpecChanged:
    """The deployment's record changed in the store (spec, desired state, replicas)."""

    record: DeploymentRecord
    #: A failed deployment was started (``desired_state: running`` in the patch): its
    #: replicas start afresh, with their reschedule attempts reset (a stop then a start
    #: is one too, told apart by the supervisor; ``backlog.py`` never merges them).
    fresh_start: bool = False
    #: The change started a roll of a version (a new template, a rollback, a rolling
    #: restart): a failure of the roll before it, still waiting to be written under a
    #: newer change, is not this roll's, even when it rolls the same version again.
    new_roll: bool = False


@dataclass(frozen=True, slots=True)
class Teardown:
    """Stop every instance (reply once all are stopped or lost): the deployment is deleted."""


@dataclass(frozen=True, slots=True)
class RescheduleDue:
    """A failed replica's reschedule delay has passed."""

    replica: int
    avoid: frozenset[str]
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class RollTick:
    """A rolling update's timer: an instance may be healthy long enough by now, or
    late (see ``roll.py``)."""


@dataclass(frozen=True, slots=True)
class Promote:
    """Ask: let the roll waiting on its canaries go on (reply: the record, or a string
    saying why not)."""


# ---- to the Deployments manager (from the API) --------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateDeployment:
    """Create and start a deployment from a validated spec (reply: DeploymentRecord, or
    with ``with_instances`` a :class:`Created`)."""

    spec: DeploymentSpec
    with_instances: bool = False


@dataclass(frozen=True, slots=True)
class Created:
    """A deployment just created and the first instances stored with it: all an answer
    needs, without reading back what was just written."""

    record: DeploymentRecord
    instances: tuple[InstanceRecord, ...]


@dataclass(frozen=True, slots=True)
class CreateDeployments:
    """Create several deployments from validated specs in one transaction, all or none
    (reply: their DeploymentRecords in order, or Failed(BatchRefused))."""

    specs: tuple[DeploymentSpec, ...]


@dataclass(frozen=True, slots=True)
class UpdateDeployment:
    """Apply a merge patch to a deployment's spec (reply: DeploymentRecord)."""

    id_or_name: str
    patch: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class DeleteDeployment:
    """Stop every instance, then delete (reply: None)."""

    id_or_name: str


@dataclass(frozen=True, slots=True)
class PromoteDeployment:
    """Promote a deployment's canaries (reply: DeploymentRecord, or Failed)."""

    id_or_name: str


@dataclass(frozen=True, slots=True)
class RollbackDeployment:
    """Go back to a kept version (None: the most recently current good one)."""

    id_or_name: str
    version: int | None = None


@dataclass(frozen=True, slots=True)
class RestartDeployment:
    """Replace every instance by a new one of the same template, rolled as an update
    (reply: DeploymentRecord, or Failed; see ``restarting.py``)."""

    id_or_name: str


@dataclass(frozen=True, slots=True)
class DrainingChanged:
    """Told to each DeploymentSupervisor by the Deployments manager: the nodes being
    drained now (all of them); their replicas move elsewhere (see ``draining.py``)."""

    nodes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Caught:
    """Asked of a DeploymentSupervisor by the Deployments manager, which does nothing
    with it: answered once every message told before it was handled (reply: None).

    An undrain tells :class:`DrainingChanged` (a tell always arrives), and a hello its
    :class:`NodeReport`, and then asks this, bounded: asking the news itself would lose
    it for good when the mailbox stayed full past the bound, since an ask's timeout
    covers waiting for room too."""


# ---- from the Timetable, through the Deployments manager ----------------------------------


@dataclass(frozen=True, slots=True)
class FireRun:
    """Start a run of a scheduled deployment for cron time ``scheduled_at`` (fired at
    ``fired_at``; ``catch_up``: it makes up for a time missed, ``skipped`` others were
    passed over for it). Times are Unix seconds."""

    deployment_id: str
    scheduled_at: float
    fired_at: float
    catch_up: bool = False
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class RestartDue:
    """Restart a deployment: its ``restart_schedule`` fired (rolled, or all at once as
    its ``strategy`` says)."""

    deployment_id: str
    scheduled_at: float
    fired_at: float
    catch_up: bool = False


@dataclass(frozen=True, slots=True)
class SchedulesChanged:
    """Told (never waited for) to the Timetable: a deployment was created, changed or
    deleted, so the next due time may differ. Dropped when the mailbox is full: any
    message the Timetable handles re-reads every schedule (coalescing)."""
