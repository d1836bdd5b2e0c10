"""The per-job logger: a burst of output is kept whole across rotations, monitor or not."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys

from tests.jobs.harness import ended, monitor_request, open_node, spec, wait_real

LINES = 500_000
LINE_BYTES = 100  # 50 MB in all: fits the default 10 MiB x (5 + 1) files
MAX_BYTES, BACKUPS = 10 * 1024 * 1024, 5
WHOLE_LINE = re.compile(rb"^(\d{9}) x{%d}$" % (LINE_BYTES - 11), re.MULTILINE)


def _writer(pause_at: int | None = None, half: str = "", go: str = "") -> str:
    """A job printing LINES numbered lines as fast as it can (optionally pausing)."""
    pause = (
        f"    if i == {pause_at}:\n"
        "        out.flush(); open(%r, 'w').close()\n"
        "        while not os.path.exists(%r): time.sleep(0.01)\n" % (half, go)
        if pause_at is not None
        else ""
    )
    return (
        "import os, sys, time\nout = sys.stdout\n"
        f"for i in range({LINES}):\n{pause}"
        f"    out.write(f'{{i:09d}} ' + 'x' * {LINE_BYTES - 11} + '\\n')\n"
        "out.flush()\n"
    )


def _read_all(directory: str) -> tuple[list[int], list[int], int]:
    """Line numbers of the whole lines in stdout.log.K ... stdout.log (oldest first),
    the file sizes, and how many files end inside a line."""
    numbers: list[int] = []
    sizes: list[int] = []
    cut = 0
    for index in range(BACKUPS, -1, -1):
        path = os.path.join(directory, "stdout.log" + (f".{index}" if index else ""))
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        sizes.append(len(data))
        cut += bool(data) and not data.endswith(b"\n")
        numbers.extend(int(m) for m in WHOLE_LINE.findall(data))
    return numbers, sizes, cut


def _check_every_line(directory: str) -> None:
    numbers, sizes, cut = _read_all(directory)
    missing = LINES - len(set(numbers))
    assert missing == 0, f"{missing} of {LINES} lines lost ({missing / LINES:.1%})"
    assert numbers == list(range(LINES)), "lines out of order or repeated"
    assert cut == 0, f"{cut} file(s) end inside a line"
    # A file may pass the limit by the rest of the line that was open when it filled.
    assert max(sizes) <= MAX_BYTES + LINE_BYTES, f"a file grew to {max(sizes)} bytes"


async def test_logger_burst_of_500k_lines_loses_none_with_default_rotation(tmp_path) -> None:
    async with open_node(str(tmp_path / "node")) as node:
        writer = [sys.executable, "-c", _writer()]
        await node.start("burst", spec(writer, restart_policy={"type": "never"}))
        exited = await node.wait_for("burst", "exited")
        assert exited.exit_code == 0
        # No wait: once the exit is reported, the logger has written everything.
        _check_every_line(os.path.join(node.state_dir, "logs", "burst"))


async def test_logger_keeps_writing_and_rotating_after_the_monitor_is_killed(tmp_path) -> None:
    state_dir = str(tmp_path / "node")
    half, go = str(tmp_path / "half"), str(tmp_path / "go")
    monitor = subprocess.Popen(
        [sys.executable, "-m", "symphony.node.process.monitor_server", "--state-dir", state_dir],
        stdout=subprocess.PIPE,
    )
    try:
        assert monitor.stdout is not None and monitor.stdout.readline() == b"ready\n"
        reply = monitor_request(
            state_dir,
            {
                "op": "spawn",
                "run_id": "r1",
                "instance_id": "burst",
                "command": [sys.executable, "-c", _writer(LINES // 2, half, go)],
                "env": {"PATH": os.defpath},
                "cwd": str(tmp_path),
            },
        )
        assert reply["ok"], reply
        job = reply["run"]["pid"]
        await wait_real(lambda: os.path.exists(half), timeout=60)
        monitor.kill()  # SIGKILL, mid-burst
        monitor.wait()
        open(go, "w").close()
        await wait_real(lambda: ended(job), timeout=60)
        directory = os.path.join(state_dir, "logs", "burst")
        # The logger outlived the monitor; it is done once it released its lock.
        await wait_real(lambda: _logger_done(directory), timeout=60)
        _check_every_line(directory)
    finally:
        if monitor.poll() is None:
            monitor.send_signal(signal.SIGKILL)
            monitor.wait()
        assert monitor.stdout is not None
        monitor.stdout.close()


def _logger_done(directory: str) -> bool:
    try:
        fd = os.open(directory, os.O_DIRECTORY)  # a logger writing here holds its flock
    except FileNotFoundError:
        return False  # no logger wrote a line yet
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
