"""Container runtimes as capacity classes: how ``kind: docker|podman`` finds its nodes.

A node that reported a container runtime (``Hello.container_runtimes``) gets, in the
placement view only, a capacity class ``runtime:<name>`` with an amount no job can use
up (:data:`RUNTIME_AMOUNT`); an instance of that kind asks for one of it. The planner
then needs no notion of runtimes: a node without the runtime lacks the class, and the
pending reason names it (``no ready node in group g has the podman container runtime``).
The ``:`` keeps these classes apart from a user's (a spec's class names cannot hold it).

>>> runtime_requests("podman", {"A": 1})
{'A': 1, 'runtime:podman': 1}
>>> runtime_requests("exec", {"A": 1})
{'A': 1}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

PREFIX = "runtime:"
#: More than any node could run: the class says "has the runtime", never "is full".
RUNTIME_AMOUNT = 10**9
_KINDS = frozenset({"docker", "podman"})


def runtime_totals(totals: Mapping[str, int], runtimes: Iterable[str]) -> dict[str, int]:
    """A node's declared totals plus one class per container runtime it reported."""
    return {**totals, **{f"{PREFIX}{name}": RUNTIME_AMOUNT for name in runtimes}}


def runtime_requests(kind: str, requests: Mapping[str, int]) -> dict[str, int]:
    """What an instance of ``kind`` asks of a node: its requests, plus its runtime."""
    if kind not in _KINDS:
        return dict(requests)
    return {**requests, f"{PREFIX}{kind}": 1}


def runtime_of(capacity_class: str) -> str | None:
    """The runtime a class stands for (``"runtime:podman"`` -> ``"podman"``), else None."""
    return capacity_class.removeprefix(PREFIX) if capacity_class.startswith(PREFIX) else None
