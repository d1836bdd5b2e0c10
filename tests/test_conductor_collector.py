"""A ``symphony conductor`` process collects the oldest generation rarely.

Why (the full collections of a Conductor with thousands of links) is in
:mod:`symphony.conductor.collector`. The thresholds of another process cannot be
read from outside, so a ``sitecustomize`` on the Conductor's path writes them to a
file as the process exits (after a SIGTERM, the Conductor stops in order and exits).
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from symphony.conductor.collector import FULL_EVERY

from .deployments.procs import free_port


def _thresholds_at_exit(tmp_path: Path, *args: str) -> tuple[int, int, int]:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    out = tmp_path / "thresholds"
    (hooks / "sitecustomize.py").write_text(
        "import atexit, gc\n"
        f"atexit.register(lambda: open({str(out)!r}, 'w').write(repr(gc.get_threshold())))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks), *sys.path])}
    log = tmp_path / "out.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "symphony.cli", *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while "running; stop it with" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    value = ast.literal_eval(out.read_text())
    assert isinstance(value, tuple) and len(value) == 3
    return value


def test_symphony_conductor_collects_the_oldest_generation_rarely(tmp_path: Path) -> None:
    youngest, middle, oldest = _thresholds_at_exit(
        tmp_path,
        "conductor",
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--http",
        f"127.0.0.1:{free_port()}",
        "--relay-port",
        "0",
        "--state-dir",
        str(tmp_path / "conductor"),
    )
    # Failed before: CPython's (700, 10, 10).
    assert oldest == FULL_EVERY
    assert (youngest, middle) == (700, 10)  # the young generations as CPython has them
