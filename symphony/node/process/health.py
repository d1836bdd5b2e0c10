"""Health probes: ``exec`` (exit 0), ``http`` (GET answers 2xx/3xx), ``tcp`` (connects).

Each probe returns None when healthy, or a short reason. :func:`watch_health` runs the
probe loop of one run: wait ``initial_delay_seconds``, then probe every
``period_seconds`` (at least :data:`MIN_PERIOD`) with a ``timeout_seconds`` limit;
``failure_threshold`` failures in a row make the run unhealthy (and the
ProcessSupervisor restarts it by its policy). A success resets the count. Every change
between healthy and unhealthy is reported.

An exec probe is part of its job, as a Kubernetes exec probe is part of its container:
it runs with the job's environment (secrets included) in the job's working directory,
as the leader of a process group of its own, and the whole group is killed when the
probe ends, however it ends (exit, timeout, the job's stop): a background process it
started does not outlive it. A process that leaves the group (``setsid``) escapes it.
The exec probes of a node start at most :data:`EXEC_PROBES_PER_SECOND` a second
together (:class:`ProbePacer`), however many instances probe.

The HTTP probe speaks just enough HTTP/1.0 to read a status line: no client library.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import ssl
import subprocess
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import trio

from symphony.wire import JobHealthCheck

from .records import Health

#: The shortest pause between two probes of a run. A spec asking for less is refused
#: (the spec's own floor is the same), but one stored before that rule, or sent by an
#: older Conductor, still reaches a node: it is probed at this pace.
MIN_PERIOD = 1.0
#: How many exec probes one node starts a second, over all its instances. Each is a
#: process the agent spawns and reaps; past this many they wait their turn.
EXEC_PROBES_PER_SECOND = 50.0


class ProbePacer:
    """Spaces the starts of a node's exec probes :data:`EXEC_PROBES_PER_SECOND` apart,
    first come first served. A probe's wait for its turn is not part of its timeout: a
    busy node delays probes, it does not fail them.

    The probes waiting form one queue (a fair lock): only its head waits for the time,
    and a probe cancelled while it waits (its job stopped) leaves the queue without
    taking a turn. Turns handed out in advance were kept by cancelled probes: 500 of
    them cancelled by a mass stop made the next probe wait 10 s.
    """

    def __init__(self, per_second: float = EXEC_PROBES_PER_SECOND) -> None:
        self._gap = 1.0 / per_second
        self._next = -math.inf  # when the next turn may start
        self._queue = trio.Lock()

    async def turn(self) -> None:
        """Return when this probe may start."""
        async with self._queue:
            await trio.sleep_until(self._next)
            # Counted from the turn's time, not from the wake: a busy loop wakes the
            # head a little late each time, and counting from the wake lost that much
            # every turn (below the rate on a busy node). Woken later than half a gap
            # (the pacer was idle), it counts from now: no burst after a quiet spell.
            now = trio.current_time()
            late = now - self._next
            self._next = (self._next if late < self._gap / 2 else now) + self._gap


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _exited(process: trio.Process) -> None:
    """Wait until ``process`` has exited, without reaping it: while it is a zombie its
    pid still names its process group, so killing the group cannot hit another one."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except OSError:  # no pidfd (an old kernel): reap, then kill what is left at once
        await process.wait()
        return
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)


async def probe_exec(
    command: tuple[str, ...], *, cwd: str | None = None, env: Mapping[str, str] | None = None
) -> str | None:
    """Run ``command`` (in ``cwd``, with ``env``); healthy if it exits 0. Its whole
    process group is killed when it ends or is cancelled (see the module docstring)."""
    try:
        process = await trio.lowlevel.open_process(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    except OSError as error:
        return f"health command failed to start: {error.strerror or error}"
    try:
        await _exited(process)
    finally:
        _kill_group(process.pid)
        with trio.CancelScope(shield=True):  # SIGKILLed: the reap is immediate
            await process.wait()
    if process.returncode != 0:
        return f"health command exited with {process.returncode}"
    return None


async def probe_http(url: str) -> str | None:
    """GET ``url``; healthy on a 2xx or 3xx status."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
        if secure:
            stream = trio.SSLStream(stream, ssl.create_default_context(), server_hostname=host)
        async with stream:
            request = f"GET {target} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n"
            await stream.send_all(request.encode())
            head = b""
            while b"\r\n" not in head and len(head) < 8192:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                head += chunk
    except (OSError, trio.BrokenResourceError) as error:
        return f"GET {url} failed: {error}"
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    fields = status_line.split()
    if len(fields) < 2 or not fields[1].isdigit():
        return f"GET {url}: not an HTTP response ({status_line[:80]!r})"
    status = int(fields[1])
    if 200 <= status < 400:
        return None
    return f"GET {url} answered {status}"


async def probe_tcp(host: str, port: int) -> str | None:
    """Healthy if a TCP connection to ``host:port`` succeeds."""
    try:
        stream = await trio.open_tcp_stream(host, port)
    except OSError as error:
        return f"connect to {host}:{port} failed: {error.strerror or error}"
    await stream.aclose()
    return None


async def probe(
    check: JobHealthCheck,
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    pacer: ProbePacer | None = None,
) -> str | None:
    """Run one probe of ``check`` within its timeout; None means healthy. An exec probe
    runs in ``cwd`` with ``env``, once ``pacer`` gives it its turn."""
    if check.type == "exec" and pacer is not None:
        await pacer.turn()
    with trio.move_on_after(check.timeout_seconds):
        # The wire decoder made sure the fields of the check's type are set.
        if check.type == "exec":
            assert check.command is not None
            return await probe_exec(check.command, cwd=cwd, env=env)
        if check.type == "http":
            assert check.url is not None
            return await probe_http(check.url)
        assert check.host is not None and check.port is not None
        return await probe_tcp(check.host, check.port)
    return f"{check.type} health check timed out after {check.timeout_seconds:g}s"


async def watch_health(
    check: JobHealthCheck,
    *,
    on_change: Callable[[Health, str | None], None],
    cwd: str | None = None,
    env: Callable[[], Mapping[str, str] | None] | None = None,
    pacer: ProbePacer | None = None,
) -> str:
    """Probe until the run is unhealthy; return the reason of the last failure.

    ``on_change(health, reason)`` is called when health becomes ``healthy`` or
    ``unhealthy``. Runs until cancelled while the job stays healthy. ``cwd`` and
    ``pacer``: see :func:`probe`. ``env()`` gives an exec probe's environment, asked
    before each probe (what it is made of may arrive late: the secrets the Conductor
    sends a restarted agent); while it gives None the probe is skipped, neither a
    success nor a failure.
    """
    period = max(check.period_seconds, MIN_PERIOD)
    await trio.sleep(check.initial_delay_seconds)
    failures = 0
    healthy: bool | None = None
    while True:
        job_env = None
        if env is not None and check.type == "exec":
            job_env = env()
            if job_env is None:  # it cannot run as its job would yet: not a failure
                await trio.sleep(period)
                continue
        reason = await probe(check, cwd=cwd, env=job_env, pacer=pacer)
        if reason is None:
            failures = 0
            if healthy is not True:
                healthy = True
                on_change("healthy", None)
        else:
            failures += 1
            if failures >= check.failure_threshold:
                on_change("unhealthy", reason)
                return reason
        await trio.sleep(period)
