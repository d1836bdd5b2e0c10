"""One shared default for a frozen part of a spec, instead of a new one per spec.

A spec's policies (placement, restart, reschedule, update) default to their own
defaults. Made by ``default_factory=RestartPolicy``, each spec that leaves them out
built and validated four models more (about a third of validating a small spec at a
create; a stored spec is read back with them all given). These models are frozen and
hold only scalars, so one instance can serve every spec: nothing can change it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def shared(model: type[M]) -> Callable[[], M]:
    """A ``default_factory`` that gives one instance of ``model`` (made at first use,
    so that importing the spec builds no model it does not need yet)."""
    made: list[M] = []

    def default() -> M:
        if not made:
            made.append(model())
        return made[0]

    return default
