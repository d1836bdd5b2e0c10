"""When a cron schedule is due: pure functions of a schedule, its last fire and now.

Times are Unix seconds; the cron expression is read in the schedule's time zone by
cronsim, which follows Debian cron across daylight-saving changes:

- a time in the hour that is skipped (Europe/Berlin, last Sunday of March, 02:00 ->
  03:00) fires once, right after the change (``30 2 * * *`` fires at 03:00);
- in the hour that repeats (last Sunday of October, 03:00 -> 02:00) a time named by
  the hour fires once (``30 2 * * *`` at the first 02:30), while times that repeat
  within every hour (``*/30 * * * *``) fire in both passes.

:func:`due` looks at the times after the last fire up to now and picks the **latest**:
however many times were missed (the Conductor was down), at most one run makes up for
them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cronsim import CronSim

from symphony.spec import time_zone

if TYPE_CHECKING:
    from symphony.spec import RestartSchedule, Schedule

#: A fire later than this after its time counts as a catch-up (made up for a missed time).
LATE_AFTER = 60.0
# Missed times counted one by one before the search jumps ahead: a dense schedule
# (every minute) missed for a month is not walked minute by minute.
_COUNT_LIMIT = 5_000
_JUMP_BACK = 2 * 86_400.0


@dataclass(frozen=True, slots=True)
class Due:
    """The time to fire now (``at``; None if none is due), and how many earlier times
    were passed over for it (at least; only counted within a recent window)."""

    at: float | None
    skipped: int = 0


def _times(schedule: Schedule | RestartSchedule, after: float) -> Iterator[float]:
    tz = time_zone(schedule.timezone)
    start = datetime.fromtimestamp(after, tz)
    for when in CronSim(schedule.cron, start):
        at = when.timestamp()
        # Started inside the repeated hour (fold=1), cronsim may first answer a time of
        # that hour's first pass, which is already past: skip what is not after ``after``.
        if at > after:
            yield at


def next_time(schedule: Schedule | RestartSchedule, after: float) -> float:
    """The first time of ``schedule`` strictly after ``after``."""
    return next(_times(schedule, after))


def due(schedule: Schedule | RestartSchedule, last: float, now: float) -> Due:
    """The latest time of ``schedule`` in ``(last, now]``, if any, and how many earlier
    ones it stands for (exact up to a few thousand; a lower bound beyond)."""
    found: float | None = None
    skipped = -1
    for at in _times(schedule, last):
        if at > now:
            return Due(found, max(skipped, 0))
        found, skipped = at, skipped + 1
        if skipped >= _COUNT_LIMIT:
            break
    # Very many times missed: the latest lies in the last two days (or is ``found``).
    for at in _times(schedule, max(found or last, now - _JUMP_BACK)):
        if at > now:
            break
        found, skipped = at, skipped + 1
    return Due(found, skipped)


def is_catch_up(found: Due, now: float) -> bool:
    """Whether firing ``found`` at ``now`` makes up for missed times (it stands for
    earlier ones, or is itself late)."""
    return found.at is not None and (found.skipped > 0 or now - found.at > LATE_AFTER)
