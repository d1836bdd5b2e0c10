"""GPU devices on a node with a declared list: real jobs print the devices they were given.

Every job here is a real process that writes its ``CUDA_VISIBLE_DEVICES`` and
``NVIDIA_VISIBLE_DEVICES`` to a file named after its instance; the tests read those
files, so what is checked is what a job really saw, not what the node meant to give.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import trio

from symphony.node.process import StartRequest
from symphony.node.process.devices import NotEnoughDevices
from tests.jobs.harness import monitor_request, open_jobs, open_node, spec, start_command

DEVICES = ("0", "1", "2", "3", "4", "5")


def printer(out: Path, *, then: str = "exec sleep 1000") -> list[str]:
    """A job that appends what it sees to ``out/<instance>`` (one line per run)."""
    script = (
        'printf "%s|%s\\n" "${CUDA_VISIBLE_DEVICES-unset}" "${NVIDIA_VISIBLE_DEVICES-unset}" '
        f'>> "{out}/$SYMPHONY_INSTANCE"; {then}'
    )
    return ["sh", "-c", script]


async def seen(out: Path, instance_id: str, runs: int = 1) -> list[tuple[str, str]]:
    """What the job printed, once it has printed ``runs`` lines."""
    path = out / instance_id
    with trio.fail_after(20):
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            if len(lines) >= runs:
                return [tuple(line.split("|")) for line in lines]  # type: ignore[misc]
            await trio.sleep(0.01)


async def test_gpus_concurrent_jobs_never_share_a_device(tmp_path: Path) -> None:
    """Rounds of concurrent starts and stops asking 1-3 devices each on a 6-device node:
    every running job sees exactly as many devices as it asked for, none seen by
    another running job, and a start that cannot be served is refused, never shared."""
    out = tmp_path / "out"
    out.mkdir()
    rng = random.Random(23)
    job = spec(printer(out))
    async with open_node(str(tmp_path / "node"), gpus=DEVICES) as node:
        asked: dict[str, int] = {}
        running: set[str] = set()
        refused: list[str] = []
        serial = 0

        async def start(instance_id: str, k: int) -> None:
            try:
                await node.manager.start_instance(
                    StartRequest(instance_id=instance_id, spec=job, gpus=k)
                )
            except NotEnoughDevices:
                refused.append(instance_id)
                return
            asked[instance_id] = k
            running.add(instance_id)

        async def stop(instance_id: str) -> None:
            await node.manager.stop_instance(instance_id)
            running.discard(instance_id)

        for _ in range(4):
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    serial += 1
                    nursery.start_soon(start, f"job-{serial}", rng.randint(1, 3))
            assert running, "every start of a round was refused"
            holders: dict[str, str] = {}
            for instance_id in sorted(running):
                ((cuda, nvidia),) = await seen(out, instance_id)
                devices = cuda.split(",")
                assert nvidia == cuda
                assert len(devices) == asked[instance_id]
                for device in devices:
                    assert device in DEVICES
                    assert device not in holders, f"{device}: {holders[device]} and {instance_id}"
                    holders[device] = instance_id
            assert dict(node.manager.devices.holders()) == holders
            async with trio.open_nursery() as nursery:
                for instance_id in rng.sample(sorted(running), k=len(running) // 2 + 1):
                    nursery.start_soon(stop, instance_id)
        assert refused, "the test never ran the node out of devices"


async def test_gpus_restart_keeps_devices_and_a_final_exit_frees_them(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    async with open_node(str(tmp_path / "node"), gpus=("0", "1")) as node:
        flaky = spec(
            printer(out, then="exit 3"), restart_policy={"type": "always", "backoff_seconds": 0.01}
        )
        await node.start("flaky", flaky, gpus=1)
        runs = await seen(out, "flaky", runs=3)
        assert {cuda for cuda, _ in runs} == {"0"}  # every run of it: the same device
        once = spec(printer(out, then="exit 0"), restart_policy={"type": "never"})
        await node.start("once", once, gpus=1)
        ((cuda, _),) = await seen(out, "once")
        assert cuda == "1"
        await node.wait_for("once", "exited")
        # Ended for good: its device is free although the instance is not stopped yet.
        assert node.manager.devices.held_by("once") == ()
        with trio.fail_after(10):
            while True:
                try:
                    await node.start("next", spec(printer(out)), gpus=1)
                    break
                except NotEnoughDevices:
                    await trio.sleep(0.01)
        ((cuda, _),) = await seen(out, "next")
        assert cuda == "1"
        reports = {r.instance_id: r for r in await node.manager.list_instances()}
        assert reports["flaky"].devices == ("0",) and reports["next"].devices == ("1",)


async def test_gpus_job_asking_none_sees_none_and_spec_env_cannot_widen(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    async with open_node(str(tmp_path / "node"), gpus=("0", "1")) as node:
        await node.start("cpu", spec(printer(out)))
        assert await seen(out, "cpu") == [("", "none")]
        sneaky = spec(printer(out), env={"CUDA_VISIBLE_DEVICES": "0,1"})
        await node.start("one", sneaky, gpus=1)
        assert await seen(out, "one") == [("0", "0")]
    async with open_node(str(tmp_path / "plain")) as node:  # no GPUs: nothing is set
        await node.start("plain", spec(printer(out)))
        assert await seen(out, "plain") == [("unset", "unset")]


async def test_gpus_readopted_job_keeps_its_devices(tmp_path: Path) -> None:
    """The agent dies; the next one gives its job the devices recorded for it (the run
    record says which), so a new job gets others, and the job's restart keeps them."""
    out = tmp_path / "out"
    out.mkdir()
    go = tmp_path / "go"
    state_dir = str(tmp_path / "node")
    waits = spec(
        printer(out, then=f"while [ ! -f {go} ]; do sleep 0.01; done; rm -f {go}; exit 1"),
        restart_policy={"type": "always", "backoff_seconds": 0.01},
    )
    async with open_node(state_dir, gpus=DEVICES[:4], keep_monitor=True) as first:
        await first.start("a", waits, gpus=2)
        assert await seen(out, "a") == [("0,1", "0,1")]
    runs = monitor_request(state_dir, {"op": "hello"})["runs"]
    assert [r["meta"]["devices"] for r in runs if r["instance_id"] == "a"] == [["0", "1"]]
    async with open_node(state_dir, gpus=DEVICES[:4]) as second:
        (report,) = await second.manager.adopt()
        assert report.state == "running" and report.devices == ("0", "1")
        await second.start("b", spec(printer(out)), gpus=2)
        assert await seen(out, "b") == [("2,3", "2,3")]
        with pytest.raises(NotEnoughDevices, match="0 of 4 free"):
            await second.start("c", spec(printer(out)), gpus=1)
        go.touch()  # a's run ends; its restart still has its devices
        runs_of_a = await seen(out, "a", runs=2)
        assert runs_of_a[1] == ("0,1", "0,1")


async def test_gpus_reported_to_the_conductor_and_refusal_is_a_failed_start(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    async with (
        open_node(str(tmp_path / "node"), gpus=("0", "1")) as node,
        open_jobs(node) as (jobs, link),
    ):
        await jobs.start(start_command("two", spec(printer(out)), gpus=2))
        with trio.fail_after(10):
            while not any(s.state == "running" for s in link.of("two")):
                await trio.sleep(0.01)
        assert {s.devices for s in link.of("two")} == {("0", "1")}
        (hello,) = [s for s in await jobs.reports() if s.instance_id == "two"]
        assert hello.devices == ("0", "1")
        await jobs.start(start_command("more", spec(printer(out)), gpus=1))
        with trio.fail_after(10):
            while not link.of("more"):
                await trio.sleep(0.01)
        (failed,) = link.of("more")
        assert failed.state == "failed" and failed.final
        assert "asks for 1 GPU(s), 0 of 2 free" in (failed.reason or "")
        assert "0 by two" in (failed.reason or "")
    assert not os.path.exists(out / "more")
