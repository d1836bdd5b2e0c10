"""How much a new monitor keeps of the adopted runs it could not take over.

``AdoptedOutput.untaken`` notes, for each such run, the earlier monitor's logger that
reads it, and keeps the note (a run id and two numbers) after the run ended, until that
logger is gone (it exits once every pipe it reads is at end of file). The bound: notes
are made only at the takeover (:meth:`AdoptedOutput.take`, once per monitor start), so
there are never more than the runs adopted then, however long the earlier logger lives
and whatever runs end or start meanwhile; all of them go when that logger does. Real
processes, the monitor's own code in this process (see the fork-fails test beside).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from symphony.node.process.adoptedlogs import MASKED_ENV, PIPES, AdoptedOutput
from symphony.node.process.logpool import LoggerPool
from symphony.node.process.proctree import read_proc
from symphony.node.process.runstore import Run
from tests.test_process_adopted_output_fork_fails import _OLD_LOGGER, _read_write, _wait

RUNS = 5


def test_the_runs_a_new_monitor_could_not_take_are_kept_no_longer_than_their_reader(
    tmp_path: Path,
) -> None:
    jobs: list[subprocess.Popen[bytes]] = []
    readers: list[int] = []
    for _ in range(RUNS):
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        job_out = _read_write(out_w)
        # No TOKEN in its environment: the secret its record names cannot be verified.
        jobs.append(subprocess.Popen(["sleep", "600"], stdout=job_out, stderr=job_out, env={}))
        os.close(out_w)
        os.close(job_out)
        readers.append(out_r)
    old = subprocess.Popen([sys.executable, "-c", _OLD_LOGGER], pass_fds=readers)
    for fd in readers:
        os.close(fd)
    pool = LoggerPool({})
    adopted = AdoptedOutput(pool)
    try:
        _wait(lambda: Path(f"/proc/{old.pid}/comm").read_text() == "symphony-log\n")
        runs = []
        for i, job in enumerate(jobs):
            info = read_proc(job.pid)
            assert info is not None
            ino = os.stat(f"/proc/{job.pid}/fd/1").st_ino
            log = str(tmp_path / f"r{i}" / "stdout.log")
            meta = {PIPES: [ino, ino], MASKED_ENV: ["TOKEN"]}
            runs.append(
                Run(f"run-{i}", f"i{i}", job.pid, info.start_ticks, time.time(), log, log,
                    1 << 20, 1, 5.0, meta=meta)
            )  # fmt: skip
        adopted.take(runs, {})
        ticks = read_proc(old.pid).start_ticks  # type: ignore[union-attr]
        assert adopted.untaken == {f"run-{i}": (old.pid, ticks) for i in range(RUNS)}
        assert not pool.held  # none taken over: their earlier logger reads them

        # The runs end while that logger lives: their notes stay, and nothing is added.
        for job in jobs:
            job.kill()
            job.wait()
        for _ in range(20):
            adopted.poll()
            assert len(adopted.untaken) == RUNS and not adopted.given_up
        adopted.take([], {})  # nothing more to take: nothing more noted
        assert len(adopted.untaken) == RUNS

        # That logger gone, every note goes; the monitor finds those runs ended already
        # (it stops only a run still among its foreign ones: takeover._stop_untaken).
        old.kill()
        old.wait()
        adopted.poll()
        assert adopted.untaken == {} and not adopted.readers
        assert sorted(adopted.given_up) == [f"run-{i}" for i in range(RUNS)]
    finally:
        for job in jobs:
            with contextlib.suppress(ProcessLookupError):
                job.kill()
            job.wait()
        with contextlib.suppress(ProcessLookupError):
            old.kill()
        old.wait()
