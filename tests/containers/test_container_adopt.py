"""A node agent killed with SIGKILL while a container job runs: re-adopted, never twice.

Real agent processes (``agent_demo``), the real node monitor, the fake runtime first on
the agents' PATH. Two cases: the ``run`` client outlives the agent (adopted as any
job's process), and the client dies too while its container runs on (found again by
label and name, and re-attached: its exit code is still reported).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

import trio

from tests.jobs.harness import ended, monitor_pid, monitor_request, wait_real
from tests.test_process_adopt import Agent

from .fake import FakeRuntime


async def start_agent(state_dir: str, fake: FakeRuntime, jobs: dict[str, dict]) -> Agent:
    command = [sys.executable, "-m", "symphony.node.process.agent_demo", "--state-dir", state_dir]
    for instance_id, spec in jobs.items():
        command += ["--start", instance_id, json.dumps(spec)]
    env = {**fake.env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env
    )
    return Agent(process)


async def kill(agent: Agent) -> None:
    agent.process.send_signal(signal.SIGKILL)
    await agent.process.wait()
    assert agent.process.stdout is not None
    await agent.process.stdout.aclose()


async def test_container_readopted_after_agent_sigkill_by_process_then_by_label(tmp_path) -> None:
    fake = FakeRuntime(tmp_path)
    fake.add_image()
    state_dir = str(tmp_path / "node")
    go = tmp_path / "go"
    waiter = f"while [ ! -f {go} ]; do sleep 0.01; done; exit 7"
    jobs = {
        "c-0-aa": {
            "kind": "podman",
            "config": {"image": "localhost/bb:1", "command": ["sh", "-c", waiter]},
            "restart_policy": {"type": "on-failure", "backoff_seconds": 0.01},
        }
    }
    running = lambda x: x.get("instance_id") == "c-0-aa" and x.get("state") == "running"  # noqa: E731
    with trio.fail_after(60):
        first = await start_agent(state_dir, fake, jobs)
        try:
            client = (await first.until(running))["pid"]
        finally:
            await kill(first)
        monitor = monitor_pid(state_dir)
        try:
            # 1. The agent dies, the `run` client lives on: adopted as it is.
            second = await start_agent(state_dir, fake, jobs)
            try:
                adopted = await second.until(lambda x: x["type"] == "adopted")
                (report,) = adopted["instances"]
                assert report["state"] == "running" and report["pid"] == client
            finally:
                await kill(second)
            # 2. The client dies too; its container does not (as with podman's conmon).
            os.kill(client, signal.SIGKILL)
            await wait_real(lambda: ended(client))
            (box,) = fake.containers()
            assert box["State"] == "running"
            third = await start_agent(state_dir, fake, jobs)
            try:
                attached = await third.until(running)
                assert attached["pid"] != client
                reasons = [s.get("reason") for s in third.statuses("c-0-aa")]
                assert "re-attaching to container running from an earlier run" in reasons
                assert len(fake.calls("run")) == 1  # nothing runs twice
                assert fake.calls("ps")[-1][1:] == [
                    "-a", "--filter", "label=symphony.instance=c-0-aa", "--format", "json",
                ]  # fmt: skip
                # (the client logs its call a moment after it was started)
                await wait_real(lambda: fake.calls("attach") != [])
                assert fake.calls("attach") == [["attach", "--no-stdin", "symph-c-0-aa"]]
                go.touch()  # the container ends: its exit code comes through `attach`
                exited = await third.until(
                    lambda x: (
                        x.get("instance_id") == "c-0-aa"
                        and x.get("state") == "exited"
                        and x.get("exit_code") == 7
                    )
                )
                assert exited["exit_code"] == 7
            finally:
                await kill(third)
        finally:
            monitor_request(state_dir, {"op": "shutdown", "kill": True})
            if monitor is not None:
                await wait_real(lambda: ended(monitor))
            for leftover in fake.containers():
                if leftover.get("pid"):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(leftover["pid"], signal.SIGKILL)
