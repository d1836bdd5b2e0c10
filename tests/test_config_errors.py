"""Malformed configuration files: one ConfigError naming the file and each bad key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony.config import ConfigError, load_config, parse_config
from symphony.config import _values as values

NODE = 'mode: node\nnode:\n  node_id: n1\n  conductor_addr: "h:1"\n'
TOKEN = "symjt1.0123abcd.s3cr3t-value_XYZ"
HASH = "sha256:" + "ab" * 32

# (file text, key path that must be named, words the message must contain)
CASES = [
    ("mode: conductor\nlisten: x\n", "listen", "unknown field 'listen'"),
    ("mode: conductor\nconductor:\n  listn: 'h:1'\n", "conductor.listn", "did you mean 'listen'"),
    (
        "mode: conductor\nconductor:\n  tls:\n    cert: x\n",
        "conductor.tls.cert",
        "unknown field 'cert'",
    ),
    (NODE + "  labels: {a: b}\n", "node.labels", "unknown field 'labels'"),
    ("mode: up\n", "mode", "'conductor', 'node'"),
    ("logging: {level: INFO}\n", "mode", "required"),
    ("mode: conductor\nlogging: {level: LOUD}\n", "logging.level", "'DEBUG'"),
    ("mode: conductor\nlogging: {json: 'yes'}\n", "logging.json", "true or false"),
    ("mode: conductor\nlogging: [a]\n", "logging", "mapping"),
    ("mode: conductor\nconductor:\n  listen: 50051\n", "conductor.listen", "host:port"),
    ("mode: conductor\nconductor:\n  listen: 'nohost'\n", "conductor.listen", "host:port"),
    ("mode: conductor\nconductor:\n  listen: ':8000'\n", "conductor.listen", "host:port"),
    ("mode: conductor\nconductor:\n  listen: 'h:99999'\n", "conductor.listen", "0..65535"),
    ("mode: conductor\nconductor:\n  listen: 'h:-1'\n", "conductor.listen", "0..65535"),
    ("mode: conductor\nconductor:\n  listen: 'h:http'\n", "conductor.listen", "0..65535"),
    ("mode: conductor\nconductor:\n  listen: '::1:80'\n", "conductor.listen", "brackets"),
    ("mode: conductor\nconductor:\n  listen: '[::1:80'\n", "conductor.listen", "host:port"),
    ("mode: conductor\nconductor:\n  listen: 'a b:80'\n", "conductor.listen", "valid host"),
    ("mode: conductor\nconductor:\n  http: {listen: 'h:1:2'}\n", "conductor.http.listen", "IPv6"),
    (
        "mode: conductor\nconductor:\n  http: {listen: '0.0.0.0:8000', auth: none}\n",
        "conductor.http.auth",
        "loopback",
    ),
    ("mode: conductor\nconductor:\n  http: {auth: basic}\n", "conductor.http.auth", "'token'"),
    ("mode: conductor\nconductor:\n  http: 5\n", "conductor.http", "mapping"),
    (
        "mode: conductor\nconductor:\n  http: {allowed_hosts: proxy.lan}\n",
        "conductor.http.allowed_hosts",
        "list",
    ),
    (
        "mode: conductor\nconductor:\n  http: {allowed_hosts: [ok.lan, 'a b']}\n",
        "conductor.http.allowed_hosts[1]",
        "host name",
    ),
    ("mode: conductor\nconductor:\n  node_timeout_sec: 0\n", "conductor.node_timeout_sec", "pos"),
    (
        "mode: conductor\nconductor:\n  node_restart_grace_sec: -1\n",
        "conductor.node_restart_grace_sec",
        "pos",
    ),
    ("mode: conductor\nconductor:\n  tls: {advertise: h}\n", "conductor.tls.advertise", "list"),
    (
        "mode: conductor\nconductor:\n  tls: {advertise: [ok, 'bad host']}\n",
        "conductor.tls.advertise[1]",
        "host name",
    ),
    ("mode: conductor\nconductor:\n  state_dir: ''\n", "conductor.state_dir", "path"),
    ("mode: node\n", "node.node_id", "required"),
    ("mode: Node\n", "node.node_id", "required"),  # the role as validated, any case
    ("mode: node\nnode:\n  conductor_addr: 'h:1'\n", "node.node_id", "required"),
    ("mode: node\nnode:\n  node_id: n1\n", "node.conductor_addr", "required"),
    ("mode: node\nnode:\n  node_id: ''\n  conductor_addr: 'h:1'\n", "node.node_id", "letters"),
    ("mode: node\nnode:\n  node_id: 'a/b'\n  conductor_addr: 'h:1'\n", "node.node_id", "letters"),
    ("mode: node\nnode:\n  node_id: 7\n  conductor_addr: 'h:1'\n", "node.node_id", "got 7"),
    (
        "mode: node\nnode:\n  node_id: node-client\n  conductor_addr: 'h:1'\n",
        "node.node_id",
        "reserved",
    ),
    (NODE + "  groups: gpu-1\n", "node.groups", "list"),
    (NODE + "  groups: [gpu-1, 5]\n", "node.groups[1]", "got 5"),
    (NODE + "  capacities_total: {Analytic1: ten}\n", "node.capacities_total.Analytic1", "'ten'"),
    (NODE + "  capacities_total: {A: -1}\n", "node.capacities_total.A", "non-negative"),
    (NODE + "  capacities_total: {A: true}\n", "node.capacities_total.A", "got true"),
    (NODE + "  capacities_total: {A: 1.5}\n", "node.capacities_total.A", "integer"),
    (NODE + "  capacities_total: {1A: 1}\n", "node.capacities_total.1A", "capacity class"),
    (NODE + "  capacities_total: [A]\n", "node.capacities_total", "mapping"),
    (NODE + "  heartbeat_sec: 0\n", "node.heartbeat_sec", "positive"),
    (NODE + "  heartbeat_sec: -3\n", "node.heartbeat_sec", "positive"),
    (NODE + "  heartbeat_sec: .nan\n", "node.heartbeat_sec", "positive"),
    (NODE + "  heartbeat_sec: true\n", "node.heartbeat_sec", "got true"),
    (NODE + "  heartbeat_sec: '3'\n", "node.heartbeat_sec", "got '3'"),
    (NODE + "  tls: {ca_file: ca.pem}\n", "node.tls.cert_file", "together"),
    (NODE + "  tls: {ca_file: ca.pem, cert_file: c, key_file: 5}\n", "node.tls.key_file", "path"),
    (NODE + f"  join: {{addr: 'h:1', token: {TOKEN}}}\n", "node.join.ca_hash", "together"),
    (NODE + f"  join: {{addr: 'h:1', token: {TOKEN}, ca_hash: abc}}\n", "node.join.ca_hash", "64"),
    (NODE + f"  join: {{addr: 'h', token: {TOKEN}, ca_hash: {HASH}}}\n", "node.join.addr", "host"),
    (
        NODE
        + "  tls: {ca_file: a, cert_file: b, key_file: c}\n"
        + f"  join: {{addr: 'h:1', token: {TOKEN}, ca_hash: {HASH}}}\n",
        "node.join.addr",
        "not both",
    ),
    ("mode: conductor\nmode: node\n", "", "duplicate key 'mode'"),
    ("mode: conductor\nconductor: {listen: [\n", "", "not valid YAML: line"),
    ("- mode: conductor\n", "", "top level must be a mapping"),
    ("mode: conductor\nconductor: &c {tls: *c}\n", "", "line 2, column 12: an alias"),
]


@pytest.mark.parametrize(("text", "path", "words"), CASES, ids=[c[1] or c[2] for c in CASES])
def test_config_malformed_file_names_file_and_key(
    tmp_path: Path, text: str, path: str, words: str
) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    error = caught.value
    assert error.source == str(file)
    assert str(error).startswith(f"{file}: ")
    messages = [msg for where, msg in error.problems if where == path]
    assert messages, f"{path!r} not among {error.problems}"
    assert any(words in msg for msg in messages), (words, messages)
    assert "\n" not in str(error)


def test_config_reports_every_problem_at_once(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(NODE + "  heartbeat_sec: 0\n  groups: [1]\n  extra: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    paths = [where for where, _ in caught.value.problems]
    assert paths == ["node.extra", "node.groups[0]", "node.heartbeat_sec"]


def test_config_bad_join_token_is_not_echoed(tmp_path: Path) -> None:
    secret = "symjt1.id.has.too.many.dots-s3cr3t"
    file = tmp_path / "bad.yaml"
    file.write_text(NODE + f"  join: {{addr: 'h:1', token: '{secret}', ca_hash: {HASH}}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert [p for p, _ in caught.value.problems] == ["node.join.token"]
    assert "s3cr3t" not in str(caught.value)


def test_config_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.yaml")


def test_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    file = tmp_path / "binary.yaml"
    file.write_bytes(b"mode: \xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(file)


def test_config_parse_without_source_has_no_file_prefix() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"mode": "conductor", "conductor": {"listen": "x"}})
    assert str(caught.value).startswith("conductor.listen: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0:50051", ("0.0.0.0", 50051)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:8000", ("::1", 8000)),
        ("[2001:db8::1]:65535", ("2001:db8::1", 65535)),
        ("gpu-box.example.org:443", ("gpu-box.example.org", 443)),
        (" host:1 ", ("host", 1)),
    ],
)
def test_config_host_port_accepts(text: str, expected: tuple[str, int]) -> None:
    assert values.host_port(text) == expected
    assert values.host_port(values.format_host_port(*expected)) == expected


@pytest.mark.parametrize(
    "text", ["", "host", ":80", "host:", "[::1]", "[::1]80", "h:65536", "h:+1", "h:٣", "-h:1", 80]
)
def test_config_host_port_refuses(text: object) -> None:
    with pytest.raises(values.Invalid):
        values.host_port(text)


# Whole messages through the real loader: the wording is the spec translator's
# (symphony.spec.translate_errors), with the file and the key path in front.
WORDED = [
    (
        "mode: conductor\nlogging: {jsn: true}\n",
        "logging.jsn: unknown field 'jsn'; did you mean 'json'?",
    ),
    (
        "mode: conductor\nconductor:\n  http: {alowed_hosts: []}\n",
        "conductor.http.alowed_hosts: unknown field 'alowed_hosts'; did you mean 'allowed_hosts'?",
    ),
    (
        NODE + "heartbeat_sec: 3\n",
        "heartbeat_sec: unknown field 'heartbeat_sec'; it belongs in 'node.heartbeat_sec'",
    ),
    (
        "mode: conductor\nconductor: {node_id: n1}\n",
        "conductor.node_id: unknown field 'node_id'; it belongs in 'node.node_id'",
    ),
    (
        "mode: conductor\nconductor:\n  http: {zzz: 1}\n",
        "conductor.http.zzz: unknown field 'zzz'; expected one of listen, auth, allowed_hosts",
    ),
    (
        "mode: conductor\n5: x\n",
        "unknown key 5 (keys are names); expected one of mode, logging, conductor, node",
    ),
    (
        NODE + "  yes: 1\n",
        "node: unknown key true (keys are names); expected one of node_id, conductor_addr, "
        "groups, capacities_total, heartbeat_sec, tls, join, state_dir, ports, advertise_addr, "
        "cache_max_bytes, log_retention_sec, orphan_logs_max_bytes, envs_dir, gpus",
    ),
    (
        "mode: conductor\nconductor:\n  tls: {advertise: h}\n",
        'conductor.tls.advertise: must be a list (got a string "h")',
    ),
    (
        "mode: conductor\nconductor:\n  tls: 5\n",
        "conductor.tls: must be an object (mapping), got an integer",
    ),
    (
        NODE + "  heartbeat_sec: '3'\n",
        "node.heartbeat_sec: must be a positive number of seconds, got '3'",
    ),
    (
        NODE + "  capacities_total: {A: 1000000000001}\n",
        "node.capacities_total.A: must be a non-negative integer, got 1000000000001",
    ),
    (
        "mode: conductor\nconductor: {listen: 'h:65536'}\n",
        "conductor.listen: port must be a number 0..65535, got 'h:65536'",
    ),
]


@pytest.mark.parametrize(("text", "message"), WORDED, ids=[m.split(":")[0] for _, m in WORDED])
def test_config_file_errors_are_worded_like_spec_errors(
    tmp_path: Path, text: str, message: str
) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert str(caught.value) == f"{file}: {message}"


def test_config_light_checks_and_file_model_share_one_rule() -> None:
    """The file model calls the CLI's light checks: a rule changed there changes both."""
    from symphony.config._file import NodeSection

    with pytest.raises(ValueError, match="reserved for the shared seed certificate"):
        values.node_id("node-client")
    with pytest.raises(ValueError, match="reserved for the shared seed certificate"):
        NodeSection.model_validate({"node_id": "node-client"})
