"""Where an experiment's names are: ports allocated per node, and the SYMPH_* environment.

The Scheduler owns one :class:`Addresses`. When it places members of an experiment it
allocates, on each member's node, a port for every name the member binds or exposes:
the fixed one it asked for, else the port the name had last on that node if it is free
(a process placed again where it ran keeps its address, so its peers need not learn a
new one), else the next free one of the node's range (``node.ports``, told in the
node's hello as ``resources["network"]``). A port is never given twice on
one host (nodes that share a host share its ports); a fixed port that is taken refuses
the placement with a reason naming it.
Every member then starts with the experiment's whole map as environment variables::

    SYMPH_REPLAY_SERVER_HOST=10.0.0.7  SYMPH_REPLAY_SERVER_PORT=20000
    SYMPH_REPLAY_SERVER_ADDR=10.0.0.7:20000
    SYMPH_EXPERIMENT=rl  SYMPH_PROCESS=agent-0  SYMPH_PROCESS_GROUP=agents-0

A node's host is its ``advertise_addr`` if it declares one, else the address its link
comes from. Plain state owned by the Scheduler actor; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from symphony.errors import SymphonyError
from symphony.spec import ExperimentRole, variable_stem

from ..nodes.model import NodeView

#: The range a node allocates from when its hello does not say (``node.ports``).
DEFAULT_RANGE = (20000, 29999)


class PortTaken(SymphonyError):
    """A fixed port asked for is allocated already on that node."""


@dataclass(slots=True)
class _Node:
    host: str = "127.0.0.1"
    low: int = DEFAULT_RANGE[0]
    high: int = DEFAULT_RANGE[1]
    used: dict[int, str] = field(default_factory=dict)  # port -> instance id
    cursor: int = DEFAULT_RANGE[0]  # next port to try: ports are not reused at once


def _host_of(view: NodeView) -> str:
    network = view.resources.get("network") if isinstance(view.resources, dict) else None
    advertised = network.get("advertise_addr") if isinstance(network, dict) else None
    if isinstance(advertised, str) and advertised:
        return advertised
    remote = view.remote or "127.0.0.1"
    host = remote.rsplit(":", 1)[0] if remote.count(":") == 1 or "]" in remote else remote
    return host.strip("[]")


def _range_of(view: NodeView) -> tuple[int, int]:
    network = view.resources.get("network") if isinstance(view.resources, dict) else None
    ports = network.get("ports") if isinstance(network, dict) else None
    if (
        isinstance(ports, list)
        and len(ports) == 2
        and all(isinstance(p, int) and not isinstance(p, bool) for p in ports)
        and 1 <= ports[0] <= ports[1] <= 65535
    ):
        return ports[0], ports[1]
    return DEFAULT_RANGE


class Addresses:
    """Nodes' hosts and port ranges, ports in use, and each experiment's name map."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}
        # host -> port -> instance id: nodes on one machine (several agents, a laptop
        # running two) bind in one port space, so they share one map of ports in use.
        self._by_host: dict[str, dict[int, str]] = {}
        # experiment -> name -> (node id, port, instance id)
        self._names: dict[str, dict[str, tuple[str, int, str]]] = {}
        self._held: dict[str, tuple[str, str, list[str]]] = {}  # instance -> node, gang, names
        self._last: dict[str, dict[str, tuple[str, int]]] = {}  # gang -> name -> last place

    def node_seen(self, view: NodeView) -> None:
        """A node said hello (its host and range may have changed; its ports stay)."""
        node = self._nodes.setdefault(view.node_id, _Node())
        node.host = _host_of(view)
        shared = self._by_host.setdefault(node.host, {})
        if node.used is not shared:
            shared.update(node.used)  # ports restored before the node's hello
            node.used = shared
        node.low, node.high = _range_of(view)
        node.cursor = min(max(node.cursor, node.low), node.high)

    def allocate(
        self,
        gang: str,
        instance_id: str,
        node_id: str,
        role: ExperimentRole,
        *,
        sticky: bool = True,
    ) -> dict[str, int]:
        """Ports for every name ``role`` binds or exposes, on ``node_id``.

        With ``sticky``, a name placed again on the node it was last given keeps its
        port there if nobody holds it now. The caller passes False when the process
        failed on that node: the port may be what failed (another program holds it).

        Raises :class:`PortTaken` (allocating nothing) when a fixed port is in use there,
        and :class:`PortTaken` too when the node's range has no free port left."""
        node = self._nodes.setdefault(node_id, _Node())
        wanted = {**role.binds, **role.exposes}
        for name, fixed in wanted.items():
            if fixed is not None and node.used.get(fixed, instance_id) != instance_id:
                raise PortTaken(
                    f"port {fixed} for {name!r} of process {role.process} is taken on node "
                    f"{node_id} (by {node.used[fixed]})"
                )
        got: dict[str, int] = {}
        last = self._last.get(gang, {}) if sticky else {}
        for name, fixed in wanted.items():
            port = fixed
            if port is None:
                port = _kept(node, node_id, last.get(name), set(got.values()))
            if port is None:
                port = self._free(node, set(got.values()))
            if port is None:
                for taken in got.values():
                    node.used.pop(taken, None)
                raise PortTaken(f"node {node_id} has no free port left in {node.low}-{node.high}")
            node.used[port] = instance_id
            got[name] = port
        self.adopt(gang, instance_id, node_id, got)
        return got

    def _free(self, node: _Node, also: set[int]) -> int | None:
        span = node.high - node.low + 1
        for step in range(span):
            port = node.low + (node.cursor - node.low + step) % span
            if port not in node.used and port not in also:
                node.cursor = node.low + (port - node.low + 1) % span
                return port
        return None

    def adopt(self, gang: str, instance_id: str, node_id: str, ports: Mapping[str, int]) -> None:
        """Record ports already given to an instance (placed now, or restored)."""
        node = self._nodes.setdefault(node_id, _Node())
        names = self._names.setdefault(gang, {})
        last = self._last.setdefault(gang, {})
        for name, port in ports.items():
            node.used[port] = instance_id
            names[name] = (node_id, port, instance_id)
            last[name] = (node_id, port)
        self._held[instance_id] = (node_id, gang, list(ports))

    def recall(self, gang: str, node_id: str, ports: Mapping[str, int]) -> None:
        """Where ``gang``'s names were last given, as the store has them: kept only for
        names with no place known here (holding no port: the instance may have ended)."""
        last = self._last.setdefault(gang, {})
        for name, port in ports.items():
            last.setdefault(name, (node_id, port))

    def release(self, instance_id: str) -> None:
        """The instance ended or its node was lost: its ports are free again."""
        held = self._held.pop(instance_id, None)
        if held is None:
            return
        node_id, gang, names = held
        node = self._nodes.get(node_id)
        if node is not None:
            for port in [p for p, owner in node.used.items() if owner == instance_id]:
                del node.used[port]
        where = self._names.get(gang, {})
        for name in names:
            if name in where and where[name][2] == instance_id:
                del where[name]
        if not where:
            self._names.pop(gang, None)

    def environment(self, gang: str, role: ExperimentRole) -> dict[str, str]:
        """The SYMPH_* variables of one process of ``gang``."""
        env = {
            "SYMPH_EXPERIMENT": gang,
            "SYMPH_PROCESS": role.process,
            "SYMPH_PROCESS_GROUP": role.group or "",
        }
        for name, (node_id, port, _) in sorted(self._names.get(gang, {}).items()):
            node = self._nodes.get(node_id)
            host = node.host if node is not None else "127.0.0.1"
            stem = variable_stem(name)
            env[f"SYMPH_{stem}_HOST"] = host
            env[f"SYMPH_{stem}_PORT"] = str(port)
            env[f"SYMPH_{stem}_ADDR"] = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        return env

    def forget(self, gang: str) -> None:
        """Nothing of ``gang`` runs any more: its names' last places go."""
        self._last.pop(gang, None)

    def last_places(self, gang: str) -> dict[str, tuple[str, int]]:
        """Each name of ``gang`` and where it was last given (node id, port), even if
        its instance has ended since."""
        return dict(self._last.get(gang, {}))

    def restore_last(self, gang: str, places: Mapping[str, tuple[str, int]]) -> None:
        """Put back ``gang``'s last places as :meth:`last_places` gave them: a plan undone
        gave its names to nobody, so the peers still have the old ones."""
        if places:
            self._last[gang] = dict(places)
        else:
            self._last.pop(gang, None)


def _kept(node: _Node, node_id: str, last: tuple[str, int] | None, also: set[int]) -> int | None:
    """The port a name had last on ``node_id``, if it is free there and in its range."""
    if last is None or last[0] != node_id:
        return None
    port = last[1]
    free = port not in node.used and port not in also
    return port if free and node.low <= port <= node.high else None


def network_of(ports: Mapping[str, int], env: Mapping[str, str]) -> dict[str, Any]:
    """What an instance record keeps of its network (see ``InstanceRecord.network``)."""
    return {"ports": dict(ports), "env": dict(env)}
