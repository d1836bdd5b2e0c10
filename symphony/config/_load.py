"""Reading a YAML configuration file into :class:`~symphony.config.Config`.

Two steps, so the CLI can lay its flags over a file before anything is validated:
:func:`read_config_file` gives the raw mapping, :func:`parse_config` checks it against
the file's pydantic model (:mod:`._file`) and builds the dataclasses. Every problem is
collected (not only the first), named by its key path and worded by the same translator
as a spec's or a request body's (``symphony.spec.translate_errors``): an unknown key is
refused with the key meant (``unknown field 'listn'; did you mean 'listen'?``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from . import _values as v
from ._errors import ConfigError
from ._model import ConductorConfig, Config, LoggingConfig, NodeConfig
from ._yaml import load_yaml, read_yaml_text

if TYPE_CHECKING:
    from ._file import ConductorSection, ConfigFile, LoggingSection, NodeSection

__all__ = ["load_config", "parse_config", "read_config_file"]

# Dataclass field -> the key a person wrote, to name cross-field problems in file terms.
_FIELD_PATHS = {
    "conductor": {
        "http_auth": "conductor.http.auth",
        "http_allowed_hosts": "conductor.http.allowed_hosts",
        "events_keep_per_deployment": "conductor.events.keep_per_deployment",
        "events_max_age_sec": "conductor.events.max_age_sec",
        "store_url": "conductor.store.url",
        "lease_seconds": "conductor.store.lease_seconds",
        "relay_websocket_max_message": "conductor.relay.websocket_max_message",
        "relay_websockets_per_client": "conductor.relay.websockets_per_client",
        "relay_send_timeout": "conductor.relay.send_timeout",
        "relay_port": "conductor.relay.port",
        "relay_url": "conductor.relay.url",
    },
    "node": {
        "ca_file": "node.tls.ca_file",
        "cert_file": "node.tls.cert_file",
        "key_file": "node.tls.key_file",
        "join_addr": "node.join.addr",
        "join_token": "node.join.token",
        "join_ca_hash": "node.join.ca_hash",
    },
}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The file's top-level mapping (``{}`` for an empty file), or :class:`ConfigError`."""
    source = str(path)
    try:
        text = read_yaml_text(path)
    except FileNotFoundError:
        raise ConfigError([("", "no such file")], source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([("", f"cannot read the file: {exc}")], source=source) from None
    try:
        data = load_yaml(text)
    except ValueError as exc:
        raise ConfigError([("", str(exc))], source=source) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            [("", f"the top level must be a mapping of keys, got {v.show(data)}")], source=source
        )
    return data


def load_config(path: str | Path, *, mode: Literal["conductor", "node"] | None = None) -> Config:
    """Read and validate a configuration file; ``mode`` overrides the file's ``mode``."""
    return parse_config(read_config_file(path), source=str(path), mode=mode)


def parse_config(
    data: Mapping[str, Any],
    *,
    source: str | None = None,
    mode: Literal["conductor", "node"] | None = None,
) -> Config:
    """Validate a raw mapping (as read from YAML) into a :class:`Config`.

    ``mode`` overrides ``data["mode"]``. Sections for the other role are validated too
    when present, so a mistake in them does not wait for the day the role is switched.
    """
    # pydantic costs ~100 ms to import: only commands that read a configuration pay it.
    from pydantic import ValidationError

    from symphony.spec import translate_errors

    from ._file import ConfigFile

    problems: list[tuple[str, str]] = []
    file: ConfigFile | None = None
    try:
        file = ConfigFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        found = translate_errors(errors, model=ConfigFile)
        for error, raw in zip(found, errors, strict=True):
            if raw["type"] == "extra_forbidden" and "did you mean" not in error["message"]:
                error["message"] += _where_instead(raw["loc"])
            elif raw["type"] == "invalid_key":  # YAML's `5:` or `yes:` where a key belongs
                error["path"] = ".".join(str(part) for part in raw["loc"][:-1])
                key = v.show(raw["input"])
                error["message"] = f"unknown key {key} (keys are names)" + _where_instead(
                    raw["loc"]
                )
        # Unknown keys first: a misspelt key often explains the problems after it.
        unknown = [e["type"] in ("extra_forbidden", "invalid_key") for e in errors]
        ordered = sorted(zip(unknown, found, strict=True), key=lambda pair: not pair[0])
        problems += [(e["path"], e["message"]) for _, e in ordered]
    chosen = mode if mode is not None else _mode_of(data)
    problems += _missing(data, mode, chosen)
    if problems or file is None:
        raise ConfigError(problems, source=source)
    logging = _logging(file.logging)
    conductor = _conductor(file.conductor, problems) if _needs(data, "conductor", chosen) else None
    node = _node(file.node, problems) if _needs(data, "node", chosen) else None
    if problems:
        raise ConfigError(problems, source=source)
    try:
        return Config(
            mode=chosen,  # type: ignore[arg-type]  # checked by Config itself
            logging=logging,
            conductor=conductor,
            node=node,
        )
    except ConfigError as exc:
        raise exc.with_source(source) if source else exc from None


def _where_instead(loc: tuple[Any, ...]) -> str:
    """For an unknown key with no close spelling: the section it belongs to, if it is a
    key of another section (``heartbeat_sec`` at the top: ``node.heartbeat_sec``), else
    the keys this place accepts."""
    from ._file import key_paths

    paths = key_paths()
    elsewhere = [p for p in paths if p.rsplit(".", 1)[-1] == str(loc[-1])]
    if elsewhere:
        return "; it belongs in " + " or ".join(repr(p) for p in elsewhere)
    prefix = "".join(f"{part}." for part in loc[:-1])
    here = {p[len(prefix) :].split(".")[0] for p in paths if p.startswith(prefix)}
    listed = [p[len(prefix) :].split(".")[0] for p in paths if p.startswith(prefix)]
    known = sorted(here, key=listed.index)
    return "; expected one of " + ", ".join(known) if known else ""


def _needs(data: Mapping[str, Any], section: str, mode: object) -> bool:
    return mode == section or data.get(section) is not None


def _has(data: Any, path: str) -> bool:
    for key in path.split("."):
        if not isinstance(data, Mapping) or key not in data:
            return False
        data = data[key]
    return True


def _mode_of(data: Mapping[str, Any]) -> str | None:
    """The file's role as validated (``Node`` is ``node``), or ``None`` if it is bad."""
    try:
        return v.choice(data.get("mode"), v.MODES)
    except v.Invalid:
        return None


def _missing(
    data: Mapping[str, Any], mode: str | None, chosen: str | None
) -> list[tuple[str, str]]:
    """What the role requires and the file leaves out (the model cannot know the role)."""
    if mode is None and "mode" not in data:
        return [("mode", "required: 'conductor' or 'node'")]
    if not _needs(data, "node", chosen):
        return []
    out = []
    if not _has(data, "node.conductor_addr") and not _has(data, "node.join.addr"):
        out.append(
            (
                "node.conductor_addr",
                "required: the conductor's node endpoint, host:port (or set node.join.addr)",
            )
        )
    if not _has(data, "node.node_id"):
        out.append(("node.node_id", "required: a name for this node, e.g. 'gpu-box-1'"))
    return out


def _present(**values: Any) -> dict[str, Any]:
    """The keys a file set (the model leaves an absent key ``None``)."""
    return {name: value for name, value in values.items() if value is not None}


def _logging(section: LoggingSection | None) -> LoggingConfig:
    if section is None:
        return LoggingConfig()
    return LoggingConfig(**_present(level=section.level, json=section.json_))


def _conductor(section: ConductorSection | None, problems: list[tuple[str, str]]) -> Any:
    from ._file import (
        ConductorEvents,
        ConductorHttp,
        ConductorRelay,
        ConductorSection,
        ConductorStore,
        ConductorTls,
    )

    s = section or ConductorSection()
    tls, http = s.tls or ConductorTls(), s.http or ConductorHttp()
    events, store = s.events or ConductorEvents(), s.store or ConductorStore()
    relay = s.relay or ConductorRelay()
    kwargs = _present(
        cert_path=tls.cert_path,
        advertise=tls.advertise,
        state_dir=s.state_dir,
        http_auth=http.auth,
        http_allowed_hosts=http.allowed_hosts,
        node_timeout_sec=s.node_timeout_sec,
        node_restart_grace_sec=s.node_restart_grace_sec,
        events_keep_per_deployment=events.keep_per_deployment,
        events_max_age_sec=events.max_age_sec,
        secrets_key_file=s.secrets_key_file,
        store_url=store.url,
        lease_seconds=store.lease_seconds,
        relay_websocket_max_message=relay.websocket_max_message,
        relay_websockets_per_client=relay.websockets_per_client,
        relay_send_timeout=relay.send_timeout,
        relay_port=relay.port,
        relay_url=relay.url,
    )
    if s.listen is not None:
        kwargs["listen_host"], kwargs["listen_port"] = s.listen
    if http.listen is not None:
        kwargs["http_host"], kwargs["http_port"] = http.listen
    return _construct(ConductorConfig, kwargs, "conductor", problems)


def _node(section: NodeSection | None, problems: list[tuple[str, str]]) -> Any:
    from ._file import NodeJoin, NodeSection, NodeTls

    s = section or NodeSection()
    tls, join = s.tls or NodeTls(), s.join or NodeJoin()
    kwargs = _present(
        node_id=s.node_id,
        groups=s.groups,
        capacities_total=s.capacities_total,
        heartbeat_sec=s.heartbeat_sec,
        ca_file=tls.ca_file,
        cert_file=tls.cert_file,
        key_file=tls.key_file,
        join_addr=join.addr,
        join_token=join.token,
        join_ca_hash=join.ca_hash,
        state_dir=s.state_dir,
        ports=s.ports,
        advertise_addr=s.advertise_addr,
        cache_max_bytes=s.cache_max_bytes,
        log_retention_sec=s.log_retention_sec,
        orphan_logs_max_bytes=s.orphan_logs_max_bytes,
        envs_dir=s.envs_dir,
        gpus=s.gpus,
    )
    # The conductor address defaults to the join address: one endpoint to remember.
    addrs = s.conductor_addr or ((v.host_port(join.addr),) if join.addr is not None else ())
    if addrs:
        kwargs["conductor_host"], kwargs["conductor_port"] = addrs[0]
        # Several Conductors (a leader and standbys): the node fails over along the list.
        kwargs["conductor_alternates"] = tuple(v.format_host_port(*a) for a in addrs[1:])
    return _construct(NodeConfig, kwargs, "node", problems)


_Built = TypeVar("_Built", ConductorConfig, NodeConfig)


def _construct(
    cls: type[_Built], kwargs: dict[str, Any], section: str, problems: list[tuple[str, str]]
) -> _Built | None:
    """Build the dataclass; its cross-field checks are named by the keys in the file."""
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        paths = _FIELD_PATHS[section]
        problems.extend((paths.get(p, f"{section}.{p}"), msg) for p, msg in exc.problems)
        return None
