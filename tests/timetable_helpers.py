"""Test doubles for schedules: a wall clock that moves with Trio's clock, and a
stand-in for the Deployments manager that records what the Timetable fires."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import trio

from symphony.actors import Actor


class WallClock:
    """Unix time that moves with ``trio.current_time()`` (so ``autojump_clock`` moves
    it too) from a chosen start; ``jump`` moves it alone (a Conductor that was down,
    an NTP step)."""

    def __init__(self, start: datetime) -> None:
        self.offset = start.timestamp() - trio.current_time()

    def __call__(self) -> float:
        return self.offset + trio.current_time()

    def jump(self, seconds: float) -> None:
        self.offset += seconds


def local(stamp: float, zone: str = "UTC") -> str:
    """``stamp`` as local wall time with its offset, e.g. ``2026-03-29 03:00+02:00``."""
    return datetime.fromtimestamp(stamp, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M%z")


class Recorder(Actor):
    """Records every message it is told (stands in for the Deployments manager)."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[Any] = []

    async def receive(self, message: Any) -> Any:
        self.got.append(message)
        return None
