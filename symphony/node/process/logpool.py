"""The node monitor's shared loggers: which logger process copies which run's output.

A logger used to be forked for every run (:mod:`.joblogger`): about 4 ms of CPU for the
fork and the copy-on-write faults it brings on both sides, and in a burst of 100 starts
that was the largest cost of the node (0.4 CPU seconds of about 1.1). Now a logger
takes up to :data:`RUNS_PER_LOGGER` runs: the monitor forks one only when every logger
it has is full, and sends each new run's pipes to one that has room (:mod:`.logrelay`),
about 30 µs.

- **An instance stays with its logger.** A run whose instance's previous run is still
  with a logger goes to that same logger (full or not), which reads the runs in order;
  a restart thus never forks. Otherwise the run goes to any logger with room, and if
  the previous run's logger may still be draining, the new one is given its done pipe
  to wait for (``after``), as a forked logger was.
- **Retired when empty.** When the last run given to a logger has ended (its output all
  written: the monitor's ``_finish``), the monitor closes that logger's control socket:
  the logger exits. The next run forks a fresh one.
- **Why at most** :data:`RUNS_PER_LOGGER`: a logger that failed would leave its jobs'
  output without a reader (it drains their pipes on a bug it catches, but a SIGKILL
  stops it), and one busy writer delays the others' lines; 32 bounds both while a burst
  of 100 forks 4 loggers.
"""

from __future__ import annotations

import contextlib
import socket

from .joblogger import fork_shared
from .logrelay import MAX_TARGET, hand_over, target_of

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .spawn import Started

RUNS_PER_LOGGER = 32


class _Logger:
    """One shared logger process: its control link and the runs given to it."""

    __slots__ = ("link", "pid", "runs")

    def __init__(self, pid: int, link: socket.socket) -> None:
        self.pid = pid
        self.link = link
        self.runs: set[str] = set()


class LoggerPool:
    """The shared loggers of one monitor (see the module docstring)."""

    def __init__(self) -> None:
        self.open: dict[int, _Logger] = {}  # pid -> a logger that takes runs
        self.of_run: dict[str, _Logger] = {}  # run id -> its logger
        self.retired: set[int] = set()  # pids of loggers draining their last runs

    def pids(self) -> set[int]:
        """Every logger process of ours that may still run (none is a job's leftover)."""
        return {*self.open, *self.retired}

    def attach(
        self, run_id: str, started: Started, *, previous: str | None, after: int | None
    ) -> int | None:
        """Give a started run's pipes to a logger; return its pid, None if the run's
        description is too large to send (the caller forks a logger of its own).

        ``previous``: the instance's latest earlier run with a logger; ``after``: that
        logger's done fd, if it may still be draining. Raises OSError if no logger can
        be forked.
        """
        target = target_of(started.log_dir, started.max_bytes, started.backups, started.mask)
        if len(target) > MAX_TARGET:
            return None
        logger = self.of_run.get(previous) if previous is not None else None
        if logger is not None and logger.pid in self.open:
            after = None  # the same logger: it orders the instance's runs itself
        else:
            logger = next((lg for lg in self.open.values() if len(lg.runs) < RUNS_PER_LOGGER), None)
        pipes = started.pipes
        for _ in range(2):
            if logger is None:
                logger = self._fork()
            try:
                hand_over(logger.link, target, pipes.out_r, pipes.err_r, pipes.done_w, after)
            except OSError:  # that logger is gone (its pid is reaped as any child's)
                self._retire(logger)
                logger = None
                continue
            pipes.handed()
            logger.runs.add(run_id)
            self.of_run[run_id] = logger
            return logger.pid
        raise OSError("no logger takes the run's output")

    def release(self, run_id: str) -> None:
        """A run's output is all written: its logger retires when it has no run left."""
        logger = self.of_run.pop(run_id, None)
        if logger is None:
            return
        logger.runs.discard(run_id)
        if not logger.runs:
            self._retire(logger)

    def reaped(self, pid: int) -> None:
        """A child of the monitor was reaped: if it was a logger, forget it."""
        self.retired.discard(pid)
        logger = self.open.pop(pid, None)
        if logger is not None:
            logger.link.close()

    def _fork(self) -> _Logger:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = fork_shared(theirs.fileno())
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        logger = self.open[pid] = _Logger(pid, ours)
        return logger

    def _retire(self, logger: _Logger) -> None:
        """Close the logger's link: it exits once the runs it has are drained."""
        if self.open.pop(logger.pid, None) is not None:
            self.retired.add(logger.pid)
        with contextlib.suppress(OSError):
            logger.link.close()
