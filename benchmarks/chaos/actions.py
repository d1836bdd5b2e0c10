"""Actions as plain data: ``("scale", 4, 2)`` means "scale the 4th live deployment (modulo
how many there are) to 2 replicas". Both drivers produce these tuples, the hypothesis state
machine from strategies and the long run from a seeded ``random.Random``, and
:func:`perform` applies one to the harness. A failure is thus reported as a list of small
tuples that can be replayed.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from .config import OPERATIONS

if TYPE_CHECKING:
    from .harness import Chaos

Action = tuple[object, ...]

#: Arguments of each action kind: ``index`` is any int (taken modulo the choices),
#: ``replicas`` 0-3, ``flag`` a bool, ``hold``/``downtime`` a duration from a short list.
SHAPES: dict[str, tuple[str, ...]] = {
    "create": ("replicas1",),
    "settle": (),
    "scale": ("index", "replicas"),
    "set_state": ("index", "flag"),
    "patch_spec": ("index",),
    "delete": ("index",),
    "kill_job": ("index",),
    "kill_agent": ("index", "flag"),
    "kill_monitor": ("index",),
    "freeze_node": ("index", "hold"),
    "restart_conductor": ("downtime",),
}
HOLDS = (0.0, 2.0)  # seconds a frozen node stays frozen after it was declared lost
DOWNTIMES = (0.0, 1.0)  # seconds the Conductor stays down


def perform(chaos: Chaos, action: Action) -> bool:
    """Apply one action; False when it did nothing (no target, over budget, switched off)."""
    kind, *args = action
    match kind, args:
        case "create", [int(replicas)]:
            return chaos.create(replicas)
        case "settle", []:
            chaos.settle()
            return True
        case "scale", [int(index), int(replicas)]:
            return chaos.scale(index, replicas)
        case "set_state", [int(index), bool(running)]:
            return chaos.set_state(index, running)
        case "patch_spec", [int(index)]:
            return chaos.patch_spec(index)
        case "delete", [int(index)]:
            return chaos.delete(index)
        case "kill_job", [int(index)]:
            return chaos.kill_job(index)
        case "kill_agent", [int(index), bool(past)]:
            return chaos.kill_agent(index, past_timeout=past)
        case "kill_monitor", [int(index)]:
            return chaos.kill_monitor(index)
        case "freeze_node", [int(index), float(hold)]:
            return chaos.freeze_node(index, hold=hold)
        case "restart_conductor", [float(downtime)]:
            return chaos.restart_conductor(downtime=downtime)
    raise ValueError(f"not an action: {action!r}")


def random_action(rng: random.Random, kinds: list[str]) -> Action:
    """One action of a kind drawn from ``kinds`` (repeat a kind to make it likelier)."""
    kind = rng.choice(kinds)
    values = {
        "replicas1": lambda: rng.randint(1, 3),
        "replicas": lambda: rng.randint(0, 3),
        "index": lambda: rng.randint(0, 1000),
        "flag": lambda: rng.random() < 0.5,
        "hold": lambda: rng.choice(HOLDS),
        "downtime": lambda: rng.choice(DOWNTIMES),
    }
    return (kind, *(values[arg]() for arg in SHAPES[kind]))


def action_kinds(faults: frozenset[str], *, fault_share: float = 0.4) -> list[str]:
    """The kinds a run draws from, repeated to weigh them: ``create`` twice, every other
    operation and ``settle`` once, and the enabled faults together about ``fault_share``
    of all draws (at least once each)."""
    kinds = ["create", *OPERATIONS, "settle"]
    if faults:
        weight = max(1, round(len(kinds) * fault_share / (1 - fault_share) / len(faults)))
        for fault in sorted(faults):
            kinds += [fault] * weight
    return kinds
