"""The ``symphony`` command: exit statuses, error lines, and flags laid over files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from symphony import __version__
from symphony.cli import build_parser, main
from symphony.cli.service import conductor_config, node_config, root_config
from symphony.config import ConfigError

from .test_config import SEED_NODE

BIN = Path(sys.executable).parent  # console scripts are installed beside the interpreter
TOKEN = "symjt1.0123abcd.s3cr3t-value_XYZ"
HASH = "sha256:" + "ab" * 32


def symphony(*args: str, cwd: Path | None = None, script: str = "symphony"):
    return subprocess.run(
        [str(BIN / script), *args], capture_output=True, text=True, timeout=30, cwd=cwd
    )


@pytest.fixture
def node_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "node.yaml"
    path.write_text(SEED_NODE)
    return path


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_cli_help_exits_zero_and_lists_commands() -> None:
    result = symphony("--help")
    assert result.returncode == 0, result.stderr
    for command in ("conductor", "node", "version", "--config"):
        assert command in result.stdout


def test_cli_version_prints_the_package_version() -> None:
    result = symphony("version")
    assert (result.returncode, result.stdout) == (0, f"symphony {__version__}\n")
    assert symphony("--version").stdout == f"symphony {__version__}\n"


def test_cli_bad_config_file_exits_1_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: node\nnode:\n  node_id: n1\n  capacities_total: {Analytic1: ten}\n")
    result = symphony("--config", str(bad))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"symphony: error: {bad}: ")
    assert "node.capacities_total.Analytic1: must be a non-negative integer, got 'ten'" in lines[0]


def test_cli_missing_config_file_exits_1(tmp_path: Path) -> None:
    result = symphony("node", "--config", str(tmp_path / "absent.yaml"))
    assert result.returncode == 1
    assert result.stderr == f"symphony: error: {tmp_path / 'absent.yaml'}: no such file\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus"],
        ["conductor", "--bogus"],
        [],
        ["conductor", "--listen", "nohost"],
        ["conductor", "--auth", "basic"],
        ["conductor", "--node-timeout", "soon"],
        ["conductor", "--node-restart-grace", "0"],
        ["node", "--capacity", "A=-1"],
        ["node", "--capacity", "A"],
        ["node", "--heartbeat", "0"],
        ["node", "--node-id", "a/b"],
        ["node", "--ca-hash", "md5:00"],
        ["--mode", "up", "--config", "x.yaml"],
        ["--log-level", "LOUD"],
        ["--log-level", "LOUD", "--config", "x.yaml"],
    ],
)
def test_cli_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2


def test_cli_usage_error_in_subprocess_exits_2() -> None:
    result = symphony("conductor", "--no-such-flag")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in result.stderr


def test_cli_malformed_token_flag_is_not_echoed() -> None:
    result = symphony("node", "--token", "symjt1.x.y.s3cr3t")
    assert result.returncode == 2
    assert "s3cr3t" not in result.stderr
    assert "--token" in result.stderr


def test_cli_node_flags_override_the_file(node_file: Path) -> None:
    config = node_config(
        parse(
            "node", "--config", str(node_file), "--node-id", "gpu-box-2",
            "--conductor", "[::1]:6000", "--group", "a", "--group", "b",
            "--capacity", "X=1", "--capacity", "Y=0", "--heartbeat", "0.5",
            "--state-dir", "st", "--log-level", "warning", "--log-json",
            "--ports", "31000-31099",
        )
    )  # fmt: skip
    node = config.node
    assert config.mode == "node"
    assert (config.logging.level, config.logging.json) == ("WARNING", True)
    assert node.node_id == "gpu-box-2"
    assert (node.conductor_host, node.conductor_port) == ("::1", 6000)
    assert node.groups == ("a", "b")
    assert dict(node.capacities_total) == {"X": 1, "Y": 0}  # replaced, not merged
    assert node.heartbeat_sec == 0.5
    assert node.ports == "31000-31099"
    assert node.state_dir == node_file.parent / "st"
    assert node.ca_file == node_file.parent / "storage/certs/ca.pem"  # from the file


def test_cli_node_file_values_stay_without_flags(node_file: Path) -> None:
    node = node_config(parse("node", "--config", str(node_file))).node
    assert (node.node_id, node.groups, dict(node.capacities_total)) == (
        "node-1",
        ("gpu-1",),
        {"Analytic1": 10},
    )


def test_cli_node_join_flags_replace_the_file_certificates(node_file: Path) -> None:
    args = parse("node", "--config", str(node_file), "--join", "c.example:50051",
                 "--token", TOKEN, "--ca-hash", HASH)  # fmt: skip
    node = node_config(args).node
    assert (node.join_addr, node.join_token, node.join_ca_hash) == ("c.example:50051", TOKEN, HASH)
    assert node.ca_file is None


def test_cli_node_flags_alone_need_no_file(tmp_path: Path) -> None:
    args = parse("node", "--node-id", "n1", "--join", "c:1", "--token", TOKEN, "--ca-hash", HASH)
    node = node_config(args).node
    assert (node.conductor_host, node.conductor_port) == ("c", 1)  # from --join
    with pytest.raises(ConfigError, match=r"node\.node_id: required"):
        node_config(parse("node", "--conductor", "c:1"))


def test_cli_conductor_flags_override_the_file(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("mode: node\nconductor:\n  listen: '0.0.0.0:1'\n  http: {auth: token}\n")
    args = parse(
        "conductor", "--config", str(file), "--listen", "127.0.0.1:2", "--http", "[::1]:3",
        "--auth", "none", "--state-dir", str(tmp_path / "s"), "--cert-path", str(tmp_path / "c"),
        "--advertise", "a.example", "--advertise", "10.0.0.1", "--node-timeout", "9",
        "--node-restart-grace", "3",
    )  # fmt: skip
    config = conductor_config(args)
    c = config.conductor
    assert config.mode == "conductor"  # the command decides the role, not the file
    assert (c.listen, c.http_listen, c.http_auth) == ("127.0.0.1:2", "[::1]:3", "none")
    assert (c.state_dir, c.cert_path) == (tmp_path / "s", tmp_path / "c")
    assert (c.advertise, c.node_timeout_sec) == (("a.example", "10.0.0.1"), 9.0)
    assert c.node_restart_grace_sec == 3.0


def test_cli_conductor_auth_none_flag_refused_off_loopback() -> None:
    with pytest.raises(ConfigError, match=r"conductor\.http\.auth"):
        conductor_config(parse("conductor", "--http", "0.0.0.0:8000", "--auth", "none"))


def test_cli_root_config_mode_and_log_level_override(node_file: Path) -> None:
    config = root_config(parse("--config", str(node_file), "--log-level", "error"))
    assert (config.mode, config.logging.level) == ("node", "ERROR")
    both = node_file.parent / "both.yaml"
    both.write_text(SEED_NODE + "conductor:\n  listen: '127.0.0.1:9'\n")
    config = root_config(parse("--config", str(both), "--mode", "conductor"))
    assert config.mode == "conductor" and config.conductor.listen_port == 9


def test_cli_check_config_prints_effective_config_without_secrets(tmp_path: Path) -> None:
    args = ["--node-id", "n1", "--join", "c:1", "--token", TOKEN, "--ca-hash", HASH,
            "--check-config"]  # fmt: skip
    result = symphony(*args, cwd=tmp_path, script="symphony-node")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["mode"] == "node"
    assert shown["node"]["join_token"] == "***"
    assert shown["node"]["state_dir"] == str(tmp_path / "storage/node")
    assert "s3cr3t" not in result.stdout + result.stderr


def test_cli_conductor_script_is_symphony_conductor(tmp_path: Path) -> None:
    result = symphony("--http", "127.0.0.1:0", "--check-config", script="symphony-conductor")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["conductor"]["http_port"] == 0


def test_cli_conductor_allow_host_flag_adds_names_and_refuses_bad_ones(tmp_path: Path) -> None:
    args = ["--http", "127.0.0.1:0", "--allow-host", "Conductor.LAN", "--allow-host",
            "10.0.0.5", "--check-config"]  # fmt: skip
    result = symphony(*args, script="symphony-conductor")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)["conductor"]["http_allowed_hosts"]
    assert shown == ["conductor.lan", "10.0.0.5"]
    bad = symphony("--allow-host", "not a host", "--check-config", script="symphony-conductor")
    assert bad.returncode == 2 and "--allow-host" in bad.stderr


def test_cli_conductor_runs_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    argv = [str(BIN / "symphony"), "conductor", "--listen", "127.0.0.1:0", "--http",
            "127.0.0.1:0", "--state-dir", str(tmp_path / "state"), "--log-json"]  # fmt: skip
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        try:
            for line in proc.stderr:
                if json.loads(line)["msg"].startswith("conductor running"):
                    break
            else:
                pytest.fail(f"the conductor never started (exit {proc.wait()})")
            proc.send_signal(signal.SIGTERM)
            rest = proc.stderr.read()
            assert proc.wait(timeout=20) == 0, rest
        finally:
            proc.kill()
    assert "conductor stopped by SIGTERM" in rest
    assert (tmp_path / "state" / "certs").is_dir()  # the flags reached the runtime
