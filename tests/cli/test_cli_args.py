"""Argument parsing of the client commands and ``symphony up``: values, overrides, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symphony.cli import CLIError, build_parser, main
from symphony.cli._remote import api_error_text
from symphony.cli._spec_file import load_spec_text
from symphony.cli.control import matching
from symphony.cli.deploy import build_spec
from symphony.cli.up import banner, relay_port_of, up_config
from symphony.up import UpInfo, local_capacities, local_node_id

SPEC_YAML = """\
name: hello
node_group: local
capacity_requests: {cpu: 10}
config:
  command: ["python3", "-c", "print('hi')"]
"""


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ("scale", "web", "many"),
        ("scale", "web", "-1"),
        ("scale", "web"),
        ("logs", "web", "--tail", "x"),
        ("logs",),
        ("stop",),
        ("rm",),
        ("events", "web", "--limit", "-3"),
        ("ps", "--bogus"),
        ("deploy", "--replicas", "two", "-f", "x.yaml"),
        ("up", "--port", "70000"),
        ("up", "--capacity", "cpu=lots"),
        ("up", "--node-id", "bad id!"),
        ("up", "--log-level", "LOUD"),
        ("up", "--ports", "30000-20000"),
    ],
)
def test_cli_malformed_arguments_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    err = usage_error(capsys, *argv)
    assert err.startswith("usage: symphony")
    assert "error:" in err


def test_cli_deploy_needs_exactly_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert "give -f FILE" in usage_error(capsys, "deploy")
    assert "not both" in usage_error(capsys, "deploy", "-f", "job.yaml", "--", "true")


def test_cli_client_commands_parse_their_flags() -> None:
    args = parse("logs", "web", "-f", "--tail", "5", "--instance", "web-1-abc", "--stderr")
    assert (args.name, args.follow, args.tail, args.instance, args.stderr) == (
        "web",
        True,
        5,
        "web-1-abc",
        True,
    )
    assert parse("logs", "web").tail is None  # the Conductor's default: 100, or all since
    since = parse("logs", "web", "--since", "1h30m", "-t")
    assert (since.since, since.timestamps) == ("1h30m", True)
    assert parse("ps", "-a").all is True
    assert parse("scale", "web", "0").replicas == 0
    assert parse("rm", "a", "b", "--regex").names == ["a", "b"]
    assert parse("stop", "web").desired_state == "stopped"
    assert parse("start", "web").desired_state == "running"
    assert parse("ps", "--conductor", "http://10.0.0.5:8000").conductor == "http://10.0.0.5:8000"
    assert parse("nodes").conductor is None


def test_cli_deploy_reads_yaml_and_json_and_applies_overrides(tmp_path: Path) -> None:
    yaml_file = tmp_path / "job.yaml"
    yaml_file.write_text(SPEC_YAML)
    spec = build_spec(parse("deploy", "-f", str(yaml_file), "--name", "other", "--replicas", "3"))
    assert spec["name"] == "other" and spec["replicas"] == 3
    assert spec["config"]["command"] == ["python3", "-c", "print('hi')"]
    json_file = tmp_path / "job.json"
    json_file.write_text(json.dumps({"config": {"command": ["true"]}}))
    assert build_spec(parse("deploy", "-f", str(json_file))) == {"config": {"command": ["true"]}}


def test_cli_deploy_inline_command_keeps_its_own_flags() -> None:
    spec = build_spec(parse("deploy", "--name", "t", "--", "sh", "-c", "echo --name x"))
    assert spec == {"name": "t", "config": {"command": ["sh", "-c", "echo --name x"]}}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "this is empty"),
        ("- a\n- b\n", "this is a list"),
        ("name: [unclosed\n", "not valid YAML"),
        ('{"name": ', "not valid JSON"),
        ('{"name": "a", "config": {}, "name": "b"}', "invalid spec: duplicate key 'name'"),
        ("name: a\nconfig: {}\nname: b\n", "invalid spec: line 3, column 1: duplicate key"),
        ("just a string", "this is a str"),
    ],
)
def test_cli_deploy_malformed_spec_is_one_line_error(text: str, says: str) -> None:
    with pytest.raises(CLIError) as exc:
        load_spec_text(text, "job.yaml")
    message = str(exc.value)
    assert message.startswith("job.yaml: ") and says in message
    assert "\n" not in message


def alias_bomb(levels: int = 12) -> str:
    """A few hundred bytes of YAML that stand for 9**12 strings (the "billion laughs")."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(levels):
        before = f"l{n - 1}" if n else "a"
        lines.append(f"l{n}: &l{n} [{', '.join([f'*{before}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (alias_bomb(), "too large once its aliases (*name) are expanded: over 1,048,576"),
        ("a: &a [*a]\n", "line 1, column 4: an alias (*name) inside its own anchor"),
        ("name: web\nreplicas: 2020-01-01\n", "replicas: 2020-01-01 is a date;"),
        ("config: {env: {T: !!binary aGk=}}\n", "config.env.T: b'hi' is a binary value"),
        ("config: {command: [!!set {a}]}\n", "config.command[0]: {'a'} is a set"),
        ("name: web\nreplicas: 1\nname: api\n", "line 3, column 1: duplicate key 'name'"),
        ("name: !!python/name:os.system\n", "could not determine a constructor"),
    ],
    ids=["alias-bomb", "alias-loop", "date", "binary", "set", "duplicate-key", "python-tag"],
)
def test_cli_deploy_spec_beyond_json_is_refused_naming_what(text: str, says: str) -> None:
    with pytest.raises(CLIError) as exc:
        load_spec_text(text, "job.yaml")
    message = str(exc.value)
    assert message.startswith("job.yaml: invalid spec: ") and says in message, message
    assert "\n" not in message


def test_cli_deploy_spec_keeps_aliases_that_repeat_a_little() -> None:
    text = "name: web\nconfig:\n  env: &env {A: '1'}\n  command: [sh]\nlabels: *env\n"
    assert load_spec_text(text, "job.yaml")["labels"] == {"A": "1"}


def test_cli_deploy_spec_keeps_merge_keys() -> None:
    """``<<: *base`` shares a block between specs (a local key overrides a merged one, and
    is no duplicate); the strict loader's duplicate check once refused the merge key."""
    text = (
        "name: web\nlabels: &base {A: '1', B: '2'}\n"
        "config:\n  command: [sh]\n  env: {<<: *base, B: '3'}\n"
    )
    spec = load_spec_text(text, "job.yaml")
    assert spec["config"]["env"] == {"A": "1", "B": "3"}
    with pytest.raises(CLIError, match="duplicate key 'B'"):
        load_spec_text(text.replace("B: '3'", "B: '3', B: '4'"), "job.yaml")


def test_cli_deploy_alias_bomb_is_refused_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    assert main(["deploy", "-f", str(bomb), "--conductor", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"symphony: error: {bomb}: invalid spec: too large"), err


def test_cli_deploy_missing_file_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "-f", str(tmp_path / "nope.yaml")]) == 1
    err = capsys.readouterr().err
    assert err == f"symphony: error: {tmp_path / 'nope.yaml'}: no such file\n"


def test_cli_deploy_binary_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = tmp_path / "blob.yaml"
    blob.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["deploy", "-f", str(blob)]) == 1
    assert "not a text file" in capsys.readouterr().err


def test_cli_rm_regex_matches_by_search_and_rejects_bad_patterns() -> None:
    names = ["test-a", "web", "my-test-b"]
    assert matching(["^test-"], names) == ["test-a"]
    assert matching(["test", "^web$"], names) == ["test-a", "web", "my-test-b"]
    with pytest.raises(CLIError, match="bad regular expression"):
        matching(["("], names)


class FakeApiError(Exception):
    def __init__(self, error: str, detail: object) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail


def test_cli_api_errors_become_one_line_naming_each_field() -> None:
    detail = [
        {"path": "config.command", "message": "Field required"},
        {"path": "replicas", "message": "must be >= 0"},
    ]
    assert api_error_text(FakeApiError("invalid spec", detail)) == (
        "invalid spec: config.command: Field required; replicas: must be >= 0"
    )
    assert api_error_text(FakeApiError("not found", "no deployment 'x'")) == (
        "not found: no deployment 'x'"
    )


def test_up_defaults_and_capacity_overrides(tmp_path: Path) -> None:
    config = up_config(parse("up"))
    assert (config.http_port, config.node_port, config.capacities) == (8000, 0, None)
    assert config.state_dir == Path(".symphony") and config.groups == ("local",)
    custom = up_config(
        parse("up", "--port", "0", "--capacity", "Analytic1=10", "--capacity", "cpu=50")
    )
    assert custom.http_port == 0
    assert custom.capacities["Analytic1"] == 10 and custom.capacities["cpu"] == 50
    assert config.ports is None  # node.ports' default
    assert up_config(parse("up", "--ports", "31000-31099")).ports == "31000-31099"
    # The services' origin: beside the API's port unless told.
    assert config.relay_port is None and relay_port_of(config) == 8001
    assert relay_port_of(custom) == 0
    assert relay_port_of(up_config(parse("up", "--relay-port", "9443"))) == 9443


def test_up_local_node_id_is_a_valid_node_id_from_the_host_name() -> None:
    assert local_node_id("GPU_box.example.org") == "GPU_box"
    assert local_node_id("weird host!name") == "weird-host-name"
    assert local_node_id("-.-") == "local"
    assert local_node_id("node-client") == "local"  # reserved for the shared certificate
    assert len(local_node_id("x" * 100)) == 63
    from symphony.pki import validate_node_id

    assert validate_node_id(local_node_id()) == local_node_id()


def test_up_local_capacities_offer_cpu_hundredths() -> None:
    import os

    capacities = local_capacities()
    assert capacities["cpu"] == len(os.sched_getaffinity(0)) * 100
    assert set(capacities) <= {"cpu", "gpu"}


def test_up_banner_prints_the_ui_url_with_token_and_an_example() -> None:
    info = UpInfo(
        http_url="http://127.0.0.1:8000",
        ui_url="http://127.0.0.1:8000/ui#token=abc",
        token="abc",
        node_id="laptop",
        node_port=40000,
        capacities={"cpu": 400},
        state_dir=Path("/x/.symphony"),
        relay_url="http://127.0.0.1:8001",
    )
    text = banner(info)
    assert "http://127.0.0.1:8000/ui#token=abc" in text
    assert "services: http://127.0.0.1:8001/x/" in text
    assert "symphony deploy" in text and "Ctrl-C" in text
