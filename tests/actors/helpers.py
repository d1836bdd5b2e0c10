"""Small actors shared by the actor-runtime tests."""

from __future__ import annotations

from typing import Any

import trio

from symphony.actors import Actor


class Journal:
    """Records lifecycle events of test actors, in order, with the Trio time."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []
        self.times: dict[str, list[float]] = {}

    def log(self, who: str, what: str) -> None:
        self.entries.append((who, what))
        self.times.setdefault(f"{who}:{what}", []).append(trio.current_time())

    def of(self, what: str) -> list[str]:
        return [who for who, event in self.entries if event == what]


class Worker(Actor):
    """Counts messages; "crash" raises, "return" stops normally, "slow" blocks a while."""

    def __init__(self, name: str, journal: Journal, *, stop_delay: float = 0.0) -> None:
        super().__init__()
        self.label = name
        self.journal = journal
        self.count = 0
        self.stop_delay = stop_delay

    async def on_start(self) -> None:
        self.journal.log(self.label, "start")

    async def receive(self, message: Any) -> Any:
        if message == "crash":
            raise ValueError(f"{self.label} was told to crash")
        if message == "return":
            self.request_stop()
            return "bye"
        if message == "slow":
            await trio.sleep(100)
        self.count += 1
        return self.count

    async def on_stop(self) -> None:
        self.journal.log(self.label, "stop")
        await trio.sleep(self.stop_delay)
