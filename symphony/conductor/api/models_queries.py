"""The queries of the paged lists (see :mod:`.models`): ``GET /deployments`` with its
filters and views, and a deployment's events."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from symphony.spec import check_label_key, check_label_value
from symphony.wire.states import DeploymentState

from .models_base import _Query
from .paging import MAX_PAGE, MAX_SELECTORS, ListFilter

__all__ = ["DeploymentsQuery", "EventsQuery"]


#: The largest page of events.
MAX_LIMIT = 1000
#: Event ids are SQLite rowids (signed 64-bit).
MAX_ID = 2**63 - 1


class EventsQuery(_Query):
    """``GET /deployments/{id_or_name}/events``."""

    after: Annotated[
        int,
        Field(
            ge=0,
            le=MAX_ID,
            description="Only events with a larger id (the previous page's next_after)",
        ),
    ] = 0
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Page size")] = 100


def _label_selector(text: str) -> str:
    key, sep, value = text.partition("=")
    check_label_key(key)
    if sep:
        check_label_value(value)
    return text


class DeploymentsQuery(_Query):
    """``GET /deployments``: without any of these, every deployment (as before paging)."""

    limit: Annotated[
        int | None, Field(ge=1, le=MAX_PAGE, description="Page size (default: no paging)")
    ] = None
    cursor: Annotated[
        str | None,
        Field(max_length=512, description="Where to continue: the previous page's next_cursor"),
    ] = None
    state: Annotated[DeploymentState | None, Field(description="Only in this state")] = None
    node_group: Annotated[
        str | None, Field(min_length=1, max_length=63, description="Only in this node group")
    ] = None
    name: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=63,
            pattern=r"^[a-z0-9-]+$",
            description="Only those whose name begins with this",
        ),
    ] = None
    label: Annotated[
        list[Annotated[str, AfterValidator(_label_selector)]],
        Field(
            max_length=MAX_SELECTORS,
            description="KEY=VALUE, or KEY for any value (repeatable; all must match)",
        ),
    ] = []
    view: Annotated[
        Literal["full", "summary", "rows"],
        Field(
            description="summary: each deployment without its spec (a smaller answer); "
            "rows: the summaries as arrays of values, in the order of the answer's "
            "columns and instance_columns (the smallest answer)"
        ),
    ] = "full"

    def chosen(self) -> ListFilter:
        """The filter these parameters describe."""
        labels = []
        for text in self.label:
            key, sep, value = text.partition("=")
            labels.append((key, value if sep else None))
        return ListFilter(
            state=self.state,
            node_group=self.node_group,
            name_prefix=self.name,
            labels=tuple(labels),
        )

    def pages(self) -> bool:
        """Whether this asks for more than the plain list of everything."""
        return self.limit is not None or self.cursor is not None or self.chosen() != ListFilter()
