"""The node monitor process: its unix socket, its protocol, and its ``main``.

Run as ``python -m symphony.node.process.monitor_server --state-dir DIR [--daemon]``; the
agent does this (with ``--daemon``) when no monitor answers. It imports only the
standard library, so it stays small.

Protocol: newline-delimited JSON over ``<state_dir>/monitor.sock`` (the directory is
0700: only the node's user can connect). A request is ``{"id": n, "op": ..., ...}`` and
gets exactly one reply ``{"id": n, "ok": true, ...}`` or ``{"id": n, "ok": false,
"error": "..."}``; a request without an ``id`` is carried out and gets no reply.
Unprompted, the monitor pushes ``{"event": "ended", "run": {...}}`` to every connected
agent when a run ends (paced: see :data:`ANNOUNCE_GAP`). Operations:

- ``hello`` -> ``runs``: every run it knows, live or ended-but-unacknowledged;
- ``spawn`` (run_id, instance_id, command, env, cwd, log_max_bytes, log_backups, grace,
  mask (secret values the logger masks; held in memory only),
  meta, restart (optional: ``policy``, ``jitter``, ``state``: the monitor then restarts
  the run itself when it ends on its own, and the ``ended`` event's run carries its
  ``decision``, see ``monitor``)) -> ``run``, or ``ok: false`` with the spawn error as
  ``error``;
- ``signal`` (run_id, signal, stop (optional: true when it stops the instance, whose
  runs the monitor then restarts no more, see ``Monitor.hold``)) -> ``members``: signals
  the run's whole process tree;
- ``ack`` (run_id): the agent has reported this run's end, forget it;
- ``stats`` -> ``pid``, ``rss_bytes``, ``runs``;
- ``shutdown`` (kill: bool): optionally SIGKILL every job, then exit.

Only one monitor runs per state dir: it holds an exclusive ``flock`` on ``monitor.lock``.
A monitor with no live job and no agent connected for :data:`IDLE_EXIT` seconds exits
on its own; one that starts meanwhile waits for it (``monitorstart.take_lock``).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections import deque

from symphony.heap import release_free_heap

from .monitor import LOGGER_WAIT, Monitor
from .monitorfiles import LOCK_NAME, SOCKET_NAME
from .monitorstart import daemonize, take_lock
from .runstore import Run
from .spawn import SpawnError, Started, raise_open_files

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_REQUEST = 1 << 20  # a request line longer than this closes the connection
TRIM_AFTER_IDLE = 1.0  # seconds without a request or event before the heap is trimmed
#: Seconds between two writes of ``ended`` events to the agents. An end after a quiet
#: spell is announced at once; ends within the gap wait and go together, so a job in a
#: crash loop (restarted here at once) wakes the agent once per gap, not once per restart
#: on the cores the restarted job needs. A reply flushes what waits first: the order of
#: everything an agent reads is the order in which it happened.
ANNOUNCE_GAP = 0.02
#: Seconds a monitor with no live job and no agent connected waits, then exits (its
#: socket removed; its lock let go). Jobs of a killed or stopped agent keep it forever;
#: with none it would be a stray process for good (after ``symphony up`` killed, say).
#: An agent that comes back starts a fresh monitor if this one has gone, so the grace
#: only spares that start (about 0.1 s): a minute covers an agent's restart (systemd's
#: 0.1 s delay plus the agent's own start, a few seconds on a loaded machine) many times.
IDLE_EXIT = 60.0


class _Client:
    """One connected agent: buffered, non-blocking both ways (a slow reader never stalls us)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbox = bytearray()
        self.outbox = bytearray()


class MonitorServer:
    """The select loop around a :class:`Monitor`."""

    def __init__(self, state_dir: str) -> None:
        self.selector = selectors.DefaultSelector()
        self.clients: dict[int, _Client] = {}
        # Hellos answered once every end seen is announced: (client, request id, deadline)
        self._hellos: list[tuple[_Client, Any, float]] = []
        # Spawns whose job runs and has no logger yet, with their replies:
        # (client, reply, run, its pipes), attached in order (see _attach_started)
        self._started: deque[tuple[_Client, dict[str, Any], Run, Started]] = deque()
        self.running = True
        # Ended events not yet written (see ANNOUNCE_GAP), and when the last were.
        self._held: list[bytes] = []
        # Agents with replies waiting in their outbox, written once the requests read
        # together are done (see _send).
        self._replied: list[_Client] = []
        self._announced_at = -ANNOUNCE_GAP
        self.monitor = Monitor(state_dir, announce=self._announce)
        # SIGCHLD wakes select() through this socket pair (the handler itself does nothing).
        self._wake_r, self._wake_w = socket.socketpair()
        for s in (self._wake_r, self._wake_w):
            s.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wakeups)
        # Since when the monitor has had nothing to keep and no agent (see _idle_deadline).
        self._idle_since: float | None = None
        # How long it waits so before it exits: IDLE_EXIT, or nothing for a monitor no
        # agent wants (see main) until one connects.
        self.grace = IDLE_EXIT
        self.listener = self._listen()

    def _listen(self) -> socket.socket:
        """A listening socket under :data:`SOCKET_NAME`, in place of any left there."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Relative to our cwd (the state dir): unix socket paths are limited to ~107 bytes.
        if os.path.exists(SOCKET_NAME):
            os.unlink(SOCKET_NAME)
        listener.bind(SOCKET_NAME)
        listener.listen(16)
        listener.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ, self._accept)
        return listener

    def serve_forever(self) -> None:
        # Once work stops for a moment (the agent's hello answered, a burst of starts
        # done), the heap pages it freed go back to the system: see symphony.heap.
        trim_at: float | None = time.monotonic() + TRIM_AFTER_IDLE
        while self.running:
            timeout = self.monitor.next_timeout()
            if trim_at is not None:
                timeout = min(timeout, max(0.0, trim_at - time.monotonic()))
            if self._hellos:
                timeout = min(timeout, max(0.0, self._hellos[0][2] - time.monotonic()))
            if self._held:
                timeout = min(
                    timeout, max(0.0, self._announced_at + ANNOUNCE_GAP - time.monotonic())
                )
            if (idle_until := self._idle_deadline()) is not None:
                timeout = min(timeout, max(0.0, idle_until - time.monotonic()))
            events = self._select(timeout)
            self.monitor.new_iteration()
            for key, mask in events:
                key.data(key.fileobj, mask)
            self._attach_started()  # before the reap: a run's end needs its logger
            self._flush_replies()
            self.monitor.reap()
            self.monitor.tick()
            self.monitor.sync()
            self._answer_hellos()
            if self._held and time.monotonic() >= self._announced_at + ANNOUNCE_GAP:
                self._release_held()
            self._flush_replies()
            if events:
                trim_at = time.monotonic() + TRIM_AFTER_IDLE
            elif trim_at is not None and time.monotonic() >= trim_at:
                trim_at = None
                release_free_heap()
            idle_until = self._idle_deadline()
            if idle_until is not None and time.monotonic() >= idle_until and self._retire():
                self.running = False
        self.monitor.flush()
        self._release_held()
        for client in list(self.clients.values()):
            self._flush(client, final=True)
            self._close(client)
        if self.listener.fileno() != -1:  # not closed by _retire
            self.listener.close()
            os.unlink(SOCKET_NAME)

    # ---- exiting when idle ----------------------------------------------------------
    def _idle_deadline(self) -> float | None:
        """When the monitor exits if nothing changes meanwhile (see :data:`IDLE_EXIT`):
        None while an agent is connected, or a job lives, or any work is left."""
        if (
            self.clients
            or self._started
            or self._hellos
            or self._held
            or not self.running
            or not self.monitor.idle()
        ):
            self._idle_since = None
            return None
        if self._idle_since is None:
            self._idle_since = time.monotonic()
        return self._idle_since + self.grace

    def _retire(self) -> bool:
        """Stop listening for good (True), unless an agent connected just now (False:
        the monitor then serves it, under a new listener).

        The socket's name goes first: no agent can connect after that. One that tries
        starts a monitor of its own, which waits for our lock if it finds no socket
        (``take_lock``): we let go of it at once (``main``), the records made durable
        before. A connection made before the name went is still waiting to be
        accepted: it wins, and the monitor stays.

        Two are reset by the close, not served: one whose connect raced the removal
        of the name and was queued after the last accept (microseconds), and one that
        cannot be accepted for want of a descriptor (the monitor stays, but closing
        the listener drops what waits on it). Their agents see a monitor lost, as
        after any loss, and connect again (to this one, or one they start).
        """
        self.monitor.flush()  # the records as the next monitor will read them
        with contextlib.suppress(FileNotFoundError):  # removed by hand: no agent comes
            os.unlink(SOCKET_NAME)
        late = False
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                break
            except OSError:  # one waits that cannot be taken (no descriptor left): stay,
                late = True  # though the close resets it (see above)
                break
            self._add_client(conn)
            late = True
        self.selector.unregister(self.listener)
        self.listener.close()
        if late:
            self.listener = self._listen()
            return False
        print(
            f"no job and no agent for {self.grace:g} s: the node monitor exits",
            file=sys.stderr,
            flush=True,
        )
        return True

    def _select(self, timeout: float) -> list[tuple[selectors.SelectorKey, int]]:
        """Wait for the next events; also for the logger the monitor's bookkeeping waits
        for (``Monitor.waiting_for``), watched only during this wait: the monitor closes
        its descriptor once that logger is done, and the number may then be reused."""
        logger = self.monitor.waiting_for()
        if logger is None:
            return self.selector.select(timeout)
        self.selector.register(logger, selectors.EVENT_READ, _nothing)
        try:
            return self.selector.select(timeout)
        finally:
            self.selector.unregister(logger)

    # ---- connections ----------------------------------------------------------------
    def _drain_wakeups(self, sock: Any, mask: int) -> None:
        try:
            while sock.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _accept(self, sock: Any, mask: int) -> None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        self._add_client(conn)

    def _add_client(self, conn: socket.socket) -> None:
        self.grace = IDLE_EXIT  # an agent wants this monitor after all
        conn.setblocking(False)
        client = _Client(conn)
        self.clients[conn.fileno()] = client
        self.selector.register(conn, selectors.EVENT_READ, self._on_io)

    def _on_io(self, sock: Any, mask: int) -> None:
        client = self.clients.get(sock.fileno())
        if client is None:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(client)
        if not mask & selectors.EVENT_READ:
            return
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(client)
            return
        client.inbox += data
        if b"\n" not in data:
            lines = []
        else:  # split once: cutting one line at a time copied the rest for each line
            *lines, rest = client.inbox.split(b"\n")
            client.inbox = rest
        for line in lines:
            reply = self._handle_line(line, client)
            if reply is not None and reply["id"] is not _NO_REPLY:
                self._send(client, reply)
        if len(client.inbox) > MAX_REQUEST:
            self._close(client)

    def _send(self, client: _Client, message: dict[str, Any]) -> None:
        """Queue a reply; the loop writes it with the others of its turn
        (:meth:`_flush_replies`): the replies to a burst's spawn requests, read together,
        go in one write, which wakes the agent once, not once per reply."""
        self._release_held()  # what happened before this reply is read before it
        client.outbox += json.dumps(message).encode() + b"\n"
        if not self._replied or self._replied[-1] is not client:
            self._replied.append(client)

    def _flush_replies(self) -> None:
        """Write the replies queued by :meth:`_send`."""
        replied, self._replied = self._replied, []
        for client in replied:
            if client.outbox and client.sock.fileno() in self.clients:
                self._flush(client)

    def _release_held(self) -> None:
        """Write the held ``ended`` events to every agent (see ANNOUNCE_GAP)."""
        if not self._held:
            return
        lines, self._held = b"".join(self._held), []
        self._announced_at = time.monotonic()
        for client in list(self.clients.values()):
            client.outbox += lines
            self._flush(client)

    def _flush(self, client: _Client, *, final: bool = False) -> None:
        if final:
            client.sock.setblocking(True)
            client.sock.settimeout(1.0)
        try:
            while client.outbox:
                sent = client.sock.send(client.outbox)
                del client.outbox[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            client.outbox.clear()  # the agent went away; hello will resync the next one
        if client.sock.fileno() in self.clients:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.outbox else 0)
            self.selector.modify(client.sock, events, self._on_io)

    def _close(self, client: _Client) -> None:
        self.clients.pop(client.sock.fileno(), None)
        self.selector.unregister(client.sock)
        client.sock.close()

    def _announce(self, run: Run) -> None:
        if not self.clients:
            return  # no agent: the next one's hello lists the run
        self._held.append(json.dumps({"event": "ended", "run": run.public()}).encode() + b"\n")
        if time.monotonic() >= self._announced_at + ANNOUNCE_GAP:
            self._release_held()  # the first after a quiet spell: at once

    def _answer_hellos(self) -> None:
        """Answer the hellos held back (:meth:`_handle_line`) once no end awaits its
        announcement, or at their deadline."""
        now = time.monotonic()
        while self._hellos and (not self.monitor.finishing or now >= self._hellos[0][2]):
            client, request_id, _ = self._hellos.pop(0)
            if client.sock.fileno() in self.clients:  # still connected
                self._send(client, {"id": request_id, "ok": True, "runs": self.monitor.records()})

    def _attach_started(self) -> None:
        """Give the jobs started since the last call to their loggers, and answer their
        spawns, in the order the requests came.

        Every spawn request read in one iteration of the loop starts its job first
        (about 0.1 ms each), and only then are the jobs given to their loggers (which
        may fork one: a fork of the monitor and its copy-on-write faults, 1-3 ms,
        most of a spawn's cost; see :mod:`.logpool`). In a burst of 100 starts, the
        last job waits for none of that; what a job writes meanwhile waits in its pipes.
        """
        while self._started:
            client, reply, run, started = self._started.popleft()
            self.monitor.attach(run, started)
            reply["run"] = run.public()
            reply["ok"] = True
            if reply["id"] is not _NO_REPLY and client.sock.fileno() in self.clients:
                self._send(client, reply)

    # ---- requests -------------------------------------------------------------------
    def _handle_line(self, line: bytes | bytearray, client: _Client) -> dict[str, Any] | None:
        """The reply to one request line; None for a hello held back, or for a spawn
        whose job has started (answered with its logger: :meth:`_attach_started`).

        A hello is answered once every end the monitor has seen is announced (an end
        waits for its logger to drain: :data:`~.monitor.LOGGER_WAIT` at most), as it
        was when an end blocked the loop: a new agent then finds each ended run ended,
        with its logs complete, not still ``ending`` under a leader that is gone.
        """
        try:
            request = json.loads(line)
        except ValueError:
            return {"id": None, "ok": False, "error": "request is not valid JSON"}
        if not isinstance(request, dict):
            return {"id": None, "ok": False, "error": "request must be a JSON object"}
        if request.get("op") != "spawn":
            self._attach_started()  # every other request sees the spawns before it done
        if request.get("op") == "hello" and self.monitor.finishing:
            deadline = time.monotonic() + LOGGER_WAIT
            self._hellos.append((client, request.get("id"), deadline))
            return None
        reply: dict[str, Any] = {"id": request.get("id", _NO_REPLY)}
        try:
            if request.get("op") == "spawn":
                run, started = self.monitor.start(request, None)
                self._started.append((client, reply, run, started))
                return None
            reply.update(self._handle(request))
            reply["ok"] = True
        except SpawnError as error:
            reply.update(ok=False, error=str(error), spawn_error=True)
        except (ValueError, KeyError, TypeError) as error:
            reply.update(ok=False, error=str(error.args[0] if error.args else error))
        self._attach_started()  # a refused spawn is answered after the spawns before it
        return reply

    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        monitor = self.monitor
        if op == "hello":
            return {"runs": monitor.records()}
        if op == "signal":
            signum = request.get("signal")
            if not isinstance(signum, int) or isinstance(signum, bool) or signum < 0:
                raise ValueError("signal must be a non-negative int")
            stop = request.get("stop") is True
            return {"members": monitor.signal(str(request.get("run_id")), signum, stop=stop)}
        if op == "ack":
            monitor.ack(str(request.get("run_id")))
            return {}
        if op == "stats":
            with open("/proc/self/statm") as f:
                rss_pages = int(f.read().split()[1])
            return {
                "pid": os.getpid(),
                "rss_bytes": rss_pages * os.sysconf("SC_PAGE_SIZE"),
                "runs": len(monitor.runs),
                "subreaper": monitor.subreaper,
            }
        if op == "shutdown":
            if request.get("kill"):
                monitor.kill_all()
            self.running = False
            return {}
        raise ValueError(f"unknown op {op!r}")


#: The id of a request sent without one: it is done, and not answered (an agent's
#: acknowledgements of ends, sent many times a second by a job crashing in a loop).
_NO_REPLY = object()


def _nothing(fileobj: Any, mask: int) -> None:
    """A wake-up: the loop's reap after the events does the work."""


USAGE = "usage: monitor_server --state-dir DIR [--daemon]"


def parse_args(argv: list[str]) -> tuple[str, bool] | None:
    """``(state_dir, daemon)`` from the command line the agent wrote, None if malformed.

    By hand rather than with argparse, which (with gettext and locale, which it loads
    to print) would stay resident in the monitor for good: over a MiB.
    """
    state_dir, daemon = None, False
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--daemon":
            daemon = True
        elif arg == "--state-dir" and rest:
            state_dir = rest.pop(0)
        elif arg.startswith("--state-dir="):
            state_dir = arg.partition("=")[2]
        else:
            return None
    return None if not state_dir else (state_dir, daemon)


def _report(ready: int | None, answer: bytes) -> bool:
    """Tell the process that started us (``daemonize``) how the start went, if it is
    still there to hear it (False: it is not). It may not be: the agent's start was
    cancelled (the agent stopped, say, or ``symphony up`` was interrupted) while we
    started, and the pipe's other end is closed. Dying here left a stale socket behind;
    see ``main`` for what such a monitor does."""
    if ready is None:
        return True
    try:
        os.write(ready, answer)
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point of the monitor process (``--state-dir DIR [--daemon]``)."""
    parsed = parse_args(sys.argv[1:] if argv is None else argv)
    if parsed is None:
        print(USAGE, file=sys.stderr)
        return 2
    state_dir = os.path.abspath(parsed[0])
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    ready = daemonize(state_dir) if parsed[1] else None
    os.chdir(state_dir)
    lock = os.open(LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    if not take_lock(lock):
        _report(ready, b"busy")
        return 0
    raise_open_files()  # three descriptors per live run: see .logpool
    server = MonitorServer(state_dir)
    if ready is not None:
        if not _report(ready, b"ok"):
            # No agent wants this monitor (its start was cancelled): with no job (one
            # taken over from a monitor before it would keep it), it exits at once,
            # its socket removed, unless an agent connects first.
            server.grace = 0.0
        os.close(ready)
    else:
        print("ready", flush=True)
    server.serve_forever()
    os.close(lock)  # at once: a monitor started meanwhile waits for it (take_lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
