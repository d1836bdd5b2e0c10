"""The secret values of an instance that never starts are not kept in memory.

The node holds each instance's secret values in memory only, from its StartInstance (or
an InstanceSecrets after an agent restart) until the instance is stopped and forgotten.
A start that failed on the node (more GPUs than it has, a record that cannot be
written) left them behind for the agent's whole life, and so did a stop of an instance
the node does not have: the values of every such instance piled up, unreachable.
Real node (process manager, monitor, ProcessJobs as the link drives it).
"""

from __future__ import annotations

import dataclasses
import os

import trio

from symphony.node.process.recordlog import RECORDS_FILE
from symphony.wire import InstanceSecrets, StopInstance
from tests.jobs.harness import open_jobs, open_node, spec, start_command, wait_real

SECRET = {"TOKEN": "s3cr3t-value"}


def _with_secret(instance_id: str, **kw: object):
    job = spec(["sleep", "1000"], env={"TOKEN": {"secret": "tok"}})
    return dataclasses.replace(start_command(instance_id, job, **kw), secrets=SECRET)


async def test_secrets_of_a_start_refused_for_devices_are_freed(tmp_path) -> None:
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            await jobs.start(_with_secret("gpu-0", gpus=1))  # this node has no GPU
            await wait_real(lambda: any(s.state == "failed" for s in link.of("gpu-0")))
            assert node.manager.node.secrets == {}


async def test_secrets_of_a_start_whose_record_cannot_be_written_are_freed(tmp_path) -> None:
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            # A directory where the records go: saving one fails (as on a full disk).
            os.mkdir(os.path.join(node.state_dir, "instances", RECORDS_FILE))
            await jobs.start(_with_secret("disk-0"))
            await wait_real(lambda: any(s.state == "failed" for s in link.of("disk-0")))
            assert node.manager.node.secrets == {}


async def test_secrets_of_an_instance_stopped_here_unknown_are_freed(tmp_path) -> None:
    """Values sent again after an agent restart for an instance the node no longer has
    (it ended meanwhile): the Conductor's stop of it frees them."""
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            jobs.keep_secrets(InstanceSecrets(instance_id="gone-0", secrets=SECRET))
            await jobs.stop(StopInstance(instance_id="gone-0"))
            await wait_real(lambda: any(s.state == "stopped" for s in link.of("gone-0")))
            assert node.manager.node.secrets == {}


async def test_secrets_of_a_running_instance_are_kept_until_it_is_stopped(tmp_path) -> None:
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            await jobs.start(_with_secret("run-0"))
            await wait_real(lambda: any(s.state == "running" for s in link.of("run-0")))
            # A failed start of another instance frees its own values only.
            await jobs.start(_with_secret("gpu-0", gpus=1))
            await wait_real(lambda: any(s.state == "failed" for s in link.of("gpu-0")))
            assert node.manager.node.secrets == {"run-0": SECRET}
            await jobs.stop(StopInstance(instance_id="run-0"))
            await wait_real(lambda: any(s.state == "stopped" for s in link.of("run-0")))
            assert node.manager.node.secrets == {}


async def test_secrets_of_an_instance_ended_for_good_are_freed(tmp_path) -> None:
    """An instance whose policy runs it no more stays listed (the Conductor need not stop
    it), but no run of it will need its values again."""
    job = spec(
        ["sh", "-c", "exit 3"], env={"TOKEN": {"secret": "tok"}}, restart_policy={"type": "never"}
    )
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            await jobs.start(dataclasses.replace(start_command("once-0", job), secrets=SECRET))
            await wait_real(lambda: any(s.final for s in link.of("once-0")))
            assert (link.of("once-0")[-1].state, link.of("once-0")[-1].exit_code) == ("exited", 3)
            assert node.manager.node.secrets == {}
            assert [r.instance_id for r in await jobs.reports()] == ["once-0"]


async def test_secrets_freed_at_the_end_still_mask_the_reason_reported_later(tmp_path) -> None:
    """Its command names the secret value (a careless spec): the spawn error says it. The
    final update, and every hello's list after it, show it masked all the same."""
    value = SECRET["TOKEN"]
    job = spec(
        [f"/no/such/{value}"], env={"TOKEN": {"secret": "tok"}}, restart_policy={"type": "never"}
    )
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            await jobs.start(dataclasses.replace(start_command("typo-0", job), secrets=SECRET))
            await wait_real(lambda: any(s.final for s in link.of("typo-0")))
            final = link.of("typo-0")[-1]
            assert final.state == "failed" and "***" in final.reason, final.reason
            assert node.manager.node.secrets == {}
            [report] = await jobs.reports()  # the hello's list
            assert value not in report.reason and "***" in report.reason, report.reason
            assert all(value not in (s.reason or "") for s in link.of("typo-0"))
