"""The finish line every launch and restart figure shares: the job's first line.

A benchmark job is ``/bin/sh -c 'echo "$0 $$" > FIFO; exec sleep N' NAME``: its first act
is to write one line, ``NAME PID``, into a named pipe this process reads. The moment the
line arrives is when the job is provably running user code, whatever the orchestrator
reports about it, so Symphony and the peer are timed against the same event. ``exec``
keeps the PID: the process that wrote the line is the one a restart test kills.

Lines shorter than ``PIPE_BUF`` (4 KiB) are written atomically, so many jobs may share one
pipe. The probe holds a writer of its own open so the pipe never reports end-of-file
between jobs.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import trio


@dataclass(frozen=True)
class Line:
    """One job start: who, which process, and when the line was read."""

    name: str
    pid: int
    at: float  # time.perf_counter()


class Probe:
    """Reads job start lines from a FIFO; ``wait_for`` returns when a name's line arrives.

    Use it as an async context manager inside a nursery-owning task::

        async with Probe(tmp / "probe.fifo") as probe:
            await api.create("job-1", probe.command("job-1"))
            line = await probe.wait_for("job-1")
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[str, list[Line]] = defaultdict(list)
        self._changed = trio.Event()
        self._nursery: trio.Nursery | None = None

    def command(self, name: str, *, seconds: int = 100_000) -> list[str]:
        """The job's command: write ``NAME PID`` to the probe, then become ``sleep``."""
        script = f'echo "$0 $$" > {self.path}; exec sleep {seconds}'
        return ["/bin/sh", "-c", script, name]

    async def __aenter__(self) -> Probe:
        if self.path.exists():
            self.path.unlink()
        os.mkfifo(self.path, 0o600)
        # O_NONBLOCK on the read end so the open does not wait for a writer; then our own
        # writer keeps the pipe from ever reading as closed between jobs.
        self._read_fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._write_fd = os.open(self.path, os.O_WRONLY)
        self._stream = trio.lowlevel.FdStream(self._read_fd)
        self._manager = trio.open_nursery()
        self._nursery = await self._manager.__aenter__()
        self._nursery.start_soon(self._read)
        return self

    async def __aexit__(self, *exc: object) -> bool | None:
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()
        result = await self._manager.__aexit__(*exc)
        await self._stream.aclose()
        os.close(self._write_fd)
        self.path.unlink(missing_ok=True)
        return result

    async def _read(self) -> None:
        buffer = b""
        while True:
            chunk = await self._stream.receive_some(65536)
            now = time.perf_counter()
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for raw in complete:
                name, _, pid = raw.decode(errors="replace").partition(" ")
                if pid.strip().isdigit():
                    self.lines[name].append(Line(name, int(pid), now))
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, name: str, *, count: int = 1, timeout: float = 60.0) -> Line:
        """The ``count``-th start line of ``name`` (1 = its first start)."""
        with trio.fail_after(timeout):
            while len(self.lines[name]) < count:
                await self._changed.wait()
        return self.lines[name][count - 1]

    async def wait_all(self, names: list[str], *, timeout: float = 60.0) -> float:
        """When the last of ``names`` wrote its first line (perf_counter seconds)."""
        with trio.fail_after(timeout):
            while any(not self.lines[n] for n in names):
                await self._changed.wait()
        return max(self.lines[n][0].at for n in names)

    def pids(self) -> list[int]:
        """Every PID that ever wrote a line (to clean up whatever is left)."""
        return [line.pid for lines in self.lines.values() for line in lines]

    def kill_all(self) -> None:
        """SIGKILL every job that wrote a line and may still run (cleanup, not a test)."""
        import signal

        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
