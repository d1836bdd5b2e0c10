"""The query of ``GET /deployments/{id}/logs`` (see :mod:`.models`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from .models_base import _Query
from .since import parse_since

#: The most log lines one request may ask for.
MAX_TAIL = 100_000


def _since_ns(value: str | None) -> str | None:
    if value is not None:
        parse_since(value)  # refuse a bad one now, as a 400 that says what is accepted
    return value


class LogsQuery(_Query):
    """``GET /deployments/{id_or_name}/logs``."""

    tail: Annotated[
        int | None,
        Field(
            ge=0,
            le=MAX_TAIL,
            description=f"Lines from the end (default 100; with since, up to {MAX_TAIL})",
        ),
    ] = None
    follow: Annotated[bool, Field(description="Keep streaming new lines")] = False
    instance: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=253,
            description="Instance id or replica number (default: first live, else latest)",
        ),
    ] = None
    stream: Annotated[Literal["stdout", "stderr"], Field(description="Which stream")] = "stdout"
    since: Annotated[
        str | None,
        Field(
            max_length=64,
            description="Only lines that arrived since: a duration back from now (10m,"
            " 1h30m, 2d) or an RFC 3339 time",
        ),
        AfterValidator(_since_ns),
    ] = None
    timestamps: Annotated[
        bool, Field(description="Start each line with its arrival time (RFC 3339, UTC)")
    ] = False

    @field_validator("follow", "timestamps", mode="before")
    @classmethod
    def _bare_flag(cls, value: Any) -> Any:
        return True if value == "" else value  # a bare ``?follow`` asks for it

    def since_ns(self) -> int | None:
        """``since`` as nanoseconds since the epoch (None: every line)."""
        return None if self.since is None else parse_since(self.since)

    def lines(self) -> int:
        """The tail asked for: 100 by default, every line since ``since`` up to MAX_TAIL."""
        if self.tail is not None:
            return self.tail
        return 100 if self.since is None else MAX_TAIL
