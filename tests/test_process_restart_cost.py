"""What a restart made by the node monitor costs the agent.

A job crashing in a loop restarts many times a second, and the agent's bookkeeping of
each restart runs on the same cores as the next one. So the agent follows such a
restart without starting a task (no per-run watcher tasks, no acknowledgement waiting
for its reply), and the monitor answers no acknowledgement sent without an id.
"""

from __future__ import annotations

import json
import os
import signal
import socket

import trio

from tests.jobs.harness import open_node, spec, wait_real

SLEEP = ["sh", "-c", "exec sleep 300"]


class _Spawns(trio.abc.Instrument):
    """Counts the tasks started while it is installed."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.names.append(task.name)


async def test_a_restart_by_the_monitor_starts_no_task_in_the_agent(tmp_path) -> None:
    job = spec(SLEEP, restart_policy={"type": "always", "backoff_seconds": 0})
    async with open_node(str(tmp_path / "node")) as node:
        await node.start("loop-0", job)
        running = await node.wait_for("loop-0", "running")
        spawns = _Spawns()
        trio.lowlevel.add_instrument(spawns)
        try:
            for restarts in (1, 2, 3):
                assert running.pid is not None
                os.kill(running.pid, signal.SIGKILL)
                running = await node.wait_for("loop-0", "running", count=restarts + 1)
                assert running.restarts == restarts
            await trio.sleep(0.2)  # the last restart's acknowledgement is sent meanwhile
        finally:
            trio.lowlevel.remove_instrument(spawns)
        assert spawns.names == []
        # Every end was acknowledged all the same: the monitor keeps only the live run.
        await wait_real(lambda: len(_hello(node.state_dir)) == 1)
        assert node.states("loop-0").count("exited") == 3


def _hello(state_dir: str) -> list[dict]:
    return _exchange(state_dir, [{"id": 1, "op": "hello"}])[-1]["runs"]


def _exchange(state_dir: str, requests: list[dict]) -> list[dict]:
    """Send ``requests`` on one connection; every message received until the reply to
    the last one, which must carry an id."""
    directory = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)  # a short path to it
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(f"/proc/self/fd/{directory}/monitor.sock")
        os.close(directory)
        sock.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        received, data = [], b""
        while True:
            data += sock.recv(65536)
            *lines, data = data.split(b"\n")
            received += [json.loads(line) for line in lines]
            if received and received[-1].get("id") == requests[-1]["id"]:
                return received


async def test_the_monitor_answers_no_acknowledgement_sent_without_an_id(tmp_path) -> None:
    async with open_node(str(tmp_path / "node")) as node:
        replies = _exchange(
            node.state_dir,
            [{"op": "ack", "run_id": "none-such"}, {"op": "stats", "id": 7}],
        )
        assert [r.get("id") for r in replies] == [7]


async def test_an_older_monitor_answering_acknowledgements_confuses_no_request(
    tmp_path,
) -> None:
    # A monitor outlives agent upgrades: one from before answers a request without an
    # id with an answer without an id, which the agent must drop, matching no request.
    from symphony.node.process.client import MonitorClient
    from tests.test_process_monitor_restarts import _monitor

    older = "\n".join(
        (
            "import sys",
            "from symphony.node.process import monitor_server as m",
            "handle = m.MonitorServer._handle_line",
            "def answer_all(self, line, client):",  # as a monitor of before did
            "    reply = handle(self, line, client)",
            "    if reply is not None and reply['id'] is m._NO_REPLY:",
            "        reply['id'] = None",
            "    return reply",
            "m.MonitorServer._handle_line = answer_all",
            "sys.exit(m.main(sys.argv[1:]))",
        )
    )
    state_dir = str(tmp_path / "node")
    with _monitor(state_dir, code=older):
        client = MonitorClient(state_dir)
        async with trio.open_nursery() as nursery:
            await nursery.start(client.run)
            for run_id in ("a", "b", "c"):
                client.ack_soon(run_id)
            with trio.fail_after(10):
                for _ in range(3):
                    stats = await client.request("stats")
                    assert stats["ok"] and stats["pid"] > 0 and stats["runs"] == 0
            assert not client.lost
            nursery.cancel_scope.cancel()
