"""What a killed logger of adopted runs loses: exactly what it had read and not yet
written, never what waits in the pipe, and no line twice.

The monitor is killed, the next one adopts its run while the earlier monitor's logger
still reads it; that logger is then stopped (so that output piles up in the pipe) and
SIGKILLed. A logger of the new monitor takes the run over (flagged lost) and must log
every byte still in the pipe, in order, once. Real node, real job, real loggers.
"""

from __future__ import annotations

import os
import signal

import trio

from symphony.node.process.logrelay import LOST_LINE, READ_SIZE
from tests.jobs.harness import monitor_pid, open_node, spec, wait_real
from tests.test_process_adopted_output import _log, _pipe, _readers_of, _unread

# Numbered lines of 9 bytes, written in pieces that end inside lines (as a job's
# buffered output does), about 225 KB/s: the 1 MiB pipe takes seconds to fill.
NUMBERED = spec(
    [
        "python3",
        "-c",
        "import os, time\n"
        "n, rest = 0, b''\n"
        "while True:\n"
        "    rest += b''.join(b'%08d\\n' % i for i in range(n, n + 50)); n += 50\n"
        "    cut = len(rest) - 7\n"
        "    os.write(1, rest[:cut]); rest = rest[cut:]\n"
        "    time.sleep(0.002)\n",
    ]
)


def _numbers(text: str) -> tuple[list[int], str, str]:
    """The whole numbered lines of ``text``, and the pieces of a line it starts and ends
    with ("" if none): a line the killed logger left open is ended before the marker."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    first = lines.pop(0) if lines and len(lines[0]) != 8 else ""
    last = lines.pop() if lines and len(lines[-1]) != 8 else ""
    return [int(line) for line in lines], first, last


async def test_a_killed_logger_of_adopted_runs_loses_nothing_that_waits_in_the_pipe(
    tmp_path,
) -> None:
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node:
            await node.start("count-0", NUMBERED)
            pid = (await node.wait_for("count-0", "running")).pid
            await wait_real(lambda: bool(_readers_of(_pipe(pid))))
            # Its logger has begun writing (a logger just handed the pipe may not have
            # run yet on a busy machine): what it wrote is the part before the marker.
            await wait_real(lambda: "\n" in _log(node.state_dir, "count-0"))
            monitor = monitor_pid(node.state_dir)
            assert monitor is not None
            os.kill(monitor, signal.SIGKILL)
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            await wait_real(lambda: len(node.states("count-0")) >= 3)  # re-adopted
            (logger,) = _readers_of(_pipe(pid))  # the earlier monitor's
            os.kill(logger, signal.SIGSTOP)
            await wait_real(lambda: _unread(pid) >= 64 * 1024)  # in flight: in the pipe
            os.kill(logger, signal.SIGKILL)
            await wait_real(lambda: LOST_LINE.decode() in _log(node.state_dir, "count-0"))
            await wait_real(
                lambda: (
                    len(_log(node.state_dir, "count-0").split(LOST_LINE.decode())[1]) > 256 * 1024
                ),
                timeout=20,
            )
            text = _log(node.state_dir, "count-0")

    before, after = text.split(LOST_LINE.decode())
    assert before.endswith("\n")  # the marker has a line of its own
    old, first, head = _numbers(before)
    assert first == "" and old == list(range(len(old)))
    new, tail, _ = _numbers(after)
    assert new == list(range(new[0], new[0] + len(new)))  # in order, nothing twice
    # The line the killed logger left open goes on after the marker (split, not lost).
    missing = new[0] - (old[-1] + 1)
    if head + tail == f"{old[-1] + 1:08d}":
        missing -= 1  # that line is whole, in two pieces
    else:
        assert (head, tail) == ("", "")
    # Lost: what the killed logger had read and not yet written, at most one read (none
    # here, as it was stopped in its wait): what piled up in the pipe is all logged.
    assert missing * 9 <= READ_SIZE
    assert missing == 0, f"{missing} lines lost at the kill"
