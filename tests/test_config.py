"""Configuration files that are valid: the seed's verbatim, defaults, additions, code use."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from symphony.conductor.nodes import liveness_timeout
from symphony.conductor.nodes.registry import RESTART_GRACE_SEC
from symphony.config import (
    ConductorConfig,
    Config,
    ConfigError,
    LoggingConfig,
    NodeConfig,
    load_config,
    parse_config,
)

SEED_CONDUCTOR = """\
mode: conductor
logging:
  level: DEBUG
  json: false
conductor:
  listen: "0.0.0.0:50051"          # the node endpoint (mTLS WebSocket)
  tls:
    cert_path: "storage/certs"
"""

SEED_NODE = """\
mode: node
logging:
  level: DEBUG
  json: false
node:
  node_id: "node-1"
  conductor_addr: "localhost:50051"
  groups: ["gpu-1"]
  capacities_total:
    Analytic1: 10
  heartbeat_sec: 3.0
  tls:
    ca_file: "storage/certs/ca.pem"
    cert_file: "storage/certs/node-client.pem"
    key_file: "storage/certs/node-client.key"
"""

HASH = "sha256:" + "ab" * 32
TOKEN = "symjt1.0123abcd.s3cr3t-value_XYZ"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in tmp_path: relative paths in configs resolve against the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(directory: Path, text: str, name: str = "config.yaml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_config_seed_conductor_file_parses_verbatim(in_tmp: Path) -> None:
    config = load_config(write(in_tmp, SEED_CONDUCTOR))
    assert config == Config(
        mode="conductor",
        logging=LoggingConfig(level="DEBUG", json=False),
        conductor=ConductorConfig(
            listen_host="0.0.0.0",
            listen_port=50051,
            cert_path=in_tmp / "storage/certs",
            advertise=(),
            state_dir=in_tmp / "storage",
            http_host="127.0.0.1",
            http_port=8000,
            http_auth="token",
            node_timeout_sec=None,
        ),
        node=None,
    )
    assert config.conductor is not None
    assert config.conductor.listen == "0.0.0.0:50051"
    assert config.conductor.http_listen == "127.0.0.1:8000"


def test_config_seed_node_file_parses_verbatim(in_tmp: Path) -> None:
    config = load_config(write(in_tmp, SEED_NODE))
    certs = in_tmp / "storage/certs"
    assert config == Config(
        mode="node",
        logging=LoggingConfig(level="DEBUG", json=False),
        conductor=None,
        node=NodeConfig(
            node_id="node-1",
            conductor_host="localhost",
            conductor_port=50051,
            groups=("gpu-1",),
            capacities_total={"Analytic1": 10},
            heartbeat_sec=3.0,
            ca_file=certs / "ca.pem",
            cert_file=certs / "node-client.pem",
            key_file=certs / "node-client.key",
            state_dir=in_tmp / "storage/node",
        ),
    )
    assert config.node is not None
    assert config.node.conductor_addr == "localhost:50051"
    assert isinstance(config.node.heartbeat_sec, float)


def test_config_relative_paths_resolve_against_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, SEED_CONDUCTOR)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    conductor = load_config(path).conductor
    assert conductor is not None
    assert conductor.cert_path == elsewhere / "storage/certs"
    monkeypatch.setenv("HOME", str(tmp_path))
    home = parse_config({"mode": "conductor", "conductor": {"state_dir": "~/state"}}).conductor
    assert home is not None and home.state_dir == tmp_path / "state"


def test_config_every_addition_is_honoured(in_tmp: Path) -> None:
    text = """\
mode: conductor
conductor:
  listen: "[::1]:0"
  state_dir: /srv/symphony
  tls:
    advertise: [conductor.example.org, 10.0.0.5, "::1"]
  http:
    listen: "localhost:9000"
    auth: NONE
  node_timeout_sec: 12
  node_restart_grace_sec: 2.5
node:
  node_id: gpu-box-2
  join: {addr: "conductor.example.org:50051", token: "TOKEN", ca_hash: "HASH"}
  state_dir: node-state
""".replace("TOKEN", TOKEN).replace("HASH", "SHA256:" + "AB" * 32)
    config = load_config(write(in_tmp, text))
    conductor, node = config.conductor, config.node
    assert conductor is not None and node is not None
    assert (conductor.listen_host, conductor.listen_port, conductor.listen) == ("::1", 0, "[::1]:0")
    assert conductor.state_dir == Path("/srv/symphony")
    assert conductor.cert_path == Path("/srv/symphony/certs")  # follows state_dir
    assert conductor.advertise == ("conductor.example.org", "10.0.0.5", "::1")
    assert (conductor.http_host, conductor.http_port, conductor.http_auth) == (
        "localhost",
        9000,
        "none",
    )
    assert conductor.node_timeout_sec == 12.0
    assert liveness_timeout(conductor.node_timeout_sec, 3.0) == 12.0
    assert conductor.node_restart_grace_sec == 2.5
    # The other role's section is parsed too (and would be refused if wrong).
    assert node.join_addr == "conductor.example.org:50051"
    assert node.join_host_port == ("conductor.example.org", 50051)
    assert node.join_token == TOKEN
    assert node.join_ca_hash == HASH  # normalised to lower case
    assert (node.conductor_host, node.conductor_port) == ("conductor.example.org", 50051)
    assert node.state_dir == in_tmp / "node-state"
    assert node.ca_file is None


def test_config_node_restart_grace_defaults_to_the_registrys() -> None:
    # Above a node's reconnect backoff cap: a Conductor restart must restart no job.
    assert ConductorConfig().node_restart_grace_sec == RESTART_GRACE_SEC == 40.0


def test_config_node_timeout_defaults_to_five_heartbeats() -> None:
    assert liveness_timeout(ConductorConfig().node_timeout_sec, 3.0) == 15.0
    assert liveness_timeout(ConductorConfig(node_timeout_sec=None).node_timeout_sec, 0.5) == 2.5


def test_config_mode_argument_overrides_file(in_tmp: Path) -> None:
    both = SEED_NODE + 'conductor:\n  listen: "127.0.0.1:7000"\n'
    config = load_config(write(in_tmp, both), mode="conductor")
    assert config.mode == "conductor"
    assert config.conductor is not None and config.conductor.listen_port == 7000


def test_config_conductor_mode_without_section_uses_defaults(in_tmp: Path) -> None:
    config = load_config(write(in_tmp, "mode: conductor\n"))
    assert config.conductor == ConductorConfig()
    assert config.logging == LoggingConfig(level="INFO", json=False)


def test_config_empty_sections_mean_defaults(in_tmp: Path) -> None:
    config = load_config(write(in_tmp, "mode: conductor\nlogging:\nconductor:\n  tls:\n"))
    assert config.conductor == ConductorConfig()


@pytest.mark.parametrize(
    ("written", "level"),
    [("debug", "DEBUG"), ("Info", "INFO"), ("warn", "WARNING"), ("ERROR", "ERROR")],
)
def test_config_log_level_names_are_case_insensitive(written: str, level: str) -> None:
    config = parse_config({"mode": "conductor", "logging": {"level": written, "json": True}})
    assert config.logging == LoggingConfig(level=level, json=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "localhost", "[::1]"])
def test_config_auth_none_is_accepted_on_loopback(host: str) -> None:
    data = {"mode": "conductor", "conductor": {"http": {"listen": f"{host}:8000", "auth": "none"}}}
    conductor = parse_config(data).conductor
    assert conductor is not None and conductor.http_auth == "none"


def test_config_node_join_token_is_kept_out_of_repr() -> None:
    node = NodeConfig(node_id="n1", join_addr="h:1", join_token=TOKEN, join_ca_hash=HASH)
    assert "s3cr3t" not in repr(node)
    assert "s3cr3t" not in repr(Config(mode="node", node=node))


def test_config_dataclasses_work_without_a_file(in_tmp: Path) -> None:
    conductor = ConductorConfig(listen_port=0, state_dir="data", http_auth="none")
    assert conductor.state_dir == in_tmp / "data"
    assert conductor.cert_path == in_tmp / "data/certs"
    node = NodeConfig(node_id="local", groups=["g"], capacities_total={"A": 1})
    assert node.conductor_addr == "127.0.0.1:50051"
    assert node.groups == ("g",)
    with pytest.raises(TypeError):
        node.capacities_total["A"] = 2  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.node_id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        NodeConfig("positional")  # type: ignore[misc]  # keyword-only


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: ConductorConfig(listen_port=70000), "listen_port"),
        (lambda: ConductorConfig(http_host="0.0.0.0", http_auth="none"), "http_auth"),
        (lambda: ConductorConfig(node_timeout_sec=-1), "node_timeout_sec"),
        (lambda: ConductorConfig(node_restart_grace_sec=0), "node_restart_grace_sec"),
        (lambda: ConductorConfig(node_restart_grace_sec=None), "node_restart_grace_sec"),
        (lambda: NodeConfig(node_id=""), "node_id"),
        (lambda: NodeConfig(node_id="n1\n"), "node_id"),
        (lambda: NodeConfig(node_id="a..b"), "node_id"),
        (lambda: NodeConfig(node_id="node-client"), "node_id"),
        (lambda: NodeConfig(node_id="n", groups=("g\n",)), "groups"),
        (lambda: NodeConfig(node_id="n", capacities_total={"A\n": 1}), "capacities_total"),
        (lambda: NodeConfig(node_id="n", capacities_total={"A": 10**12 + 1}), "capacities_total"),
        (lambda: NodeConfig(node_id="n", capacities_total={"A": -1}), "capacities_total"),
        (lambda: NodeConfig(node_id="n", capacities_total={"A": True}), "capacities_total"),
        (  # a node offers at most 64 classes, as a spec asks for at most 64
            lambda: NodeConfig(node_id="n", capacities_total={f"A{i}": 1 for i in range(65)}),
            "capacities_total",
        ),
        (lambda: NodeConfig(node_id="n", groups="gpu-1"), "groups"),
        (lambda: NodeConfig(node_id="n", ca_file="ca.pem"), "cert_file"),
        (lambda: LoggingConfig(level="LOUD"), "level"),
        (lambda: Config(mode="node"), "node"),
        (lambda: Config(mode="up"), "mode"),
    ],
)
def test_config_dataclasses_refuse_bad_values_naming_the_field(build, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    assert field in [path for path, _ in caught.value.problems]


DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_config_docs_document_every_key() -> None:
    from symphony.config._file import key_paths

    keys = key_paths()
    assert "logging.json" in keys and "node.join.ca_hash" in keys and len(keys) == 41
    text = DOC.read_text()
    missing = [key for key in keys if f"`{key}`" not in text]
    assert missing == []


def test_config_docs_example_files_load(in_tmp: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 5
    assert SEED_CONDUCTOR in blocks and SEED_NODE in blocks
    modes = [load_config(write(in_tmp, block)).mode for block in blocks]
    assert modes == ["conductor", "node", "node", "conductor", "conductor"]


def test_config_http_allowed_hosts_are_host_names_or_star() -> None:
    from symphony.config import parse_config

    data = {
        "mode": "conductor",
        "conductor": {"http": {"allowed_hosts": ["Proxy.LAN.", "10.0.0.5", "[::1]", "*"]}},
    }
    conductor = parse_config(data).conductor
    assert conductor is not None
    assert conductor.http_allowed_hosts == ("proxy.lan", "10.0.0.5", "::1", "*")
    assert ConductorConfig().http_allowed_hosts == ()


def test_config_store_url_and_lease() -> None:
    conductor = parse_config({"mode": "conductor"}).conductor
    assert conductor is not None and conductor.store_url is None
    assert conductor.lease_seconds is None  # SQLite, alone: no lease
    data = {"url": "postgresql://sym@db.lan/symphony", "lease_seconds": 4}
    conductor = parse_config({"mode": "conductor", "conductor": {"store": data}}).conductor
    assert conductor is not None
    assert (conductor.store_url, conductor.lease_seconds) == (data["url"], 4.0)
    # A database made to be shared: a lease unless told otherwise, never two leaders.
    assert ConductorConfig(store_url="postgres://h/db").lease_seconds == 10.0
    assert ConductorConfig(store_url="sqlite:///x.db").lease_seconds is None


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({"url": "mysql://me:hunter2@db/x"}, "conductor.store.url: must be sqlite:///PATH"),
        ({"url": "sqlite://relative.db"}, "conductor.store.url: a SQLite URL is sqlite:///PATH"),
        ({"url": 5}, "conductor.store.url: must be a database URL"),
        ({"lease_seconds": 0}, "conductor.store.lease_seconds: must be a positive number"),
        ({"uri": "x"}, "conductor.store.uri: unknown field"),
    ],
)
def test_config_store_refuses_bad_values(store: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"mode": "conductor", "conductor": {"store": store}})
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)  # a password in a URL is never echoed


def test_config_node_conductor_addr_may_list_several_conductors(tmp_path: Path) -> None:
    text = SEED_NODE.replace(
        'conductor_addr: "localhost:50051"',
        'conductor_addr: ["a.example:50051", "[::1]:50052", "c:7"]',
    )
    node = load_config(write(tmp_path, text)).node
    assert node is not None
    assert node.conductor_addr == "a.example:50051"
    assert node.conductor_addrs == (("a.example", 50051), ("::1", 50052), ("c", 7))
    bad = SEED_NODE.replace('conductor_addr: "localhost:50051"', "conductor_addr: []")
    with pytest.raises(ConfigError, match=r"node\.conductor_addr"):
        load_config(write(tmp_path, bad))


def test_config_conductor_store_lease_seconds(tmp_path: Path) -> None:
    conductor = load_config(write(tmp_path, SEED_CONDUCTOR)).conductor
    assert conductor is not None and conductor.lease_seconds is None  # alone: no lease
    text = SEED_CONDUCTOR + "  store:\n    lease_seconds: 3\n"
    conductor = load_config(write(tmp_path, text)).conductor
    assert conductor is not None and conductor.lease_seconds == 3.0
    with pytest.raises(ConfigError, match=r"conductor\.store\.lease_seconds"):
        load_config(write(tmp_path, SEED_CONDUCTOR + "  store:\n    lease_seconds: 0\n"))


def test_config_relay_port_defaults_beside_the_http_port() -> None:
    from symphony.config import ConductorConfig, parse_config

    assert ConductorConfig().relay_listen_port == 8001
    assert ConductorConfig(http_port=9000).relay_listen_port == 9001
    assert ConductorConfig(http_port=0).relay_listen_port == 0  # a free one, as the API's
    assert ConductorConfig(http_port=9000, relay_port=0).relay_listen_port == 0
    data = {
        "mode": "conductor",
        "conductor": {"relay": {"port": 9443, "url": "https://apps.example.com/"}},
    }
    conductor = parse_config(data).conductor
    assert conductor is not None
    assert (conductor.relay_listen_port, conductor.relay_url) == (9443, "https://apps.example.com")
    bad = {"mode": "conductor", "conductor": {"relay": {"url": "apps.example.com"}}}
    with pytest.raises(ConfigError, match=r"conductor\.relay\.url"):
        parse_config(bad)
    with pytest.raises(ConfigError, match="relay_port"):
        ConductorConfig(http_port=9000, relay_port=9000)


def test_config_relay_send_timeout_is_seconds_from_one_to_a_day() -> None:
    from symphony.config import ConductorConfig, parse_config

    assert ConductorConfig().relay_send_timeout == 30.0
    data = {"mode": "conductor", "conductor": {"relay": {"send_timeout": 5}}}
    conductor = parse_config(data).conductor
    assert conductor is not None and conductor.relay_send_timeout == 5.0
    for bad in (0, -1, "30", float("inf"), float("nan"), 1e9, 1e-9, 0.5, 86401):
        data = {"mode": "conductor", "conductor": {"relay": {"send_timeout": bad}}}
        with pytest.raises(ConfigError, match=r"conductor\.relay\.send_timeout.*1 .*86400"):
            parse_config(data)
        with pytest.raises(ConfigError, match="relay_send_timeout"):
            ConductorConfig(relay_send_timeout=bad)
    # A day is the most: the kernel's TCP_USER_TIMEOUT (milliseconds in an int) takes
    # no more than about 24.8 days, and a larger value broke every relayed WebSocket.
    for good in (1, 86400):
        data = {"mode": "conductor", "conductor": {"relay": {"send_timeout": good}}}
        conductor = parse_config(data).conductor
        assert conductor is not None and conductor.relay_send_timeout == good


def test_config_relay_url_is_a_bare_origin() -> None:
    # Services are served at /x/ of the relay origin, and the API port refuses that origin
    # as a page's: a path (or user, query) in it would be dropped or matched wrongly.
    from symphony.config import ConductorConfig, parse_config

    for good in ("https://apps.example.com", "http://apps.example.com:8443/", "http://[::1]:9"):
        assert ConductorConfig(relay_url=good).relay_url == good.rstrip("/")
    for bad in (
        "https://example.com/apps",
        "https://example.com/apps/",
        "https://example.com//",
        "https://user@example.com",
        "https://example.com?x=1",
        "https://example.com#x",
        "ftp://example.com",
    ):
        data = {"mode": "conductor", "conductor": {"relay": {"url": bad}}}
        with pytest.raises(ConfigError, match=r"conductor\.relay\.url.*scheme://host\[:port\]"):
            parse_config(data)
