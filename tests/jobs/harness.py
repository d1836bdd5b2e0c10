"""Shared helpers of the process tests: a node harness, real-time polling, monitor teardown."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from benchmarks._monitor_socket import connect_monitor
from symphony.actors import Actor, spawn
from symphony.conductor.deployments.instances import job_spec
from symphony.node.jobs import ProcessJobs
from symphony.node.process import ProcessManager, StartRequest, StatusUpdate
from symphony.spec import parse_spec
from symphony.wire import InstanceStatus, JobSpec, StartInstance, StatusBatch, job_spec_from_dict

JOBS = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Node:
    """A ProcessManager plus every status update it emitted."""

    manager: ProcessManager
    state_dir: str
    updates: list[StatusUpdate] = field(default_factory=list)
    changed: trio.Event = field(default_factory=trio.Event)

    def record(self, update: StatusUpdate) -> None:
        self.updates.append(update)
        self.changed.set()
        self.changed = trio.Event()

    def of(self, instance_id: str) -> list[StatusUpdate]:
        return [u for u in self.updates if u.instance_id == instance_id]

    def states(self, instance_id: str) -> list[str]:
        return [u.state for u in self.of(instance_id)]

    async def wait_for(self, instance_id: str, state: str, count: int = 1) -> StatusUpdate:
        """Wait until ``instance_id`` has reported ``state`` ``count`` times; the last one."""
        while True:
            matching = [u for u in self.of(instance_id) if u.state == state]
            if len(matching) >= count:
                return matching[count - 1]
            await self.changed.wait()

    async def start(self, instance_id: str, spec: JobSpec, **kw: object) -> None:
        await self.manager.start_instance(StartRequest(instance_id=instance_id, spec=spec, **kw))


def spec(command: list[str], **fields: object) -> JobSpec:
    """The job spec the Conductor sends for a deployment spec with these fields;
    ``env``/``cwd`` go into config, the rest at top level."""
    config: dict[str, object] = {"command": command}
    for key in ("env", "cwd"):
        if key in fields:
            config[key] = fields.pop(key)
    return job_spec(parse_spec({"kind": "exec", "config": config, **fields}))


def trapping(trap: str, ready: str) -> list[str]:
    """A shell job that sets ``trap`` (e.g. ``trap 'exit 3' TERM``), then creates the
    file ``ready`` and loops. "running" is reported when the shell has started, not when
    its trap is set: a stop sent before that kills the shell by the signal's default
    action. Wait for ``ready`` (:func:`wait_real`) before stopping such a job."""
    return ["sh", "-c", f'{trap}; : > "$0"; while true; do sleep 0.05; done', ready]


async def wait_real(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` in real time (immune to mock clocks); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in real time")
        await trio.to_thread.run_sync(time.sleep, 0.005)


def gone(pid: int) -> bool:
    """True if ``pid`` neither runs nor lingers as a zombie."""
    return _state(pid) in ("X", None)


def ended(pid: int) -> bool:
    """True if ``pid`` is not running (a zombie counts: its reaper may not be ours)."""
    return _state(pid) in ("Z", "X", None)


def _state(pid: int) -> str | None:
    """The state letter of ``pid`` (proc(5)), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # gone between open and read
        return None


def kill_logger_then_monitor(logger: int, monitor: int) -> None:
    """SIGKILL a logger, then its monitor before that monitor can replace it.

    Two kills in a row are not enough: a test descheduled between them (as on a loaded
    machine) lets the monitor reap the dead logger and fork a replacement, which outlives
    the monitor and reads its runs on, a fault other than the one meant. So the monitor
    is frozen first (SIGSTOP: once stopped it runs no code of its own), and dies frozen.
    """
    os.kill(monitor, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while _state(monitor) not in ("T", "Z", "X", None):
        if time.monotonic() > deadline:
            raise AssertionError(f"the monitor {monitor} did not stop")
        time.sleep(0.001)
    os.kill(logger, signal.SIGKILL)
    os.kill(monitor, signal.SIGKILL)


def monitor_request(state_dir: str, request: dict) -> dict:
    """One blocking request to a node monitor (for teardown from outside any agent)."""
    with connect_monitor(state_dir, timeout=10) as sock:
        sock.sendall(json.dumps({"id": 1, **request}).encode() + b"\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("monitor closed the connection")
            data += chunk
            for line in data.split(b"\n")[:-1]:
                message = json.loads(line)
                if message.get("id") == 1:
                    return message


def monitor_pid(state_dir: str) -> int | None:
    """The pid of the state dir's monitor, if one answers."""
    try:
        return monitor_request(state_dir, {"op": "stats"})["pid"]
    except OSError:
        return None


@asynccontextmanager
async def open_node(
    state_dir: str, *, node_id: str = "node-1", keep_monitor: bool = False, **manager: Any
) -> AsyncIterator[Node]:
    """A running ProcessManager on ``state_dir``; its monitor and jobs are killed on exit
    (with ``keep_monitor``, the agent just goes, as if killed: jobs and monitor stay).
    ``manager``: more arguments of the ProcessManager (``env``, say)."""
    node = Node(manager=None, state_dir=state_dir)  # type: ignore[arg-type]
    # No jitter: the tests check restart delays exactly.
    node.manager = ProcessManager(
        state_dir=state_dir, node_id=node_id, on_status=node.record, restart_jitter=0.0, **manager
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(node.manager.run)
        pid = monitor_pid(state_dir)
        if keep_monitor:
            yield node
            nursery.cancel_scope.cancel()
            return
        try:
            yield node
        finally:
            with trio.CancelScope(shield=True):
                await node.manager.shutdown_monitor(kill_jobs=True)
                if pid is not None:
                    await wait_real(lambda: ended(pid))
            nursery.cancel_scope.cancel()


class LinkDouble(Actor):
    """Stands in for the ConductorLink: keeps every InstanceStatus it is told."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[InstanceStatus] = []
        #: The updates of each message told, in order (a StatusBatch is one message).
        self.messages: list[tuple[InstanceStatus, ...]] = []

    async def receive(self, message: object) -> None:
        updates = message.updates if isinstance(message, StatusBatch) else (message,)
        assert all(isinstance(u, InstanceStatus) for u in updates), message
        self.messages.append(tuple(updates))
        self.statuses.extend(updates)

    def of(self, instance_id: str) -> list[InstanceStatus]:
        return [s for s in self.statuses if s.instance_id == instance_id]


@asynccontextmanager
async def open_jobs(node: Node, **jobs_args: Any) -> AsyncIterator[tuple[ProcessJobs, LinkDouble]]:
    """The node's ProcessJobs, pumping its statuses into a LinkDouble.
    ``jobs_args``: more arguments of the ProcessJobs (``tombstones``, say)."""
    jobs = ProcessJobs(node.manager, **jobs_args)
    link = LinkDouble()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, link, name="link-double")
        await nursery.start(jobs.run, ref)
        yield jobs, link
        nursery.cancel_scope.cancel()


def start_command(
    instance_id: str, job: JobSpec, *, deployment_id: str = "dep-1", gpus: int | None = None
) -> StartInstance:
    """A StartInstance as the Conductor sends it."""
    return StartInstance(
        instance_id=instance_id,
        deployment_id=deployment_id,
        deployment_name="dep",
        replica=0,
        spec=job,
        gpus=gpus,
    )


async def start_running(jobs: ProcessJobs, link: LinkDouble, instance_id: str, job: JobSpec) -> int:
    """Starts ``instance_id`` as the Conductor would and waits until the link is told it
    runs: its pid."""
    await jobs.start(start_command(instance_id, job))
    await wait_real(lambda: any(s.state == "running" for s in link.of(instance_id)))
    return next(s.pid for s in link.of(instance_id) if s.state == "running")


async def readopted(manager: ProcessManager, pid: int) -> None:
    """Waits until a replacement monitor has taken the jobs over: the one job runs on as
    ``pid`` (re-adopted, not restarted)."""
    await wait_real(lambda: manager.monitors_replaced == 1, timeout=30)
    [report] = await manager.list_instances()
    assert (report.state, report.pid) == ("running", pid)


def processes_under(directory: str) -> list[int]:
    """Live (non-zombie) processes whose working directory is inside ``directory``."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cwd", "status"]):
        cwd = proc.info["cwd"] or ""
        if cwd.startswith(directory) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc.pid)
    return found


async def run_until_failed(
    manager: ProcessManager, instance_id: str, spec: Any, updates: list[StatusUpdate]
) -> StatusUpdate:
    """Run ``manager`` (its ``on_status`` appends to ``updates``), start one instance of
    ``spec`` (a parsed DeploymentSpec), and return its ``failed`` update once it comes;
    the monitor and its jobs are stopped afterwards."""
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run)
        request = StartRequest(instance_id=instance_id, spec=job_spec_from_dict(spec.to_dict()))
        await manager.start_instance(request)
        with trio.fail_after(20):
            while not any(u.state == "failed" for u in updates):
                await trio.sleep(0.05)
        await manager.shutdown_monitor(kill_jobs=True)
        nursery.cancel_scope.cancel()
    [failed] = [u for u in updates if u.state == "failed"]
    return failed
