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
- **A killed logger is replaced.** The monitor keeps the read ends of each run's pipes
  until the run's output is written (:meth:`LoggerPool.release`), so a pipe never loses
  its last reader: a job whose logger is killed (SIGKILL, the OOM killer) does not die
  of SIGPIPE. Once the monitor knows the logger is dead (it reaps it, a hand-over to it
  fails, or a run's done pipe ends without its byte: :func:`~.joblogger.logger_gone`),
  it forks a new one and hands it that logger's runs, in the order they came, each with
  a new done pipe (:meth:`LoggerPool.rescue`). What is still in the pipes is logged;
  what the dead logger had read and not written is lost, and the new one says so in
  each instance's files (:data:`~.logrelay.LOST_LINE`). The cost: two descriptors per
  live run in the monitor.
- **The job is its own reader of last resort.** The job's ends of its pipes are open
  read-write (:func:`~.joblogger._both_ways`), so while it runs a pipe always has a
  reader, whoever of ours is killed and in whatever order: a logger and then the
  monitor before it replaced it, a logger while no monitor runs, a logger of runs a
  replacement monitor adopted, or all of them with the agent (which holds nothing of a
  run's output). The job's writes then wait once its pipe is full (1 MiB), and a new
  monitor gives its output to a logger of its own (:mod:`.adoptedlogs`). No other
  process of ours has to outlive anything, and no descriptor travels to the agent
  (the other way considered: the agent keeping copies of every run's read ends, sent
  over the monitor's socket and handed back to a new monitor, would have needed new
  messages both ways, state in the agent, and still lost every job when the agent
  died with them).
- **Why at most** :data:`RUNS_PER_LOGGER`: one busy writer delays the others' lines,
  and a killed logger may lose a little of each of its runs' output; 32 bounds both
  while a burst of 100 forks 4 loggers.

Who holds what, and until when: the job holds its own ends (until it exits); a logger
the read ends and the run's done pipe (until the pipes reach end of file, that is once
the job and whatever inherited them are gone); the monitor a copy of the read ends
and the done pipe's read end (until the run's end is handled: :meth:`LoggerPool.release`
and the monitor's ``_finish``; for an adopted run, its end), so at most three
descriptors per live run in the monitor, raised past a soft ``RLIMIT_NOFILE`` of 1024
by :func:`~.spawn.raise_open_files`, and none in the agent.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket

from .joblogger import fork_one, fork_shared, logger_gone
from .logrelay import MAX_TARGET, hand_over, lost, target_from, target_of

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .spawn import Started

RUNS_PER_LOGGER = 32


class _Logger:
    """One shared logger process: its control link and the runs given to it."""

    __slots__ = ("link", "pid", "runs")

    def __init__(self, pid: int, link: socket.socket | None) -> None:
        self.pid = pid
        # None: a logger of an earlier monitor's (see LoggerPool.reader), or one of ours
        # forked for one adopted run, too large to send (see LoggerPool._lost)
        self.link = link
        self.runs: set[str] = set()

    def send(self, target: bytes, out_r: int, err_r: int, done_w: int, after: int | None) -> None:
        """Hand a run's pipes to this logger (:func:`~.logrelay.hand_over`); OSError if
        it is gone (or takes no runs)."""
        if self.link is None:
            raise OSError("a logger that takes no runs")
        hand_over(self.link, target, out_r, err_r, done_w, after)


class _Held:
    """What the monitor keeps of a run given to a shared logger, to give it to another."""

    __slots__ = ("err_r", "instance", "logger", "out_r", "previous", "target")

    def __init__(
        self,
        target: bytes,
        readers: tuple[int, int],
        instance: str,
        previous: str | None,
        logger: _Logger,
    ) -> None:
        self.target = target
        self.out_r, self.err_r = readers
        self.instance = instance
        self.previous = previous  # the instance's run before this one, if with a logger
        self.logger = logger


class LoggerPool:
    """The shared loggers of one monitor (see the module docstring).

    ``dones`` is the monitor's map of run id -> (logger pid, done fd): the pool puts
    there a replacement logger's pid and the new done fd of each run it takes over.
    """

    def __init__(self, dones: dict[str, tuple[int, int]]) -> None:
        self.open: dict[int, _Logger] = {}  # pid -> a logger that takes runs
        self.of_run: dict[str, _Logger] = {}  # run id -> its logger
        self.retired: set[int] = set()  # pids of loggers draining their last runs
        self.held: dict[str, _Held] = {}  # run id -> its read ends, in the order given
        self.dones = dones

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
        pipes = started.pipes
        for _ in range(3):
            logger = self.of_run.get(previous) if previous is not None else None
            if logger is not None and logger.pid in self.open:
                after = None  # the same logger: it orders the instance's runs itself
            else:
                logger = next(
                    (
                        lg
                        for lg in self.open.values()
                        if len(lg.runs) < RUNS_PER_LOGGER and lg.link is not None
                    ),
                    None,
                )
            if logger is None:
                logger = self._fork()
            try:
                logger.send(target, pipes.out_r, pipes.err_r, pipes.done_w, after)
            except OSError:  # that logger is dead, or as good as: its runs go to another
                self._lost(logger, kill=True)
                continue
            readers = pipes.spare()
            self.held[run_id] = _Held(target, readers, started.log_dir, previous, logger)
            logger.runs.add(run_id)
            self.of_run[run_id] = logger
            return logger.pid
        raise OSError("no logger takes the run's output")

    def reader(self, pid: int) -> _Logger:
        """A logger of an earlier monitor's (no child of ours, no link), to :meth:`adopt`
        runs that it reads; :meth:`lost` once it is gone."""
        return _Logger(pid, None)

    def adopt(
        self, run_id: str, target: bytes, readers: tuple[int, int], reader: _Logger, directory: str
    ) -> None:
        """A run of an earlier monitor's, its pipes read by ``reader`` (see :meth:`reader`;
        a dead one, if none reads them): keep its read ends ``readers`` until it ends
        (:meth:`release`), to give them to a logger of ours when ``reader`` is lost."""
        self.held[run_id] = _Held(target, readers, directory, None, reader)
        reader.runs.add(run_id)
        self.of_run[run_id] = reader

    def move(self, run_id: str, reader: _Logger) -> None:
        """An adopted run is read by ``reader`` after all (see :meth:`adopt`)."""
        held = self.held[run_id]
        held.logger.runs.discard(run_id)
        held.logger = reader
        reader.runs.add(run_id)
        self.of_run[run_id] = reader

    def lost(self, reader: _Logger) -> bool:
        """A reader of adopted runs is gone: a logger of ours takes over those whose
        pipes are not drained (a reader that exited had written them all). False if no
        logger could be forked: ``reader`` keeps its runs, to try again."""
        for run_id in [r for r, held in self.held.items() if held.logger is reader]:
            if _drained(self.held[run_id]):
                self.release(run_id)
        return self._lost(reader, kill=False)

    def release(self, run_id: str) -> None:
        """A run's output is all written (or no longer waited for): its logger retires
        when it has no run left, and the monitor closes its copies of the run's pipes."""
        held = self.held.pop(run_id, None)
        if held is not None:
            _close(held)
        logger = self.of_run.pop(run_id, None)
        if logger is None:
            return
        logger.runs.discard(run_id)
        if not logger.runs:
            self._retire(logger)

    def reaped(self, pid: int) -> None:
        """A child of the monitor was reaped: if it was a logger, forget it, and give
        the runs it still had to another."""
        self.retired.discard(pid)
        logger = self.open.get(pid)
        if logger is not None:
            self._lost(logger, kill=False)

    def rescue(self, run_id: str) -> bool:
        """The run's done pipe ended without its byte: its logger died before it had
        written the run. Give its runs to another logger (unless done already); return
        whether the run now has a logger that may write it."""
        logger = self.of_run.get(run_id)
        if logger is None or run_id not in self.held:
            return False
        if logger.pid in self.open:  # not reaped yet: the pid is still ours to kill
            self._lost(logger, kill=True)
        logger = self.of_run.get(run_id)
        return logger is not None and logger.pid in self.open

    def _lost(self, dead: _Logger, *, kill: bool) -> bool:
        """``dead`` will write nothing more: give its runs, in the order it had them, to a
        new logger, each with a new done pipe, flagged so that it says output was lost.
        A run whose output the dead one had all written stays as it is. False if no
        logger could be forked for a reader of adopted runs, which then keeps them."""
        if self.open.get(dead.pid) is dead:  # not a logger of ours with its pid, recycled
            del self.open[dead.pid]
        if kill:  # a hand-over failed, yet it may still read: it must not, beside another
            with contextlib.suppress(OSError):
                os.kill(dead.pid, signal.SIGKILL)
            self.retired.add(dead.pid)  # until it is reaped
        if dead.link is not None:
            with contextlib.suppress(OSError):
                dead.link.close()
        runs = [(run_id, held) for run_id, held in self.held.items() if held.logger is dead]
        if not runs:
            dead.runs.clear()
            return True
        try:
            new = self._fork() if any(len(h.target) <= MAX_TARGET for _, h in runs) else None
        except OSError:  # their jobs block once a pipe is full, and end unlogged...
            if dead.link is None:  # ...unless they are adopted: the next poll retries
                return False
            dead.runs.clear()
            return True
        dead.runs.clear()
        said: set[str] = set()  # instances told of the loss
        for run_id, held in runs:
            old = self.dones.get(run_id)
            if old is not None and logger_gone(old[1]):  # written: nothing to hand on
                del self.of_run[run_id]
                _close(self.held.pop(run_id))
                continue
            previous = self.held.get(held.previous) if held.previous is not None else None
            after = None
            if held.previous in self.dones and (previous is None or previous.logger is not new):
                after = self.dones[held.previous][1]  # elsewhere, and may still drain
            try:
                done_r, done_w = os.pipe2(os.O_CLOEXEC)
            except OSError:  # out of descriptors: this run ends unlogged, the rest may not
                continue
            target = held.target if held.instance in said else lost(held.target)
            said.add(held.instance)
            if new is None or len(target) > MAX_TARGET:  # an adopted run's, too large to send
                try:
                    taker = self._fork_one(target, held, done_w, after)
                except OSError:
                    os.close(done_r)
                    os.close(done_w)
                    if dead.link is None:  # an adopted run's reader: the next poll retries
                        dead.runs.add(run_id)
                    continue
            else:
                taker = new
            held.logger = taker
            taker.runs.add(run_id)
            self.of_run[run_id] = taker
            if old is not None:
                os.close(old[1])
            self.dones[run_id] = (taker.pid, done_r)
            try:
                if taker is new:
                    new.send(target, held.out_r, held.err_r, done_w, after)
            except OSError:  # dead already: its reap (or the run's end) hands them on
                with contextlib.suppress(OSError):
                    os.kill(taker.pid, signal.SIGKILL)
            finally:
                os.close(done_w)
        return not dead.runs

    def _fork_one(self, target: bytes, held: _Held, done_w: int, after: int | None) -> _Logger:
        """A logger of ours for one run whose description is too large to send: forked
        with it (:func:`~.joblogger.fork_one`), taking no other run."""
        pid = fork_one(target_from(target), held.out_r, held.err_r, done_w, after)
        logger = self.open[pid] = _Logger(pid, None)
        return logger

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
        if self.open.get(logger.pid) is logger:  # not one of ours with a reader's old pid
            del self.open[logger.pid]
            self.retired.add(logger.pid)
        if logger.link is not None:
            with contextlib.suppress(OSError):
                logger.link.close()


def _drained(held: _Held) -> bool:
    """Whether both of a run's pipes have no writer left and nothing in them."""
    poll = select.poll()
    for fd in (held.out_r, held.err_r):
        poll.register(fd, select.POLLIN)
    events = dict(poll.poll(0))
    return all(events.get(fd) == select.POLLHUP for fd in (held.out_r, held.err_r))


def _close(held: _Held) -> None:
    for fd in (held.out_r, held.err_r):
        with contextlib.suppress(OSError):
            os.close(fd)
