"""Run one long-lived service under Trio until it ends or a stop signal arrives.

    from symphony.cli import run_service
    from symphony.conductor import run_conductor

    stopped_by = run_service(run_conductor, config, on_ready=print)

SIGINT (Ctrl-C) and SIGTERM (systemd, ``kill``, container runtimes) cancel the service,
which then shuts down the structured way (a Conductor answers the API requests it
is serving first: see :mod:`symphony.conductor.stopping`), listeners close, children
are stopped. A second signal while that is under way exits at once with
status 128 + signal number, for a shutdown that hangs.

The service is any ``async def fn(*args, task_status=trio.TASK_STATUS_IGNORED)``: it is
started with ``nursery.start`` so ``on_ready`` sees what it reports once it is serving
(the conductor's URLs, for example).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

log = logging.getLogger("symphony.cli")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_service(
    async_fn: Callable[..., Any],
    *args: Any,
    on_ready: Callable[[Any], None] | None = None,
    signals: Iterable[int] = STOP_SIGNALS,
) -> signal.Signals | None:
    """Run ``async_fn(*args)`` in a fresh ``trio.run`` on the main thread.

    Returns the signal that stopped it, or ``None`` if it returned by itself. An
    exception from the service propagates; when Trio wrapped it in exception groups
    that hold nothing else, the single exception is raised unwrapped, so callers can
    ``except OSError`` as usual.
    """
    import trio  # ~40 ms: only commands that run something pay for it

    try:
        return trio.run(_serve, functools.partial(async_fn, *args), on_ready, tuple(signals))
    except BaseExceptionGroup as group:
        from symphony.actors import sole_exception

        leaf = sole_exception(group)
        if leaf is None:
            raise
        raise leaf from None


async def _serve(
    service: Callable[..., Any],
    on_ready: Callable[[Any], None] | None,
    signals: tuple[int, ...],
) -> signal.Signals | None:
    import trio

    stopped_by: signal.Signals | None = None
    service_scope = trio.CancelScope()

    async def watch(receiver: AsyncIterator[int]) -> None:
        nonlocal stopped_by
        async for signum in receiver:
            name = signal.Signals(signum).name
            if stopped_by is None:
                stopped_by = signal.Signals(signum)
                log.info("%s received: shutting down (send it again to exit at once)", name)
                service_scope.cancel()
            else:
                # The graceful path is stuck; the operator asked twice. Skip cleanup.
                log.warning("second %s: exiting without a clean shutdown", name)
                os._exit(128 + signum)

    # The receiver is opened before the service starts, so a signal during startup is
    # a clean stop too, not a KeyboardInterrupt traceback.
    with trio.open_signal_receiver(*signals) as receiver:
        async with trio.open_nursery() as nursery:
            # The watcher lives outside service_scope: it must still hear a second
            # signal while the cancelled service is shutting down.
            nursery.start_soon(watch, receiver)
            with service_scope:
                async with trio.open_nursery() as inner:
                    ready = await inner.start(service)
                    if on_ready is not None:
                        on_ready(ready)
            nursery.cancel_scope.cancel()
    return stopped_by
