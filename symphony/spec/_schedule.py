"""Schedules in a spec: ``schedule`` (cron runs) and ``restart_schedule`` (cron restarts).

A cron expression is parsed by `cronsim <https://pypi.org/project/cronsim/>`_ (the
parser behind Healthchecks.io, with Debian cron's daylight-saving rules), and checked
when the spec is submitted: a typo is a 422 naming the field, never a schedule that
silently never fires. Time zones are IANA names read through :mod:`zoneinfo` (the
``tzdata`` package supplies them where the system has none).

    >>> Schedule.model_validate({"cron": "*/5 * * * *", "timezone": "Europe/Berlin"})
    Schedule(cron='*/5 * * * *', timezone='Europe/Berlin', concurrency='forbid', history=10)
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

#: How many runs a deployment may keep in its history.
MAX_HISTORY = 100
# Letters, digits and the few signs IANA names use ("America/Port-au-Prince",
# "Etc/GMT+3"); anything else is refused before zoneinfo sees it (it would read a path).
_ZONE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")
# Five fields of printable ASCII: minute hour day-of-month month day-of-week.
_CRON_RE = re.compile(r"[\x21-\x7e]+( +[\x21-\x7e]+){4}")


def time_zone(name: str) -> zoneinfo.ZoneInfo:
    """The time zone called ``name``; raises ValueError in words a user can act on."""
    if len(name) > 64 or not _ZONE_RE.fullmatch(name):
        raise ValueError(f"{name[:70]!r} is not a time zone name (e.g. 'UTC', 'Europe/Berlin')")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None


def check_cron(expr: str) -> str:
    """``expr`` if it is a five-field cron expression that fires at least once."""
    from cronsim import CronSim, CronSimError

    if len(expr) > 200 or not _CRON_RE.fullmatch(expr):
        raise ValueError(
            f"{expr[:70]!r} is not a cron expression: five fields separated by spaces, "
            "minute hour day-of-month month day-of-week (e.g. '*/5 * * * *')"
        )
    try:
        next(CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC)))
    except CronSimError as exc:
        raise ValueError(f"{expr!r} is not a valid cron expression: {exc}") from None
    except StopIteration:
        raise ValueError(f"{expr!r} never fires") from None
    return expr


def _stored(info: ValidationInfo) -> bool:
    # A spec read back from the store was accepted when submitted: a zone database or a
    # cron parser that changed since must not make the whole deployment unreadable (the
    # Timetable skips a schedule it cannot read, and says so).
    return bool(info.context and info.context.get("stored"))


def _check_zone(name: str, info: ValidationInfo) -> str:
    if not _stored(info):
        time_zone(name)
    return name


def _check_cron(expr: str, info: ValidationInfo) -> str:
    return expr if _stored(info) else check_cron(expr)


Cron = Annotated[
    str, AfterValidator(_check_cron), Field(description="minute hour day month weekday")
]
ZoneName = Annotated[str, AfterValidator(_check_zone), Field(description="an IANA time zone")]


class _Strict(BaseModel):
    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True
    )


class Schedule(_Strict):
    """Run the deployment at each time of ``cron`` (in ``timezone``): a run starts
    ``replicas`` instances and ends when they all have ended.

    ``concurrency`` says what a time does while the previous run is still going, as a
    Kubernetes CronJob's ``concurrencyPolicy``: ``forbid`` skips the new run, ``allow``
    starts it beside the old one, ``replace`` stops the old one and starts the new.
    The last ``history`` runs are kept with their exit codes.
    """

    cron: Cron
    timezone: ZoneName = "UTC"
    concurrency: Literal["forbid", "allow", "replace"] = "forbid"
    history: Annotated[int, Field(ge=1, le=MAX_HISTORY)] = 10


class RestartSchedule(_Strict):
    """Restart every instance of a long-running deployment at each time of ``cron``.

    ``strategy``: ``rolling`` (the default) replaces the instances a few at a time as the
    deployment's ``update`` policy says, health-gated, like ``symphony restart``;
    ``all-at-once`` stops every instance and starts new ones as their stops are
    confirmed (a gap), for a job that cannot run two copies at once.
    """

    cron: Cron
    timezone: ZoneName = "UTC"
    strategy: Literal["rolling", "all-at-once"] = "rolling"
