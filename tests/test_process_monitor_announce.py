"""The monitor paces its ``ended`` events: the first end after a quiet spell is announced
at once, the ends that follow within ``ANNOUNCE_GAP`` (a crash loop the monitor restarts
itself) wait and go together; a reply to a request flushes what waits before it.

A real monitor process, a real job in a crash loop, and a raw connection standing in
for the agent, reading what the monitor writes and when.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from benchmarks._monitor_socket import connect_monitor
from tests.test_process_monitor_restarts import _monitor, _spawn

GAP = 0.5  # long enough that "at once" and "after the gap" cannot be confused
_SLOW_ANNOUNCING_MONITOR = (
    "import sys; from symphony.node.process import monitor_server as server; "
    f"server.ANNOUNCE_GAP = {GAP}; sys.exit(server.main(sys.argv[1:]))"
)


class Agent:
    """A connection to the monitor that keeps every message with when it was read."""

    def __init__(self, state_dir: str) -> None:
        self.sock = connect_monitor(state_dir, timeout=10)
        self.buffer = b""
        self.messages: list[tuple[float, dict]] = []

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def read_until(self, done: object, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():  # type: ignore[operator]
            assert time.monotonic() < deadline, self.messages
            self.buffer += self.sock.recv(65536)
            at = time.monotonic()
            *lines, self.buffer = self.buffer.split(b"\n")
            self.messages.extend((at, json.loads(line)) for line in lines)

    def ended(self) -> list[tuple[float, dict]]:
        return [(at, m) for at, m in self.messages if m.get("event") == "ended"]


def test_a_crash_loop_is_announced_at_once_then_once_per_gap(tmp_path: Path) -> None:
    state_dir = str(tmp_path / "node")
    with _monitor(state_dir, code=_SLOW_ANNOUNCING_MONITOR):
        with Agent(state_dir) as agent:
            _spawn(state_dir, str(tmp_path), "exit 1")  # two restarts, then no budget left
            agent.read_until(lambda: len(agent.ended()) == 3)
        (first, _), *rest = agent.ended()
        # The second and third ended within milliseconds of the first: they waited for
        # the gap and came together.
        assert all(at - first >= GAP * 0.9 for at, _ in rest), agent.messages
        assert len({at for at, _ in rest}) == 1, agent.messages
        assert [m["run"]["exit_code"] for _, m in agent.ended()] == [1, 1, 1]


def test_a_reply_brings_the_ends_that_wait_before_it(tmp_path: Path) -> None:
    state_dir = str(tmp_path / "node")
    with _monitor(state_dir, code=_SLOW_ANNOUNCING_MONITOR):
        with Agent(state_dir) as agent:
            _spawn(state_dir, str(tmp_path), "exit 1")
            agent.read_until(lambda: len(agent.ended()) == 1)
            first = agent.ended()[0][0]
            time.sleep(GAP / 2)  # the restarts end meanwhile: their ends wait
            agent.sock.sendall(json.dumps({"id": 7, "op": "stats"}).encode() + b"\n")
            agent.read_until(lambda: any(m.get("id") == 7 for _, m in agent.messages))
        kinds = [m.get("event") or m.get("id") for _, m in agent.messages]
        assert kinds == ["ended", "ended", "ended", 7], kinds  # in the order they happened
        assert agent.messages[-1][0] - first < GAP * 0.9  # the reply did not wait the gap
