"""One service per state directory: a second one is refused and the first is unharmed.

Real processes: a ``symphony up`` (Conductor + Node) holds ``./.symphony`` and its
``node`` subdirectory; a second ``symphony up``, a ``symphony conductor`` and a
``symphony node`` on those directories each exit 1 with one line naming the directory
and the holder's pid.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .test_up_e2e import BIN, clean_env, cli, symphony_up


def refused(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(BIN / "symphony"), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    return result


def test_state_dir_second_service_is_refused_and_first_unharmed(tmp_path: Path) -> None:
    with symphony_up(tmp_path) as (first, _banner):
        state = (tmp_path / ".symphony").resolve()
        address = (state / "conductor.json").read_text()
        assert json.loads(address)["pid"] == first.pid

        second_up = refused(tmp_path, "up", "--port", "0")
        assert second_up.stderr.splitlines() == [
            f"symphony: error: state directory {state} is in use by another conductor "
            f"(pid {first.pid}); stop that one first, or give this one another state directory"
        ]
        conductor = refused(
            tmp_path,
            "conductor",
            "--state-dir", str(state),
            "--listen", "127.0.0.1:0",
            "--http", "127.0.0.1:0",
        )  # fmt: skip
        error = conductor.stderr.splitlines()[-1]
        assert error.startswith("symphony: error: state directory ")
        assert f"{state} is in use by another conductor (pid {first.pid})" in error
        node = refused(
            tmp_path,
            "node",
            "--state-dir", str(state / "node"),
            "--node-id", "intruder",
            "--conductor", "127.0.0.1:1",
            "--ca-file", str(state / "certs" / "ca.pem"),
            "--cert-file", str(state / "node" / "certs" / "node.pem"),
            "--key-file", str(state / "node" / "certs" / "node.key"),
        )  # fmt: skip
        error = node.stderr.splitlines()[-1]  # after the service's "starting" log line
        assert error.startswith("symphony: error: state directory ")
        assert f"{state / 'node'} is in use by another node (pid {first.pid})" in error

        # The first one is unharmed: still running, still serving, its address intact.
        assert first.poll() is None
        assert (state / "conductor.json").read_text() == address
        nodes = json.loads(cli(tmp_path, "nodes", "--json").stdout)
        assert [n["state"] for n in nodes] == ["ready"]
    assert first.returncode == 0
