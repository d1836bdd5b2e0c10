"""A taken port: one line naming the address and what changes it, and no state created."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMPHONY_")}
    return subprocess.run(
        [str(BIN / "symphony"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def assert_refused(result: subprocess.CompletedProcess[str], address: str, *names: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"symphony: error: cannot listen on {address} "), lines[0]
    assert "already in use" in lines[0]
    for name in names:
        assert name in lines[0]


def test_up_port_in_use_names_port_flag_and_creates_no_state(
    tmp_path: Path, taken_port: int
) -> None:
    result = run(tmp_path, "up", "--port", str(taken_port), "--state-dir", "st")
    assert_refused(result, f"127.0.0.1:{taken_port}", "HTTP API", "--port")
    # What a newcomer whose 8000 is taken wants: any port, found by the other commands.
    assert result.stderr.rstrip().endswith(
        "choose another with --port N (--port 0 picks a free one; the commands here still find it)"
    ), result.stderr
    assert not (tmp_path / "st").exists()


def test_up_node_port_in_use_names_node_port_flag(tmp_path: Path, taken_port: int) -> None:
    result = run(tmp_path, "up", "--port", "0", "--node-port", str(taken_port))
    assert_refused(result, f"127.0.0.1:{taken_port}", "node endpoint", "--node-port")
    assert not (tmp_path / ".symphony").exists()


def test_conductor_http_in_use_names_flag_and_key(tmp_path: Path, taken_port: int) -> None:
    result = run(
        tmp_path, "conductor", "--http", f"127.0.0.1:{taken_port}", "--listen", "127.0.0.1:0",
        "--state-dir", "st",
    )  # fmt: skip
    assert_refused(result, f"127.0.0.1:{taken_port}", "--http", "conductor.http.listen")
    assert not (tmp_path / "st").exists()


def test_config_file_node_endpoint_in_use_names_key(tmp_path: Path, taken_port: int) -> None:
    (tmp_path / "c.yaml").write_text(
        "mode: conductor\n"
        "conductor:\n"
        f"  listen: 127.0.0.1:{taken_port}\n"
        "  state_dir: st\n"
        "  http: {listen: 127.0.0.1:0}\n"
    )
    result = run(tmp_path, "--config", "c.yaml")
    assert_refused(result, f"127.0.0.1:{taken_port}", "node endpoint", "conductor.listen")
    assert not (tmp_path / "st").exists()


def test_in_use_error_words_the_servers_own_refusal() -> None:
    import errno

    from symphony.cli._ports import in_use_error

    refused = OSError(errno.EADDRINUSE, "Address already in use")
    error = in_use_error(refused, "--port N")
    assert error is not None
    assert str(error) == (
        "cannot listen: an address is already in use (Address already in use); "
        "choose another with --port N"
    )
    assert in_use_error(OSError(errno.EACCES, "Permission denied"), "--port N") is None
    assert in_use_error(ValueError("x"), "--port N") is None


def test_up_relay_port_in_use_names_relay_port_flag(tmp_path: Path, taken_port: int) -> None:
    result = run(tmp_path, "up", "--port", "0", "--relay-port", str(taken_port))
    assert_refused(result, f"127.0.0.1:{taken_port}", "services", "--relay-port")
    assert not (tmp_path / ".symphony").exists()


@pytest.fixture
def taken_port_above_a_free_one() -> Iterator[int]:
    """A loopback port another program listens on, the port below it free (it is bound
    and let go again, so only a program starting in between could take it)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            with socket.socket() as below:
                try:
                    below.bind(("127.0.0.1", port - 1))
                except OSError:
                    continue
            sock.listen()
            yield port
            return
    raise AssertionError("no loopback port with a free one below it in 100 tries")


def test_conductor_relay_port_in_use_names_flag_and_key(
    tmp_path: Path, taken_port_above_a_free_one: int
) -> None:
    # By default the HTTP port + 1: the message says which flag and key move it.
    taken_port = taken_port_above_a_free_one
    result = run(
        tmp_path, "conductor", "--http", f"127.0.0.1:{taken_port - 1}", "--listen", "127.0.0.1:0",
        "--state-dir", "st",
    )  # fmt: skip
    assert_refused(result, f"127.0.0.1:{taken_port}", "--relay-port", "conductor.relay.port")
    assert not (tmp_path / "st").exists()
