"""The real ``symphony`` command reports our errors in plain words, never as class names."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from symphony.node.enroll import enroll

from ..join.helpers import create_token, start_conductor

SYMPHONY = str(Path(sys.executable).parent / "symphony")
CLASS_PREFIX = re.compile(r"symphony: error: [A-Z]\w*(Error|Used|Lost|Failed|Mismatch)\b")


def join_argv(state_dir: Path, port: int, token: str, ca_hash: str) -> list[str]:
    addr = f"127.0.0.1:{port}"
    return [
        *("node", "--node-id", "n1", "--conductor", addr, "--join", addr),
        *("--token", token, "--ca-hash", ca_hash, "--state-dir", str(state_dir)),
    ]


async def run_cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI in a subprocess while this test's Trio loop keeps serving."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMPHONY_")}
    with trio.fail_after(60):
        return await trio.run_process(
            [SYMPHONY, *argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


def error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """The one ``symphony: error:`` line, checked to carry no class name."""
    assert result.returncode == 1, result.stderr
    lines = [ln for ln in result.stderr.decode().splitlines() if ln.startswith("symphony: error:")]
    assert len(lines) == 1, result.stderr
    assert not CLASS_PREFIX.match(lines[0]), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("reusable", "first", "says", "ends"),
    [
        (False, "first", "was already used", "create a new one with 'symphony token create'"),
        (
            True,
            "n1",
            "node id 'n1' is enrolled already",
            "join under another node id, or with a token bound to this one "
            "('symphony token create --node-id ID', with its --group and --capacity again)",
        ),
    ],
)
async def test_cli_plain_errors_join_token_spent_or_id_enrolled(
    tmp_path: Path, reusable: bool, first: str, says: str, ends: str
) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "conductor")
        created = await create_token(info, ttl_seconds=600, reusable=reusable)
        # A reusable token's own enrolment that never said hello may be retried with it
        # (its answer may have been lost): the id is taken by another token here.
        spent = await create_token(info, ttl_seconds=600, reusable=True) if reusable else created
        await enroll(
            host="127.0.0.1",
            port=info.node_port,
            token=spent["token"],
            ca_hash=spent["ca_hash"],
            node_id=first,
            state_dir=tmp_path / "first",
        )
        argv = join_argv(tmp_path / "n1", info.node_port, created["token"], created["ca_hash"])
        line = error_line(await run_cli(argv, tmp_path))
        assert says in line, line
        assert line.endswith(ends), line
        nursery.cancel_scope.cancel()


async def test_cli_plain_errors_wrong_ca_hash(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "conductor")
        created = await create_token(info, ttl_seconds=600)
        wrong = "sha256:" + "0" * 64
        line = error_line(
            await run_cli(
                join_argv(tmp_path / "n1", info.node_port, created["token"], wrong), tmp_path
            )
        )
        assert "the conductor's CA is sha256:" in line
        assert "someone in between" in line
        nursery.cancel_scope.cancel()


async def test_cli_plain_errors_conductor_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:  # bound, not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        token = "symjt1.abc.def"
        result = await run_cli(
            join_argv(tmp_path / "n1", port, token, "sha256:" + "0" * 64), tmp_path
        )
    line = error_line(result)
    assert line.startswith(f"symphony: error: cannot reach the conductor at 127.0.0.1:{port}")
    assert "is the Conductor running" in line
