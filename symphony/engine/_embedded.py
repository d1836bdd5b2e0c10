"""A Conductor and a local node inside this Python process, for ``Cluster.new('local')``.

It is ``symphony up`` (:func:`symphony.up.run_up`) on a background thread that runs its
own Trio loop, with the API on a free loopback port and its state in ``.symphony`` of
the current directory, so ``symphony p`` and ``symphony logs`` in another shell find it
there while it runs.

It stops when :meth:`Embedded.stop` is called (``cluster.close()``, leaving a
``with`` block), or when the interpreter exits (an ``atexit`` hook): the loop's
cancellation stops the jobs first, then the node and the Conductor, as Ctrl-C does for
``symphony up``. So the experiments an embedded Conductor runs live as long as the
script that started it; ``cluster.wait()`` keeps a script alive until Ctrl-C.

A SIGTERM ends the script as ``symphony up`` takes it, like Ctrl-C: Python's own
default ends the process on the spot, atexit hooks unrun, and the jobs (which belong
to the node monitor, built to outlive its agent) ran on. So while it runs, a script
that left SIGTERM to Python's default gets a handler that exits (status 143) through
the atexit hook; one that set its own handler keeps it.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import EngineError

if TYPE_CHECKING:
    from symphony.up import UpInfo

#: Seconds to wait for the Conductor and node to start, and for them to stop.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 40.0


class Embedded:
    """A running ``run_up`` on its own thread; :meth:`start` returns once it serves."""

    def __init__(
        self,
        state_dir: Path,
        *,
        capacities: dict[str, int] | None = None,
        ports: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.capacities = capacities
        self.ports = ports
        self.info: UpInfo | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._cancel: Any = None  # the loop's CancelScope.cancel, once it runs
        self._token: Any = None
        self._thread = threading.Thread(target=self._run, name="symphony-embedded", daemon=True)

    def start(self) -> UpInfo:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            self.stop()
            raise EngineError(f"the embedded Conductor did not start in {START_TIMEOUT:g} s")
        if self._error is not None or self.info is None:
            raise EngineError(f"the embedded Conductor could not start: {self._error}")
        atexit.register(self.stop)
        self._exit_on_sigterm()
        return self.info

    def _exit_on_sigterm(self) -> None:
        """SIGTERM exits through the atexit hook (see the module docstring)."""
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _exit_terminated)

    def _default_sigterm(self) -> None:
        """Give SIGTERM back to Python's default, if ours is still the handler."""
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGTERM) is _exit_terminated:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _run(self) -> None:
        import trio

        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to start(), or ends the thread quietly
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        import trio

        from symphony.up import UpConfig, run_up

        config = UpConfig(
            state_dir=self.state_dir,
            http_port=0,
            relay_port=0,  # services' origin (symphony visit): a free port too
            capacities=self.capacities,
            ports=self.ports,
        )
        async with trio.open_nursery() as nursery:
            self._token = trio.lowlevel.current_trio_token()
            self._cancel = nursery.cancel_scope.cancel
            self.info = await nursery.start(run_up, config)
            self._ready.set()

    def stop(self) -> None:
        """Stop the jobs, the node and the Conductor; returns once they have stopped."""
        atexit.unregister(self.stop)
        self._default_sigterm()
        if self._token is not None and self._thread.is_alive():
            import trio

            with contextlib.suppress(trio.RunFinishedError):  # it ended by itself meanwhile
                trio.from_thread.run_sync(self._cancel, trio_token=self._token)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(STOP_TIMEOUT)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self.info is not None


def _exit_terminated(signum: int, frame: object) -> None:
    """SIGTERM's handler while an embedded Conductor runs: exit as terminated (143), so
    that the atexit hook stops it and its jobs."""
    raise SystemExit(128 + signum)
