"""Deployments as rows of values: what ``GET /deployments?view=rows`` answers.

A table of thousands of deployments (``symphony ps``) needs their summaries, but not
each one's keys over again: as rows, a listing of 10,000 decodes in well under half the
time of the same summaries as objects. Values are looked up by column name, once::

    rows = client.deployment_rows()
    name, state = rows.index("name"), rows.index("state")
    for row in rows.rows:
        print(row[name], row[state])

The ``instances`` column holds each deployment's instances as rows of their own, in the
order of :attr:`DeploymentRows.instance_columns`. A column the Conductor does not send
(an older one) has no index: :meth:`~DeploymentRows.index` answers ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from ._errors import ApiError

#: The column that holds a deployment's instance rows (always the last).
INSTANCES = "instances"


@dataclass
class DeploymentRows:
    """Deployment summaries as rows; ``rows[i][index("name")]`` is a name."""

    #: What each value of a deployment's row is; the last is :data:`INSTANCES`.
    columns: tuple[str, ...] = (INSTANCES,)
    #: What each value of an instance's row is.
    instance_columns: tuple[str, ...] = ()
    rows: list[list[Any]] = field(default_factory=list)

    def index(self, column: str) -> int | None:
        """Where ``column`` is in a deployment's row (``None``: not sent)."""
        return self.columns.index(column) if column in self.columns else None

    def instance_index(self, column: str) -> int | None:
        """Where ``column`` is in an instance's row (``None``: not sent)."""
        return self.instance_columns.index(column) if column in self.instance_columns else None

    def summaries(self) -> list[dict[str, Any]]:
        """The rows as the objects ``list_deployments(summary=True)`` returns."""
        fields, inner = self.columns[:-1], self.instance_columns
        return [
            {
                **dict(zip(fields, row, strict=False)),
                INSTANCES: [dict(zip(inner, inst, strict=True)) for inst in row[-1]],
            }
            for row in self.rows
        ]

    @classmethod
    def of_summaries(cls, summaries: Iterable[dict[str, Any]]) -> DeploymentRows:
        """Rows of summaries already decoded as objects (from a Conductor that has no
        rows view): the columns are the keys the summaries have."""
        items = list(summaries)
        fields = _keys(items, exclude=INSTANCES)
        inner = _keys([inst for item in items for inst in item.get(INSTANCES) or []])
        rows = [
            [
                *(item.get(key) for key in fields),
                [[inst.get(key) for key in inner] for inst in item.get(INSTANCES) or []],
            ]
            for item in items
        ]
        return cls((*fields, INSTANCES), inner, rows)

    def add_page(self, answer: dict[str, Any]) -> None:
        """Append one page of a rows answer (checked: a malformed one is an
        :class:`ApiError`); a page whose columns differ (the Conductor was upgraded
        between two pages) is put in the first page's order."""
        columns, inner, rows = _checked_page(answer)
        if not self.rows and self.columns == (INSTANCES,):
            self.columns, self.instance_columns = columns, inner
        if (columns, inner) != (self.columns, self.instance_columns):
            rows = [self._reordered(row, columns, inner) for row in rows]
        self.rows += rows

    def _reordered(
        self, row: list[Any], columns: tuple[str, ...], inner: tuple[str, ...]
    ) -> list[Any]:
        values = dict(zip(columns, row, strict=True))
        instances = [dict(zip(inner, inst, strict=True)) for inst in row[-1]]
        return [
            *(values.get(key) for key in self.columns[:-1]),
            [[inst.get(key) for key in self.instance_columns] for inst in instances],
        ]


def _keys(items: list[dict[str, Any]], *, exclude: str = "") -> tuple[str, ...]:
    """Every key of ``items``, in the order first seen."""
    seen: dict[str, None] = {}
    for item in items:
        seen.update(dict.fromkeys(item))
    seen.pop(exclude, None)
    return tuple(seen)


def _checked_page(answer: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], list[Any]]:
    """The columns, instance columns and rows of one page, each checked for shape."""
    columns, inner, rows = (answer.get(k) for k in ("columns", "instance_columns", "deployments"))
    if not _names(columns) or columns[-1] != INSTANCES or not _names(inner):
        raise ApiError(200, "unexpected answer", "no columns ending with 'instances'")
    width, inner_width = len(columns), len(inner)
    if not isinstance(rows, list) or not all(
        type(row) is list
        and len(row) == width
        and type(row[-1]) is list
        and all(type(inst) is list and len(inst) == inner_width for inst in row[-1])
        for row in rows
    ):
        raise ApiError(200, "unexpected answer", f"a row is not {width} values")
    return tuple(columns), tuple(inner), rows


def _names(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
