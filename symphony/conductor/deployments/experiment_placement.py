"""The Scheduler's part for experiments: gangs, ports, the SYMPH_* environment, moves.

:class:`ExperimentPlacer` is plain state owned by the Scheduler actor (no I/O, no
sends): the Scheduler asks it to plan a gang and acts on the answer. Planning a gang:

1. wait until every process of the experiment has asked (:class:`~.gangs.Gangs`);
2. place the queued members whole or not at all (``ClusterState.schedule_gang``);
3. allocate each member's ports on its node (:class:`~.addresses.Addresses`); a fixed
   port taken there undoes the whole plan (nothing stays reserved) with that reason;
4. give each member's start command the experiment's SYMPH_* environment;
5. if a name moved (its process was placed again at another node or port than the
   peers were given: its node was lost or drained, or refused the port), name the
   running members that connect to it with ``reconnect: restart``: their owners
   restart them, and the new instances start with the new values.

A process placed again keeps its names' ports on its node when they are free there
(:meth:`~.addresses.Addresses.allocate`), and a process restarted to reconnect prefers
the node it ran on (every other node is "avoided": used only if its own cannot take
it). Its stop freed both, so such a restart lands back where its peers have it and
moves nothing: in a chain (c connects to b, b to a) a move of a restarts b, and c keeps
the right address. Should it land elsewhere all the same (its node filled or drained
meanwhile), it did move, and those connecting to it are restarted in turn. Restarts
therefore chase round a cycle of connects only while the cluster keeps taking their
places away; once one lands back, the chase ends.

A restart its owner does not carry out (the instance was stopping or had ended by then)
is called off (:meth:`ExperimentPlacer.not_restarted`): the next placement of that
process is like any other. Once nothing of a gang holds
capacity (deleted, stopped) the placer forgets its addresses and restarts, so an
experiment created again under the name starts afresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from symphony.spec import ExperimentRole
from symphony.wire import StartInstance

from ..nodes.model import NodeView
from ..placement import ClusterState, PendingInstance, Placement, Plan, Unplaced
from .addresses import Addresses, PortTaken, network_of
from .gangs import Gangs
from .messages import AdoptReservation, LastPlace, PlacementRequest


@dataclass(slots=True)
class GangOutcome:
    """What the Scheduler does after planning one gang."""

    plan: Plan
    starts: dict[str, StartInstance] = field(default_factory=dict)  # with SYMPH_* env
    network: dict[str, dict[str, Any]] = field(default_factory=dict)  # for Placed
    reconnect: list[str] = field(default_factory=list)  # running instances to restart


def with_env(start: StartInstance, env: Mapping[str, str]) -> StartInstance:
    """``start`` with ``env`` added to its process's environment (ours win)."""
    config = start.spec.config
    spec = replace(start.spec, config=replace(config, env={**config.env, **env}))
    return replace(start, spec=spec)


class ExperimentPlacer:
    """Gang book, addresses and the roles of placed members; see the module docstring."""

    def __init__(self) -> None:
        self.gangs = Gangs()
        self.addresses = Addresses()
        self._roles: dict[str, tuple[str, ExperimentRole]] = {}  # placed instance -> gang, role
        # gang -> process restarted to reconnect -> the node it ran on (it goes back)
        self._restarting: dict[str, dict[str, str]] = {}
        # instance asked to restart -> its gang and process (to call the restart off)
        self._asked: dict[str, tuple[str, str]] = {}

    def node_seen(self, view: NodeView) -> None:
        self.addresses.node_seen(view)

    def released(self, instance_id: str) -> None:
        idle = self.gangs.released(instance_id)
        self.addresses.release(instance_id)
        self._roles.pop(instance_id, None)
        if idle is not None:
            # Nothing of it runs: no peer holds its addresses, and a restart not carried
            # out (the experiment was deleted or stopped first) must not steer the next
            # placement, nor leak into an experiment created again under its name.
            self.addresses.forget(idle)
            self._restarting.pop(idle, None)
            self._asked = {i: gp for i, gp in self._asked.items() if gp[0] != idle}

    def not_restarted(self, instance_ids: Iterable[str]) -> None:
        """Their owners did not restart these (already stopping, or ended): whatever
        places that process next does not go back to the node it ran on."""
        for instance_id in instance_ids:
            asked = self._asked.pop(instance_id, None)
            if asked is not None:
                self._home_reached(*asked)

    def _home_reached(self, gang: str, process: str) -> None:
        """The restart of ``process`` is over (placed, or called off)."""
        restarting = self._restarting.get(gang, {})
        restarting.pop(process, None)
        if not restarting:
            self._restarting.pop(gang, None)
        self._asked = {i: gp for i, gp in self._asked.items() if gp != (gang, process)}

    def adopted(self, item: AdoptReservation) -> None:
        if item.gang is None or item.deployment_id is None:
            return
        self.gangs.placed(item.gang, item.instance_id, item.deployment_id)
        self.addresses.adopt(item.gang, item.instance_id, item.node_id, item.ports)
        if item.role is not None:
            self._roles[item.instance_id] = (item.gang, item.role)

    def recalled(self, last: LastPlace) -> None:
        """Where a process last ran, from the store (after a Conductor restart): its
        names' last places and, if it was stopped to reconnect, the node it goes back
        to. What this placer knows already (placed or adopted since) is kept."""
        self.addresses.recall(last.gang, last.node_id, last.ports)
        if last.reconnecting:
            self._restarting.setdefault(last.gang, {}).setdefault(last.process, last.node_id)

    def plan(
        self, cluster: ClusterState, gang: str, requests: list[PlacementRequest]
    ) -> GangOutcome:
        """Plan the queued members of ``gang`` (see the module docstring)."""
        members = [self._back_home(cluster, gang, r) for r in requests]
        size = max(r.gang_size for r in requests)
        missing = self.gangs.waiting_for(gang, size, members)
        if missing:
            # One wording while waiting (no count): each arrival would otherwise change
            # every queued member's reason, a store write per member per arrival.
            reason = f"experiment {gang}: waiting for all its {size} processes to be submitted"
            return GangOutcome(Plan((), tuple(_unplaced(members, reason))))
        before = self.addresses.last_places(gang)
        plan = cluster.schedule_gang(members)
        if not plan.placements:
            return GangOutcome(plan)
        by_id = {r.pending.instance_id: r for r in requests}
        ports: dict[str, dict[str, int]] = {}
        try:
            for placement in plan.placements:
                role = by_id[placement.instance_id].role
                if role is not None:
                    # Failed there (the port may be why): the next port of the range.
                    failed = placement.node_id in by_id[placement.instance_id].pending.avoid_nodes
                    ports[placement.instance_id] = self.addresses.allocate(
                        gang, placement.instance_id, placement.node_id, role, sticky=not failed
                    )
        except PortTaken as taken:
            for placement in plan.placements:
                cluster.release(placement.instance_id)
                self.addresses.release(placement.instance_id)
            self.addresses.restore_last(gang, before)  # else a retry there is no move
            return GangOutcome(Plan((), tuple(_unplaced(members, f"experiment {gang}: {taken}"))))
        outcome = GangOutcome(plan)
        for placement in plan.placements:
            self._placed(gang, placement, by_id[placement.instance_id], ports, outcome)
        outcome.reconnect = self._reconnects(
            cluster,
            gang,
            self._moved(gang, ports, before),
            {p.instance_id for p in plan.placements},
        )
        return outcome

    def _moved(
        self,
        gang: str,
        ports: dict[str, dict[str, int]],
        before: dict[str, tuple[str, int]],
    ) -> set[str]:
        """The names allocated now at another address (node or port) than the one the
        peers were given: off a lost or drained node, past a port the node refused, or
        a restart to reconnect that could not land back (see the module docstring)."""
        after = self.addresses.last_places(gang)
        placed = {name for got in ports.values() for name in got}
        return {n for n in placed if n in before and before[n] != after[n]}

    def _back_home(
        self, cluster: ClusterState, gang: str, request: PlacementRequest
    ) -> PendingInstance:
        """What placement is asked for ``request``: a process restarted to reconnect
        avoids every node but the one it ran on (unless it failed there)."""
        pending = request.pending
        home = self._restarting.get(gang, {}).get(request.role.process) if request.role else None
        if home is None or home in pending.avoid_nodes or not cluster.ledger.has_node(home):
            return pending
        others = frozenset(cluster.ledger.node_ids()) - {home}
        return replace(pending, avoid_nodes=pending.avoid_nodes | others)

    def _placed(
        self,
        gang: str,
        placement: Placement,
        request: PlacementRequest,
        ports: dict[str, dict[str, int]],
        outcome: GangOutcome,
    ) -> None:
        self.gangs.placed(gang, placement.instance_id, placement.deployment_id)
        role = request.role
        if role is None:
            return
        if role.process in self._restarting.get(gang, {}):
            self._home_reached(gang, role.process)  # back (or not): it goes home no more
        self._roles[placement.instance_id] = (gang, role)
        env = self.addresses.environment(gang, role)
        outcome.starts[placement.instance_id] = with_env(request.start, env)
        outcome.network[placement.instance_id] = network_of(
            ports.get(placement.instance_id, {}), env
        )

    def _reconnects(
        self, cluster: ClusterState, gang: str, moved: set[str], placed_now: set[str]
    ) -> list[str]:
        """Running members (not placed now) that connect to a name that moved; the
        node each runs on is remembered, so that its new instance goes back there."""
        if not moved:
            return []
        restart = sorted(
            instance_id
            for instance_id, (their_gang, role) in self._roles.items()
            if their_gang == gang
            and instance_id not in placed_now
            and role.reconnect == "restart"
            and moved & set(role.connects)
        )
        for instance_id in restart:
            held = cluster.ledger.reservation(instance_id)
            if held is not None:
                role = self._roles[instance_id][1]
                self._restarting.setdefault(gang, {})[role.process] = held.node_id
                self._asked[instance_id] = (gang, role.process)
        return restart


def _unplaced(members: list[Any], reason: str) -> list[Unplaced]:
    return [Unplaced(m.instance_id, m.deployment_id, reason) for m in members]
