"""run_service: a stop signal is a clean shutdown; errors come out unwrapped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from symphony.cli import run_service


async def signals_itself(signum: int, events: list[str], *, task_status) -> None:
    """A service that becomes ready, then receives ``signum`` as if from outside."""
    task_status.started("ready-value")
    try:
        os.kill(os.getpid(), signum)
        await trio.sleep_forever()
    finally:
        events.append("cleaned up")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_runner_signal_stops_service_cleanly(signum: signal.Signals) -> None:
    events: list[str] = []
    stopped_by = run_service(signals_itself, signum, events, on_ready=events.append)
    assert stopped_by == signum
    assert events == ["ready-value", "cleaned up"]


def test_cli_runner_signal_during_startup_is_a_clean_stop() -> None:
    ready: list[object] = []

    async def slow_start(*, task_status) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await trio.sleep_forever()  # never reaches started()

    assert run_service(slow_start, on_ready=ready.append) == signal.SIGTERM
    assert ready == []


def test_cli_runner_service_that_returns_gives_none() -> None:
    async def short(value: int, *, task_status) -> None:
        task_status.started(value)

    seen: list[object] = []
    assert run_service(short, 7, on_ready=seen.append) is None
    assert seen == [7]


def test_cli_runner_service_error_comes_out_unwrapped() -> None:
    async def fails(*, task_status) -> None:
        task_status.started()
        raise OSError(98, "Address already in use")

    with pytest.raises(OSError, match="Address already in use"):
        run_service(fails)


def test_cli_runner_several_errors_stay_grouped() -> None:
    async def fails_twice(*, task_status) -> None:
        async def boom(text: str) -> None:
            raise ValueError(text)

        task_status.started()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(boom, "a")
            nursery.start_soon(boom, "b")

    with pytest.raises(ExceptionGroup) as caught:
        run_service(fails_twice)
    assert caught.group_contains(ValueError, match="a")


STUBBORN = textwrap.dedent(
    """
    import sys, trio
    from symphony.cli import run_service

    async def service(*, task_status):
        task_status.started()
        print("ready", flush=True)
        try:
            await trio.sleep_forever()
        finally:
            print("stopping", flush=True)
            if sys.argv[1] == "hang":
                with trio.CancelScope(shield=True):
                    await trio.sleep_forever()

    stopped_by = run_service(service)
    print("stopped by", stopped_by.name, flush=True)
    """
)


def start(tmp_path: Path, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "service.py"
    script.write_text(STUBBORN)
    proc = subprocess.Popen(
        [sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


def test_cli_runner_real_process_exits_zero_on_sigterm(tmp_path: Path) -> None:
    proc = start(tmp_path, "clean")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert out == "stopping\nstopped by SIGTERM\n"


def test_cli_runner_second_signal_exits_at_once(tmp_path: Path) -> None:
    proc = start(tmp_path, "hang")
    proc.send_signal(signal.SIGINT)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "stopping\n"  # now stuck in a shielded shutdown
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGINT
