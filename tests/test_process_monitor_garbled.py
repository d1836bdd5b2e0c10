"""A line from the node monitor that the agent cannot read is a lost monitor, not an exit.

Only a monitor bug or a version skew (a monitor of another release still running on
the node) sends one. The client's reader parsed each line unguarded: a line that is not
JSON, or not the shape of a reply or an event, escaped the reader, then the process
manager (which replaces a monitor only on MonitorLost), and the whole agent exited,
leaving every job unsupervised. Now the connection is dropped as lost: every pending
request fails with MonitorLost, and the manager connects again (starting a monitor if
none answers) and re-adopts, as after any monitor loss. Likewise a ``hello`` reply whose
list of runs the adoption cannot read.

The garbling monitor is a stand-in on the monitor's socket (it answers nothing, and
says one bad line); the monitor that takes over is the real one.
"""

from __future__ import annotations

import contextlib
import json
import os
from functools import partial

import pytest
import trio

from symphony.node.process import ProcessManager, StartRequest
from symphony.node.process.client import MonitorClient, MonitorLost
from symphony.node.process.monitorfiles import SOCKET_NAME
from tests.jobs.harness import ended, monitor_pid, spec, wait_real

BAD_LINES = [
    b"{not json\n",
    b"\xff\xfe\n",  # not UTF-8
    b"[1, 2]\n",  # JSON, but not a message
    b'{"event": "ended"}\n',  # an end without its run
    b'{"event": "ended", "run": 5}\n',
    b'{"event": "ended", "run": {"exit_code": 0}}\n',  # a run without its id
]


async def _garbling_monitor(
    state_dir: str, line: bytes, *, after_request: bool, task_status: trio.TaskStatus[None]
) -> None:
    """Listen where the monitor does; send the first agent that connects ``line`` (once
    its first request came, with ``after_request``), after taking the socket away (the
    agent's next connection finds no monitor, and starts the real one); then hold the
    connection until the agent drops it."""
    directory = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    path = f"/proc/self/fd/{directory}/{SOCKET_NAME}"  # short, however deep the dir
    try:
        with trio.socket.socket(trio.socket.AF_UNIX) as listener:
            await listener.bind(path)
            listener.listen()
            task_status.started()
            conn, _ = await listener.accept()
            os.unlink(path)
        async with trio.SocketStream(conn) as stream:
            received = b""
            while after_request and b"\n" not in received:
                received += await stream.receive_some(4096)
            await stream.send_all(line)
            with pytest.raises(trio.BrokenResourceError):  # or a clean EOF, below
                while await stream.receive_some(4096):
                    pass
                raise trio.BrokenResourceError
    finally:
        os.close(directory)


@pytest.mark.parametrize("line", BAD_LINES)
async def test_a_garbled_line_fails_the_pending_request_as_a_lost_monitor(
    tmp_path, line: bytes
) -> None:
    state_dir = str(tmp_path / "node")
    os.makedirs(state_dir, mode=0o700)
    client = MonitorClient(state_dir)
    ended_with: list[BaseException] = []

    async def run_client(*, task_status: trio.TaskStatus[MonitorClient]) -> None:
        try:
            await client.run(task_status=task_status)
        except* MonitorLost as group:
            ended_with.extend(group.exceptions)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(_garbling_monitor, state_dir, line, after_request=True))
            await nursery.start(run_client)
            with pytest.raises(MonitorLost, match="cannot read"):
                await client.request("stats")  # pending when the line arrives
            await wait_real(lambda: bool(ended_with))
            assert client.lost and not client._pending
            assert "cannot read" in str(ended_with[0])


@pytest.mark.parametrize("line", [BAD_LINES[0], BAD_LINES[3]])
async def test_a_garbled_line_from_the_monitor_does_not_end_the_agent(
    tmp_path, line: bytes
) -> None:
    state_dir = str(tmp_path / "node")
    os.makedirs(state_dir, mode=0o700)
    manager = ProcessManager(state_dir=state_dir, node_id="n1", restart_jitter=0.0)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(_garbling_monitor, state_dir, line, after_request=False))
            await nursery.start(manager.run)
            pid = None
            try:
                # Replaced: a new connection, to a monitor that had to be started.
                await wait_real(lambda: manager.monitors_replaced == 1, timeout=30)
                pid = monitor_pid(state_dir)
                assert pid is not None
                await manager.start_instance(
                    StartRequest(instance_id="a-0", spec=spec(["sleep", "1000"]))
                )
                [report] = await manager.list_instances()
                assert report.state in ("starting", "running")
            finally:
                with trio.CancelScope(shield=True):
                    await manager.shutdown_monitor(kill_jobs=True)
                    if pid is not None:
                        await wait_real(lambda: ended(pid))
                nursery.cancel_scope.cancel()


async def _monitor_with_a_bad_list(
    state_dir: str, runs: object, *, task_status: trio.TaskStatus[None]
) -> None:
    """Serve the agent's first connection (then drop it: the monitor "dies"), answer the
    replacement's ``hello`` with ``runs``, then take the socket away (the next one finds
    no monitor, and starts the real one)."""
    directory = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    path = f"/proc/self/fd/{directory}/{SOCKET_NAME}"
    try:
        with trio.socket.socket(trio.socket.AF_UNIX) as listener:
            await listener.bind(path)
            listener.listen()
            task_status.started()
            first, _ = await listener.accept()
            first.close()
            second, _ = await listener.accept()
            os.unlink(path)
        async with trio.SocketStream(second) as stream:
            received = b""
            while b"\n" not in received:
                received += await stream.receive_some(4096)
            request = json.loads(received.split(b"\n")[0])
            assert request["op"] == "hello"
            reply = {"id": request["id"], "ok": True, "runs": runs}
            await stream.send_all(json.dumps(reply).encode() + b"\n")
            with contextlib.suppress(trio.BrokenResourceError):
                while await stream.receive_some(4096):
                    pass
    finally:
        os.close(directory)


@pytest.mark.parametrize(
    "runs",
    [
        None,  # no list at all
        [{"instance_id": "a-0"}],  # a run without its id, start or state
        [5],  # not a run
    ],
)
async def test_a_replacement_monitor_whose_list_of_runs_is_unreadable_is_tried_again(
    tmp_path, runs: object
) -> None:
    """A reply is read by whoever asked: the adoption's read of the runs failed with a
    KeyError or TypeError, out of the process manager, and the agent exited."""
    state_dir = str(tmp_path / "node")
    os.makedirs(state_dir, mode=0o700)
    manager = ProcessManager(state_dir=state_dir, node_id="n1", restart_jitter=0.0)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(_monitor_with_a_bad_list, state_dir, runs)
            await nursery.start(manager.run)
            pid = None
            try:
                await wait_real(lambda: manager.monitors_replaced == 1, timeout=30)
                assert manager._generation >= 2  # the bad list was a lost monitor too
                pid = monitor_pid(state_dir)
                assert pid is not None
            finally:
                with trio.CancelScope(shield=True):
                    await manager.shutdown_monitor(kill_jobs=True)
                    if pid is not None:
                        await wait_real(lambda: ended(pid))
                nursery.cancel_scope.cancel()
