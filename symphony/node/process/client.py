"""The agent's connection to the node monitor (Trio side of ``monitor_server``).

:class:`MonitorClient` starts the monitor if none answers (detached, in its own session,
so it outlives the agent), then keeps one unix-socket connection: requests are matched to
replies by id, and ``ended`` events are kept per run until someone collects them with
:meth:`MonitorClient.wait_ended`. If the monitor goes away the client calls its
``on_lost`` hook at once, then its ``run`` raises :class:`MonitorLost`; the
:class:`~symphony.node.process.manager.ProcessManager` then starts a new monitor with a
new client and re-adopts the jobs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import trio

from symphony.errors import SymphonyError

from .monitorfiles import LOCK_NAME, SOCKET_NAME

logger = logging.getLogger(__name__)


class MonitorError(SymphonyError):
    """The monitor refused a request; the message is its reason."""

    def __init__(self, message: str, *, spawn_error: bool = False) -> None:
        super().__init__(message)
        self.spawn_error = spawn_error


class MonitorLost(MonitorError):
    """The connection to the node monitor broke: the monitor died or could not start."""


async def _connect(state_dir: str) -> trio.SocketStream:
    path = os.path.join(state_dir, SOCKET_NAME)
    if len(path.encode()) < 100:
        return await trio.open_unix_socket(path)
    # Unix socket paths are limited to ~107 bytes: reach a deep state dir through a
    # short magic link to an open directory descriptor.
    directory = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return await trio.open_unix_socket(f"/proc/self/fd/{directory}/{SOCKET_NAME}")
    finally:
        os.close(directory)


async def stop_monitor(jobs_dir: str | os.PathLike[str]) -> None:
    """Shut down (killing its jobs) the node monitor serving ``jobs_dir``, if one runs.

    Speaks the monitor's protocol directly: a ``MonitorClient`` would start a monitor
    when none answers, the opposite of what is wanted here.
    """
    if not monitor_alive(jobs_dir):
        return
    try:
        stream = await _connect(os.fspath(jobs_dir))
    except OSError:
        return  # exiting already (it holds the lock until it is gone)
    async with stream:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(json.dumps({"id": 1, "op": "shutdown", "kill": True}).encode())
            await stream.send_all(b"\n")
            while await stream.receive_some(4096):
                pass  # the reply, then EOF when it exits


async def kill_all_jobs(state_dir: str) -> None:
    """Start a monitor for ``state_dir`` only to kill every job and exit: what a shutdown
    does when its monitor has just died (the new one takes over the runs on disk)."""
    async with trio.open_nursery() as nursery:
        client: MonitorClient = await nursery.start(MonitorClient(state_dir).run)
        await client.shutdown(kill_jobs=True)


def monitor_alive(jobs_dir: str | os.PathLike[str]) -> bool:
    """True while a node monitor holds ``jobs_dir``'s lock."""
    try:
        fd = os.open(os.path.join(jobs_dir, LOCK_NAME), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False  # nobody holds it; closing the descriptor lets go of it again
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


async def monitor_gone(jobs_dir: str | os.PathLike[str], *, poll: float = 0.05) -> None:
    """Return once no node monitor holds ``jobs_dir``'s lock (the monitor has exited)."""
    while monitor_alive(jobs_dir):
        await trio.sleep(poll)


# The monitor needs only this package and the standard library. ``python -m`` would
# first import ``symphony`` and ``symphony.node`` (the whole node agent: TLS, wire, ...),
# costing the long-lived monitor hundreds of milliseconds and megabytes for nothing; so
# the bootstrap registers bare parent packages and imports the monitor module alone.
# ``-S`` skips ``site``: the monitor imports nothing outside the standard library, and
# the ``.pth`` files of an environment (editable-install finders, distutils shims, ...)
# would otherwise run and stay resident in it (about 5 MiB of its ~15 MiB).
_BOOTSTRAP = """
import sys, types
for name, path in zip(("symphony", "symphony.node"), sys.argv[1:3]):
    package = types.ModuleType(name)
    package.__path__ = [path]
    sys.modules[name] = package
from symphony.node.process.monitor_server import main
sys.exit(main(sys.argv[3:]))
"""


def monitor_command(state_dir: str) -> list[str]:
    """The command line that starts a detached monitor for ``state_dir``."""
    node_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    package_dir = os.path.dirname(node_dir)
    return [sys.executable, "-S", "-c", _BOOTSTRAP, package_dir, node_dir]


async def start_monitor(state_dir: str) -> None:
    """Start a detached monitor for ``state_dir`` (a no-op if one is already running)."""
    try:
        result = await trio.run_process(
            [*monitor_command(state_dir), "--state-dir", state_dir, "--daemon"],
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError as error:
        # The agent is short of what a process takes (descriptors, memory, processes):
        # as often as not what killed the monitor. Lost like any other monitor: the
        # owner tries again with backoff, rather than the agent exiting.
        raise MonitorLost(f"the node monitor could not be started: {error}") from error
    if result.returncode != 0:
        raise MonitorLost(
            f"the node monitor did not start (exit {result.returncode}); "
            f"see {os.path.join(state_dir, 'monitor.log')}"
        )


def _message(line: bytes) -> dict[str, Any]:
    """One line from the monitor as a message: a JSON object, an ``ended`` event with its
    run and the run's id (what :meth:`MonitorClient._dispatch` relies on; a reply's
    fields are read by whoever asked). Anything else raises MonitorLost: a monitor that
    says what this agent cannot read is no monitor it can work with."""
    try:
        message = json.loads(line)
    except ValueError as error:  # not JSON, or not UTF-8
        raise MonitorLost(f"the node monitor sent a line this agent cannot read: {error}") from None
    if not isinstance(message, dict):
        raise MonitorLost(f"the node monitor sent a line this agent cannot read: {line[:200]!r}")
    if message.get("event") == "ended":
        run = message.get("run")
        if not isinstance(run, dict) or not isinstance(run.get("run_id"), str):
            raise MonitorLost(
                f"the node monitor sent an end this agent cannot read: {line[:200]!r}"
            )
    return message


class MonitorClient:
    """One agent's connection to its node monitor."""

    def __init__(self, state_dir: str, *, on_lost: Callable[[], None] | None = None) -> None:
        self.state_dir = os.path.abspath(state_dir)
        self._on_lost = on_lost
        self._stream: trio.SocketStream | None = None
        self._send_lock = trio.Lock()
        self._next_id = 0
        self._pending: dict[int, list[Any]] = {}  # id -> [Event, reply]
        self._ended: dict[str, dict[str, Any]] = {}
        self._ended_waiters: dict[str, trio.Event] = {}
        self._ended_watchers: dict[str, trio.Event] = {}  # see watch_ended
        self._closing = False
        self._tasks: trio.Nursery | None = None
        self._acks: list[str] = []  # run ids to acknowledge without a reply (ack_soon)
        self._acks_queued = trio.Event()
        #: True once the connection broke (not by :meth:`shutdown`): whatever this client
        #: was doing is over, and a new client must take over.
        self.lost = False
        #: Set by the owner once the client served it (a replacement that came up).
        self.ready = False

    async def run(
        self, *, task_status: trio.TaskStatus[MonitorClient] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect (starting the monitor if needed) and serve replies and events."""
        try:
            stream = await _connect(self.state_dir)
        except OSError:
            await start_monitor(self.state_dir)
            try:
                stream = await _connect(self.state_dir)
            except OSError as error:
                # It started, or another process holds its lock, yet nothing answers: it
                # was killed at once, or the lock is held by one on its way out (a logger
                # forked from the old monitor, for the instant before it lets go). The
                # owner tries again, as for any monitor lost.
                raise MonitorLost(
                    f"the node monitor could not be reached ({error.strerror or error}); "
                    f"see {os.path.join(self.state_dir, 'monitor.log')}"
                ) from error
        async with stream, trio.open_nursery() as self._tasks:
            self._stream = stream
            self._tasks.start_soon(self._send_acks)
            task_status.started(self)
            buffer = b""
            why = "the node monitor went away"
            try:
                while True:
                    data = await stream.receive_some(1 << 16)
                    if not data:
                        break
                    buffer += data
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        self._dispatch(_message(line))
            except trio.BrokenResourceError:
                pass
            except MonitorLost as error:  # raised by _message
                # Only a monitor bug or a version skew sends one. Raised, it ended the
                # agent; read past, the line's request would wait forever. The
                # connection is dropped instead, as lost: the owner connects again.
                why = str(error)
                logger.error("%s; dropping the connection to the node monitor", why)
            finally:
                self._mark_lost()
                for slot in self._pending.values():
                    slot[1] = {"ok": False, "error": why, "lost": True}
                    slot[0].set()
            self._tasks.cancel_scope.cancel()
            if not self._closing:
                raise MonitorLost(f"the connection to the node monitor was lost: {why}")

    def _mark_lost(self) -> None:
        # Synchronously, before any waiter learns of it: whoever sees a request or an
        # actor fail because of the loss finds the manager already waiting for a new one.
        if self._closing or self.lost:
            return
        self.lost = True
        if self._on_lost is not None:
            self._on_lost()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("event") == "ended":
            run = message["run"]  # checked by _message
            self._ended[run["run_id"]] = run
            for waiters in (self._ended_waiters, self._ended_watchers):
                waiter = waiters.pop(run["run_id"], None)
                if waiter is not None:
                    waiter.set()
            return
        request_id = message.get("id")  # None: the monitor could not read a request
        slot = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if slot is not None:
            slot[1] = message
            slot[0].set()

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return the reply; MonitorError if it was refused.

        Cancellation is safe at every await: the request's slot is always removed, and a
        line cancelled half-sent breaks the connection (see :meth:`_send_line`).
        """
        if self._stream is None or self.lost:
            # A checkpoint first: a caller being cancelled gets its Cancelled, not this
            # error. A node cancelled as a whole (run_node in an embedding program)
            # closes this connection while a start may still be on its way here, and
            # the error, grouped with the Cancelled, outlived the cancel.
            await trio.lowlevel.checkpoint()
            raise MonitorLost("not connected to the node monitor")
        self._next_id += 1
        request_id = self._next_id  # our own: other requests move _next_id meanwhile
        slot: list[Any] = [trio.Event(), None]
        self._pending[request_id] = slot
        line = json.dumps({"id": request_id, "op": op, **fields}).encode() + b"\n"
        try:
            try:
                async with self._send_lock:
                    await self._send_line(line)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
                self._mark_lost()
                raise MonitorLost("the connection to the node monitor was lost") from error
            await slot[0].wait()
        finally:
            self._pending.pop(request_id, None)
        reply: dict[str, Any] = slot[1]
        if not reply.get("ok"):
            error_type = MonitorLost if reply.get("lost") else MonitorError
            raise error_type(str(reply.get("error")), spawn_error=bool(reply.get("spawn_error")))
        return reply

    async def _send_line(self, line: bytes) -> None:
        """Write ``line`` whole, or break the connection.

        A cancellation after part of the line went out (the monitor stopped reading and
        the socket buffer is full) would leave that part on the stream, and the next
        request's line would be read glued to it and never answered. So the connection
        is shut down instead: the reader sees its end, fails every pending request as
        lost, and the agent starts a new client, as for any other loss.
        """
        assert self._stream is not None
        sock = self._stream.socket
        view = memoryview(line)
        sent = 0
        try:
            while sent < len(view):
                sent += await sock.send(view[sent:])
        except OSError as error:
            raise trio.BrokenResourceError(str(error)) from error
        except BaseException:
            if sent:
                self._mark_lost()
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            raise

    def ended(self, run_id: str) -> dict[str, Any] | None:
        """The end record of ``run_id`` if it has ended (as announced), else None."""
        return self._ended.get(run_id)

    def remember_ended(self, run: dict[str, Any]) -> None:
        """Record an end learned otherwise (from ``hello`` on adoption)."""
        self._ended[run["run_id"]] = run

    async def wait_ended(self, run_id: str) -> dict[str, Any]:
        """Wait until ``run_id`` has ended (leader exited, no member left); its record."""
        while run_id not in self._ended:
            event = self._ended_waiters.setdefault(run_id, trio.Event())
            await event.wait()
        return self._ended[run_id]

    def watch_ended(self, run_id: str, event: trio.Event) -> None:
        """Set ``event`` when ``run_id`` has ended (at once if it has), so that its owner
        can wait for that or something else of its own with one event and no task (see
        :meth:`unwatch_ended`)."""
        if run_id in self._ended:
            event.set()
        else:
            self._ended_watchers[run_id] = event

    def unwatch_ended(self, run_id: str) -> None:
        """Forget the event of :meth:`watch_ended` (its owner was woken otherwise)."""
        self._ended_watchers.pop(run_id, None)

    async def ack(self, run_id: str) -> None:
        """Tell the monitor this end has been reported, so it forgets the run."""
        self._ended.pop(run_id, None)
        await self.request("ack", run_id=run_id)

    def ack_soon(self, run_id: str) -> None:
        """Like :meth:`ack`, without waiting, and without a reply: the caller may even be
        gone when it is sent. A job crashing in a loop is acknowledged many times a
        second; a request and its reply each time (a task here, a reply to write there,
        a wake-up of the agent to read it) took CPU from the restarts themselves.

        An acknowledgement lost with the connection is harmless: the next hello reports
        the run again and the new agent acknowledges it then.
        """
        self._ended.pop(run_id, None)
        self._acks.append(run_id)
        self._acks_queued.set()

    async def _send_acks(self) -> None:
        """Send the acknowledgements queued by :meth:`ack_soon`, those queued together in
        one write, as requests without an id: a monitor answers none of those (an
        older monitor answers with no id, and that answer is dropped)."""
        while True:
            await self._acks_queued.wait()
            self._acks_queued = trio.Event()
            acks, self._acks = self._acks, []
            lines = b"".join(json.dumps({"op": "ack", "run_id": r}).encode() + b"\n" for r in acks)
            try:
                async with self._send_lock:
                    await self._send_line(lines)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return  # the reader sees the connection end and reports the loss

    async def shutdown(self, *, kill_jobs: bool) -> None:
        """Stop the monitor (and with ``kill_jobs`` every job first). For tests and teardown."""
        self._closing = True
        await self.request("shutdown", kill=kill_jobs)
