"""``typing.NamedTuple`` for the node monitor's modules, without importing :mod:`typing`.

The monitor lives as long as the machine's jobs and keeps every module it imported:
:mod:`typing` alone is about 0.8 MiB of it. Its modules declare their records as
usual, type-checked against the real ``typing.NamedTuple``; at run time this stand-in
builds the same class (a :func:`collections.namedtuple`, with the body's defaults,
methods and docstring)::

    TYPE_CHECKING = False  # what typing.TYPE_CHECKING is at run time
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from .lighttuple import NamedTuple

    class ProcInfo(NamedTuple):
        pid: int
        zombie: bool = False
"""

from __future__ import annotations

from collections import namedtuple

__all__ = ["NamedTuple"]


class _NamedTupleMeta(type):
    def __new__(
        mcls, name: str, bases: tuple[type, ...], namespace: dict[str, object]
    ) -> _NamedTupleMeta:
        if not bases:  # NamedTuple itself
            return super().__new__(mcls, name, bases, namespace)
        annotations = namespace.get("__annotations__", {})
        assert isinstance(annotations, dict)
        fields = tuple(str(field) for field in annotations)
        defaults = [namespace[field] for field in fields if field in namespace]
        if any(field in namespace for field in fields[: len(fields) - len(defaults)]):
            raise TypeError(f"{name}: a field without a default follows one with a default")
        base = namedtuple(name, fields, defaults=defaults)  # type: ignore[misc]
        body = {key: value for key, value in namespace.items() if key not in fields}
        return type.__new__(mcls, name, (base,), {**body, "__slots__": ()})


class NamedTuple(metaclass=_NamedTupleMeta):
    """Base class of a record: ``class Name(NamedTuple)`` with annotated fields."""
