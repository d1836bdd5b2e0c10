"""A new monitor that cannot start the logger replacing an earlier monitor's dead one
keeps the runs, and tries again at its next poll.

In the monitor's own code (:class:`~symphony.node.process.adoptedlogs.AdoptedOutput` and
its :class:`~symphony.node.process.logpool.LoggerPool`, in this process), with real
processes: a job writing into its pipes (its ends open read-write, as a monitor gives
them), an earlier monitor's logger (a process named ``symphony-log`` holding the read
ends), found by the same ``/proc`` scan, and loggers forked for real. The fork of the
replacement fails for real too: the process is out of descriptors (the logger's control
socket cannot be made), which ``LoggerPool._fork`` reports as a fork that fails with
``EAGAIN`` would be, an OSError.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from symphony.node.process.adoptedlogs import PIPES, AdoptedOutput
from symphony.node.process.logpool import LoggerPool
from symphony.node.process.logrelay import LOST_LINE
from symphony.node.process.proctree import read_proc
from symphony.node.process.runstore import Run

# An earlier monitor's logger, as the /proc scan knows one: its name, and the pipes.
_OLD_LOGGER = (
    "import ctypes, time; ctypes.CDLL(None).prctl(15, b'symphony-log', 0, 0, 0); time.sleep(600)"
)


def _wait(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in real time"
        time.sleep(0.01)


def _read_write(fd: int) -> int:
    """The pipe of ``fd``, opened read-write (as a monitor gives it to its job)."""
    return os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_CLOEXEC)


@contextlib.contextmanager
def _out_of_descriptors():
    """Every new descriptor of this process fails with EMFILE until the block ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest = os.dup(0)
    os.close(lowest)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_replacement_logger_that_cannot_be_forked_is_forked_at_the_next_poll(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs" / "tick-0"
    logs.mkdir(parents=True)
    (out_r, out_w), (err_r, err_w) = os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC)
    job_out, job_err = _read_write(out_w), _read_write(err_w)
    job = subprocess.Popen(
        ["sh", "-c", "while :; do echo tick; sleep 0.02; done"], stdout=job_out, stderr=job_err
    )
    old = subprocess.Popen([sys.executable, "-c", _OLD_LOGGER], pass_fds=(out_r, err_r))
    for fd in (out_r, out_w, err_r, err_w, job_out, job_err):
        os.close(fd)  # the job and the old logger hold them; the pool opens its own
    pool = LoggerPool({})
    try:
        _wait(lambda: Path(f"/proc/{old.pid}/comm").read_text() == "symphony-log\n")
        info = read_proc(job.pid)
        assert info is not None
        inodes = [os.stat(f"/proc/{job.pid}/fd/{fd}").st_ino for fd in (1, 2)]
        run = Run(
            "run-1",
            "tick-0",
            job.pid,
            info.start_ticks,
            time.time(),
            str(logs / "stdout.log"),
            str(logs / "stderr.log"),
            1 << 20,
            1,
            5.0,
            meta={PIPES: inodes},
        )
        adopted = AdoptedOutput(pool)
        adopted.take([run], {})
        assert list(adopted.readers) == [old.pid] and not adopted.untaken
        reader = adopted.readers[old.pid][1]
        assert pool.held["run-1"].logger is reader

        old.kill()
        old.wait()
        with _out_of_descriptors():
            adopted.poll()  # the reader is gone; no logger can be made for its run
        assert pool.held["run-1"].logger is reader and old.pid in adopted.readers
        assert not pool.open and not adopted.given_up  # kept, not stopped
        assert not (logs / "stdout.log").exists()

        adopted.poll()  # descriptors again: the next poll forks the replacement
        assert old.pid not in adopted.readers
        (logger,) = pool.open.values()
        assert pool.held["run-1"].logger is logger
        _wait(lambda: (logs / "stdout.log").exists())
        _wait(lambda: (logs / "stdout.log").read_text().count("tick") >= 20)
        text = (logs / "stdout.log").read_text()
        assert text.startswith(LOST_LINE.decode())  # the dead one may have held some
        assert set(text.splitlines()[1:]) == {"tick"}
    finally:
        job.kill()
        job.wait()
        with contextlib.suppress(ProcessLookupError):
            old.kill()
        old.wait()
        pool.release("run-1")
        for pid in pool.pids():
            with contextlib.suppress(ChildProcessError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
