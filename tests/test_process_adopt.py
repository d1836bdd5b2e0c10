"""A node agent killed with SIGKILL: its jobs run on, and a new agent adopts them.

The agent is a real process (``python -m symphony.node.process.agent_demo``) printing
one JSON line per event; the jobs belong to the node monitor, which outlives it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import trio

from tests.jobs.harness import ended, gone, monitor_pid, monitor_request, wait_real


class Agent:
    """One agent process and the JSON lines it printed."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.lines: list[dict] = []
        self._buffer = b""

    async def until(self, predicate) -> dict:
        """Read lines until one satisfies ``predicate``; return it."""
        for line in self.lines:
            if predicate(line):
                return line
        assert self.process.stdout is not None
        while True:
            while b"\n" not in self._buffer:
                chunk = await self.process.stdout.receive_some(65536)
                assert chunk, f"agent exited early; output so far: {self.lines}"
                self._buffer += chunk
            raw, _, self._buffer = self._buffer.partition(b"\n")
            line = json.loads(raw)
            self.lines.append(line)
            if predicate(line):
                return line

    def statuses(self, instance_id: str) -> list[dict]:
        return [x for x in self.lines if x["type"] == "status" and x["instance_id"] == instance_id]


async def start_agent(state_dir: str, jobs: dict[str, dict]) -> Agent:
    command = [sys.executable, "-m", "symphony.node.process.agent_demo", "--state-dir", state_dir]
    for instance_id, spec in jobs.items():
        command += ["--start", instance_id, json.dumps(spec)]
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    return Agent(process)


async def test_agent_sigkill_jobs_survive_and_are_adopted_with_exits_reported(tmp_path) -> None:
    state_dir = str(tmp_path / "node")
    go = tmp_path / "go"
    waiter = f"while [ ! -f {go} ]; do sleep 0.01; done; exit 7"
    jobs = {
        "a": {"config": {"command": ["sleep", "1000"]}},
        "b": {"config": {"command": ["sleep", "1000"]}, "restart_policy": {"type": "always"}},
        "c": {"config": {"command": ["sh", "-c", waiter]}, "restart_policy": {"type": "never"}},
    }
    with trio.fail_after(30):
        first = await start_agent(state_dir, jobs)
        try:
            await first.until(lambda x: x["type"] == "ready")
            pids = {}
            for name in jobs:
                line = await first.until(
                    lambda x, n=name: x.get("instance_id") == n and x["state"] == "running"
                )
                pids[name] = line["pid"]
        finally:
            first.process.send_signal(signal.SIGKILL)
            await first.process.wait()
            await first.process.stdout.aclose()
        monitor = monitor_pid(state_dir)
        try:
            go.touch()  # c ends while no agent is running
            await wait_real(lambda: gone(pids["c"]))
            assert not gone(pids["a"]) and not gone(pids["b"])

            second = await start_agent(state_dir, jobs)
            try:
                await second.until(lambda x: x["type"] == "ready")
                adopted = await second.until(lambda x: x["type"] == "adopted")
                exited = await second.until(
                    lambda x: x.get("instance_id") == "c" and x["state"] == "exited"
                )
                assert exited["exit_code"] == 7
                by_id = {r["instance_id"]: r for r in adopted["instances"]}
                for name in ("a", "b"):
                    assert by_id[name]["state"] == "running"
                    assert by_id[name]["pid"] == pids[name]  # the same process: not restarted
                    (status,) = second.statuses(name)
                    assert status["state"] == "running" and status["adopted"] is True
                assert "starting" not in [s["state"] for s in second.statuses("c")]
                assert by_id["c"]["exit_code"] == 7
                for name in ("a", "b"):
                    with open(f"/proc/{pids[name]}/stat") as f:
                        assert f.read().split()[2] != "Z"
                # Nothing runs twice: exactly one `sleep 1000` per surviving instance.
                runs = monitor_request(state_dir, {"op": "hello"})["runs"]
                live = sorted(r["instance_id"] for r in runs if r["state"] != "ended")
                assert live == ["a", "b"]
            finally:
                second.process.send_signal(signal.SIGKILL)
                await second.process.wait()
                await second.process.stdout.aclose()
        finally:
            monitor_request(state_dir, {"op": "shutdown", "kill": True})
            if monitor is not None:
                await wait_real(lambda: ended(monitor))
        await wait_real(lambda: all(gone(pid) for pid in pids.values()))
