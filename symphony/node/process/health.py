"""Health probes: ``exec`` (exit 0), ``http`` (GET answers 2xx/3xx), ``tcp`` (connects).

Each probe returns None when healthy, or a short reason. :func:`watch_health` runs the
probe loop of one run: wait ``initial_delay_seconds``, then probe every
``period_seconds`` with a ``timeout_seconds`` limit; ``failure_threshold`` failures in a
row make the run unhealthy (and the ProcessSupervisor restarts it by its policy). A
success resets the count. Every change between healthy and unhealthy is reported.

The HTTP probe speaks just enough HTTP/1.0 to read a status line: no client library.
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
from collections.abc import Callable
from urllib.parse import urlsplit

import trio

from symphony.wire import JobHealthCheck

from .records import Health


async def _kill_group(process: trio.Process) -> None:
    # The probe runs in its own session: kill all of it, not only the direct child.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def probe_exec(command: tuple[str, ...], *, cwd: str | None = None) -> str | None:
    """Run ``command``; healthy if it exits 0."""
    try:
        result = await trio.run_process(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            cwd=cwd,
            start_new_session=True,
            deliver_cancel=_kill_group,
        )
    except OSError as error:
        return f"health command failed to start: {error.strerror or error}"
    if result.returncode != 0:
        return f"health command exited with {result.returncode}"
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


async def probe(check: JobHealthCheck, *, cwd: str | None = None) -> str | None:
    """Run one probe of ``check`` within its timeout; None means healthy."""
    with trio.move_on_after(check.timeout_seconds):
        # The wire decoder made sure the fields of the check's type are set.
        if check.type == "exec":
            assert check.command is not None
            return await probe_exec(check.command, cwd=cwd)
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
) -> str:
    """Probe until the run is unhealthy; return the reason of the last failure.

    ``on_change(health, reason)`` is called when health becomes ``healthy`` or
    ``unhealthy``. Runs until cancelled while the job stays healthy.
    """
    await trio.sleep(check.initial_delay_seconds)
    failures = 0
    healthy: bool | None = None
    while True:
        reason = await probe(check, cwd=cwd)
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
        await trio.sleep(check.period_seconds)
