"""Cron schedules: the :class:`Timetable` actor and the pure due-time rules (``times``)."""

from .actor import MAX_NAP, Tick, Timetable
from .times import Due, due, is_catch_up, next_time

__all__ = ["MAX_NAP", "Due", "Tick", "Timetable", "due", "is_catch_up", "next_time"]
