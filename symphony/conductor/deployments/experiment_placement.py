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
   restart them, and the new instances start with the new values. The names of a
   process restarted that way move nothing (no restarts chasing round a cycle).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from symphony.spec import ExperimentRole
from symphony.wire import StartInstance

from ..nodes.model import NodeView
from ..placement import ClusterState, Placement, Plan, Unplaced
from .addresses import Addresses, PortTaken, network_of
from .gangs import Gangs
from .messages import AdoptReservation, PlacementRequest


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
        # gang -> names bound by the processes it restarts to reconnect (not moves)
        self._restarting: dict[str, set[str]] = {}

    def node_seen(self, view: NodeView) -> None:
        self.addresses.node_seen(view)

    def released(self, instance_id: str) -> None:
        self.gangs.released(instance_id)
        self.addresses.release(instance_id)
        self._roles.pop(instance_id, None)

    def adopted(self, item: AdoptReservation) -> None:
        if item.gang is None or item.deployment_id is None:
            return
        self.gangs.placed(item.gang, item.instance_id, item.deployment_id)
        self.addresses.adopt(item.gang, item.instance_id, item.node_id, item.ports)
        if item.role is not None:
            self._roles[item.instance_id] = (item.gang, item.role)

    def plan(
        self, cluster: ClusterState, gang: str, requests: list[PlacementRequest]
    ) -> GangOutcome:
        """Plan the queued members of ``gang`` (see the module docstring)."""
        members = [r.pending for r in requests]
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
                    ports[placement.instance_id] = self.addresses.allocate(
                        gang, placement.instance_id, placement.node_id, role
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
            gang, self._moved(gang, ports, before), {p.instance_id for p in plan.placements}
        )
        return outcome

    def _moved(
        self,
        gang: str,
        ports: dict[str, dict[str, int]],
        before: dict[str, tuple[str, int]],
    ) -> set[str]:
        """The names allocated now at another address (node or port) than the one the
        peers were given: off a lost or drained node, or past a port the node refused.

        A name bound by a process that was restarted to reconnect is not counted: that
        restart is ours, and counting it would let restarts chase each other round a
        cycle of connects."""
        ours = self._restarting.get(gang, set())
        after = self.addresses.last_places(gang)
        placed = {name for got in ports.values() for name in got}
        moved = {n for n in placed if n in before and before[n] != after[n] and n not in ours}
        ours -= placed  # a later plan of the gang may place them, not necessarily this one
        if not ours:
            self._restarting.pop(gang, None)
        return moved

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
        self._roles[placement.instance_id] = (gang, role)
        env = self.addresses.environment(gang, role)
        outcome.starts[placement.instance_id] = with_env(request.start, env)
        outcome.network[placement.instance_id] = network_of(
            ports.get(placement.instance_id, {}), env
        )

    def _reconnects(self, gang: str, moved: set[str], placed_now: set[str]) -> list[str]:
        """Running members (not placed now) that connect to a name that moved; the names
        they bind or expose are remembered, so that their new places move nothing."""
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
        ours = self._restarting.setdefault(gang, set())
        for instance_id in restart:
            role = self._roles[instance_id][1]
            ours.update(role.binds, role.exposes)
        return restart


def _unplaced(members: list[Any], reason: str) -> list[Unplaced]:
    return [Unplaced(m.instance_id, m.deployment_id, reason) for m in members]
