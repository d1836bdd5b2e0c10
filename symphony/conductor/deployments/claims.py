"""A node's report of an instance that this Conductor has recorded on no node.

Two honest ways for that to happen: the Scheduler placed it there and sent the start,
and the node's report overtook the placement's news to the instance's supervisor; or
the Conductor went down after sending the start and before the placement was recorded,
and the node's hello now says it runs it. Either way the node is adopted as the
instance's home.

The second is rare now: the Scheduler stores each placement (the instance ``assigned``
to its node) before the start goes out, so a Conductor killed after a start finds the
instance on its node, adopts it there when it starts again, and the node's hello is an
ordinary report, not a claim (the supervisor's own saves of the instance before it
hears ``Placed`` keep the stored placement: the store never takes an instance from
its node back to pending). What remains is a Scheduler run with no store, or an
instance stopped while it was being placed (stored ``stopping`` on no node). A pending
instance left so is placed again as soon as a node fits: if another node says hello
first, the job starts there and the first copy is stopped when its node's hello comes.

But a node may also report an instance it was never given: any pending instance of any
deployment, in a group it is not in, asking for capacity it does not have. Adopting
that would take the instance from its deployment (it would show ``running`` there, its
placement withdrawn, while it runs nowhere). So the Scheduler decides
(:class:`~.messages.ClaimInstance`): yes if it placed the instance on that node, or if
it could have (the node is ready, in the deployment's group, and placement would put
the instance there now: not draining, the job's tags such as its environment, room,
which it then reserves; never one member of an experiment's gang alone on a ready
node); for a hello (the node is not ready yet: a hello is applied before the node is,
so the second honest case comes this way) yes if the hello says the node is in the deployment's
group, the reservation following when the node is ready; no otherwise, and the node
is told to stop it. (A node's groups in its hello are bound by its join
token, when it has one.)

Should the Scheduler not answer (busy past the ask's timeout, or restarting), the claim
is left undecided: not adopted, no stop sent; the node's next report or hello asks again.
The claim carries its asker's deadline: a timed-out ask stays in the Scheduler's
mailbox, and handled late it would reserve what the supervisor took as undecided.
The report's other claims are left undecided too, without asking: a report of 2,048
unknown instances is not 2,048 asks timing out one after the other.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import trio

from symphony.actors import ActorCrashed, ActorStopped, AskTimeout
from symphony.wire import InstanceStatus, StopInstance

from ..store import InstanceRecord
from .commands import tell_session
from .instances import is_final_update
from .messages import ClaimInstance, NodeReport
from .roles import adoption, pending_instance

if TYPE_CHECKING:
    from .supervisor import DeploymentSupervisor

log = logging.getLogger("symphony.conductor.deployments")

#: Seconds a supervisor waits for the Scheduler's answer to a claim.
CLAIM_TIMEOUT = 5.0


async def claim(
    sup: DeploymentSupervisor, inst: InstanceRecord, report: NodeReport, update: InstanceStatus
) -> InstanceRecord | None:
    """``inst`` adopted on the reporting node, or None if that node may not have it (or
    the Scheduler did not say in time: then nothing is sent, and the node's next report
    or hello asks again)."""
    if sup._claims_undecided is report:
        return None  # the Scheduler did not answer one of this report: ask again later
    requests = sup._requests()
    item = adoption(sup.record, inst.id, report.node_id, requests)
    group = sup.record.spec.node_group
    hello_groups = report.groups if report.full else None
    pending = pending_instance(sup.record.spec, sup.record.id, inst.id, frozenset())
    deadline = trio.current_time() + CLAIM_TIMEOUT
    ask = ClaimInstance(item, group, sup.ref, hello_groups, pending, deadline)
    try:
        claimed = await sup.scheduler.ask(ask, timeout=CLAIM_TIMEOUT)
    except (AskTimeout, ActorStopped, ActorCrashed) as error:
        # The Scheduler is busy or restarting (its tree restarts this supervisor too):
        # undecided is not refused, so no stop; and not this supervisor's crash.
        log.warning("claim of %s by %r undecided: %s", inst.id, report.node_id, error)
        sup._claims_undecided = report  # not one ask timing out per instance of it
        return None
    if claimed:
        return replace(inst, node_id=report.node_id, reservation=requests)
    log.warning(
        "node %r reports %s, which it was never given: not adopted", report.node_id, inst.id
    )
    if not is_final_update(update) and report.session is not None:
        stop = StopInstance(instance_id=inst.id, reason="this node was never given this instance")
        await tell_session(report.session, stop)
    return None
