"""What a join token binds: the node id, groups and capacities a node joining with it
may claim, at the join and at every later hello of the certificate it got.

A binding is made when the operator creates the token (``symphony token create
--node-id gpu-7 --group gpu --capacity Analytic1=10``), stored with the token, and
copied to the node id when a node joins with it, in the same transaction that spends
the token. Each of the three parts is bound only if the token names it:

- ``node_id``: the node must join as exactly that id;
- ``groups``: every group the node offers must be one of these;
- ``capacities``: every class the node offers must be one of these, at most that much.

Offering less is allowed (a subset of the groups, a smaller amount); offering anything
else is refused with the reason, both in the join (before a certificate is issued) and
in every hello, so editing the node's configuration after joining does not widen what
it may offer. A node id that is enrolled already joins again only with a token bound
to it (:mod:`symphony.conductor.join`), and gets that token's binding in place of its
old one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from symphony.wire import ProtocolError
from symphony.wire.messages import Capacity, ClassName, GroupName, NodeId
from symphony.wire.schema import MaxLen, build

__all__ = ["JoinBinding"]


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinBinding:
    """The parts of a node's claim a token fixes; ``None`` leaves that part free."""

    node_id: NodeId | None = None
    groups: Annotated[tuple[GroupName, ...], MaxLen(256)] | None = None
    capacities: Annotated[dict[ClassName, Capacity], MaxLen(256)] | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> JoinBinding | None:
        """Validate ``{"node_id", "groups", "capacities"}`` (each optional) with the rules
        of the wire (a ``ValueError`` naming the field); None when nothing is bound."""
        try:
            binding = build(cls, dict(data), "token")
        except ProtocolError as error:
            raise ValueError(str(error)) from None
        return binding if binding.binds else None

    @property
    def binds(self) -> bool:
        """Whether any part is bound."""
        return (self.node_id, self.groups, self.capacities) != (None, None, None)

    def to_json(self) -> dict[str, Any]:
        """The bound parts only, as JSON values (the store and the API use this)."""
        out: dict[str, Any] = {}
        if self.node_id is not None:
            out["node_id"] = self.node_id
        if self.groups is not None:
            out["groups"] = list(self.groups)
        if self.capacities is not None:
            out["capacities"] = dict(self.capacities)
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> JoinBinding | None:
        """The binding stored as ``text`` (None for none)."""
        return None if text is None else cls.parse(json.loads(text))

    def refusal(
        self,
        node_id: str,
        groups: Sequence[str] | None,
        capacities: Mapping[str, int] | None,
    ) -> str | None:
        """Why a node claiming this may not, or None. ``None`` groups or capacities: not
        told (a version-2 node's join request), so not checked here."""
        if self.node_id is not None and node_id != self.node_id:
            return f"it binds node id {self.node_id!r}, not {node_id!r}"
        if self.groups is not None and groups is not None:
            extra = sorted(set(groups) - set(self.groups))
            if extra:
                allowed = ", ".join(self.groups) or "none"
                return f"it allows the groups {allowed}; not {', '.join(extra)}"
        if self.capacities is not None and capacities is not None:
            for name, amount in sorted(capacities.items()):
                allowed_amount = self.capacities.get(name)
                if allowed_amount is None:
                    shown = ", ".join(f"{k}={v}" for k, v in sorted(self.capacities.items()))
                    return f"it allows the capacities {shown or 'none'}; not {name}"
                if amount > allowed_amount:
                    return f"it allows {name}={allowed_amount}; not {name}={amount}"
        return None
