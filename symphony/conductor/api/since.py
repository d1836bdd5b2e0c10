"""The ``since`` of a log request: a duration back from now, or a point in time.

As ``kubectl logs --since``/``--since-time`` and ``docker logs --since`` take them:

- a duration of whole units, largest first: ``30s``, ``10m``, ``1h30m``, ``2d``, ``1.5h``
  (units ``ms``, ``s``, ``m``, ``h``, ``d``), counted back from the Conductor's clock;
- an RFC 3339 time: ``2026-11-26T21:04:36Z``, ``2026-11-26T22:04:36.123456789+01:00``
  (nanoseconds kept, so the time printed by ``--timestamps`` can be passed back).

A bare number is refused: ``10`` could mean seconds back or seconds since the epoch.

>>> parse_since("1h30m", now_ns=10_000 * 10**9)
4600000000000
>>> parse_since("1970-01-01T00:00:01.000000002Z", now_ns=0)
1000000002
"""

from __future__ import annotations

import calendar
import datetime
import re
import time

#: The latest time taken, in nanoseconds: the largest a message to a node can carry
#: (a signed 64-bit integer), 2262-04-11T23:47:16.854775807Z.
LATEST_NS = 2**63 - 1

_UNITS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def parse_since(text: str, *, now_ns: int | None = None) -> int:
    """Nanoseconds since the epoch for ``text`` (see the module docstring).

    Raises ValueError, saying what is accepted, for anything else.
    """
    text = text.strip()
    if _DURATION.fullmatch(text):
        span = sum(int(float(n) * _UNITS[unit]) for n, unit in _PART.findall(text))
        now = time.time_ns() if now_ns is None else now_ns
        return max(0, now - span)
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(
            f"since must be a duration such as 10m, 1h30m or 2d, an RFC 3339 time such as"
            f" 2026-11-26T21:04:36Z; got {text[:64]!r}"
        )
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        at = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)
    except ValueError:
        raise ValueError(f"since: {text[:64]!r} is not a valid time") from None
    seconds = calendar.timegm(at.timetuple())
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        seconds -= offset if match.group(9) == "+" else -offset
    fraction = int((match.group(7) or "").ljust(9, "0") or 0)
    at_ns = seconds * 10**9 + fraction
    if at_ns > LATEST_NS:  # no line arrives that late; a node could not be asked either
        raise ValueError(f"since: {text[:64]!r} is too far in the future (past the year 2262)")
    return max(0, at_ns)
