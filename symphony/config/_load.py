"""Reading a YAML configuration file into :class:`~symphony.config.Config`.

Two steps, so the CLI can lay its flags over a file before anything is validated:
:func:`read_config_file` gives the raw mapping, :func:`parse_config` checks every key
and builds the dataclasses. Every problem is collected (not only the first) and named
by its key path; an unknown key is refused, never ignored, because a misspelt
``heartbeat_secs`` silently falling back to a default is worse than an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from . import _values as v
from ._errors import ConfigError
from ._model import ConductorConfig, Config, LoggingConfig, NodeConfig

__all__ = ["load_config", "parse_config", "read_config_file"]

# The shape of a file: a nested dict is a section, None a leaf.
SCHEMA: dict[str, Any] = {
    "mode": None,
    "logging": {"level": None, "json": None},
    "conductor": {
        "listen": None,
        "tls": {"cert_path": None, "advertise": None},
        "state_dir": None,
        "http": {"listen": None, "auth": None, "allowed_hosts": None},
        "node_timeout_sec": None,
        "events": {"keep_per_deployment": None, "max_age_sec": None},
    },
    "node": {
        "node_id": None,
        "conductor_addr": None,
        "groups": None,
        "capacities_total": None,
        "heartbeat_sec": None,
        "tls": {"ca_file": None, "cert_file": None, "key_file": None},
        "join": {"addr": None, "token": None, "ca_hash": None},
        "state_dir": None,
    },
}

# Dataclass field -> the key a person wrote, to name cross-field problems in file terms.
_FIELD_PATHS = {
    "conductor": {
        "http_auth": "conductor.http.auth",
        "http_allowed_hosts": "conductor.http.allowed_hosts",
        "events_keep_per_deployment": "conductor.events.keep_per_deployment",
        "events_max_age_sec": "conductor.events.max_age_sec",
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
_ABSENT = object()


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The file's top-level mapping (``{}`` for an empty file), or :class:`ConfigError`."""
    import yaml  # ~40 ms: only commands that read a file pay for it

    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([("", "no such file")], source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([("", f"cannot read the file: {exc}")], source=source) from None
    try:
        data = yaml.load(text, Loader=_loader_class(yaml))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f"line {where.line + 1}, column {where.column + 1}: " if where else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([("", f"not valid YAML: {line}{problem}")], source=source) from None
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
    problems: list[tuple[str, str]] = []
    _check_keys(data, SCHEMA, "", problems)
    get = _Getter(data, problems)
    chosen = get("mode", lambda m: v.choice(m, v.MODES)) if mode is None else mode
    if chosen is _ABSENT:
        problems.append(("mode", "required: 'conductor' or 'node'"))
    logging = _build(
        get,
        LoggingConfig,
        {"level": ("logging.level", v.log_level), "json": ("logging.json", v.boolean)},
    )
    conductor = _conductor(get) if _mode_needs(data, "conductor", chosen) else None
    node = _node(get, problems) if _mode_needs(data, "node", chosen) else None
    if problems:
        raise ConfigError(problems, source=source)
    try:
        return Config(mode=chosen, logging=logging, conductor=conductor, node=node)
    except ConfigError as exc:
        raise exc.with_source(source) if source else exc from None


def _mode_needs(data: Mapping[str, Any], section: str, mode: object) -> bool:
    return mode == section or data.get(section) is not None


class _Getter:
    """Fetch ``a.b.c`` from the raw data through a check, recording problems by path."""

    def __init__(self, data: Mapping[str, Any], problems: list[tuple[str, str]]) -> None:
        self.data = data
        self.problems = problems

    def __call__(self, path: str, check: Callable[[Any], Any]) -> Any:
        node: Any = self.data
        for key in path.split("."):
            if not isinstance(node, Mapping) or key not in node:
                return _ABSENT
            node = node[key]
        try:
            return check(node)
        except v.Invalid as exc:
            self.problems.append((path, str(exc)))
            return _ABSENT


def _build(get: _Getter, cls: Callable[..., Any], table: dict[str, tuple[str, Any]]) -> Any:
    kwargs = {name: get(path, check) for name, (path, check) in table.items()}
    return cls(**{k: val for k, val in kwargs.items() if val is not _ABSENT})


def _conductor(get: _Getter) -> ConductorConfig | None:
    kwargs: dict[str, Any] = {}
    for key, prefix in (("conductor.listen", "listen"), ("conductor.http.listen", "http")):
        pair = get(key, v.host_port)
        if pair is not _ABSENT:
            kwargs[f"{prefix}_host"], kwargs[f"{prefix}_port"] = pair
    table = {
        "cert_path": ("conductor.tls.cert_path", v.path),
        "advertise": ("conductor.tls.advertise", _list_of(get, "conductor.tls.advertise", v.host)),
        "state_dir": ("conductor.state_dir", v.path),
        "http_auth": ("conductor.http.auth", lambda a: v.choice(a, v.HTTP_AUTH_MODES)),
        "http_allowed_hosts": (
            "conductor.http.allowed_hosts",
            _list_of(get, "conductor.http.allowed_hosts", v.allowed_host),
        ),
        "node_timeout_sec": ("conductor.node_timeout_sec", _optional_seconds),
        "events_keep_per_deployment": (
            "conductor.events.keep_per_deployment",
            v.at_least_one,
        ),
        "events_max_age_sec": ("conductor.events.max_age_sec", _optional_seconds),
    }
    for name, (path, check) in table.items():
        value = get(path, check)
        if value is not _ABSENT:
            kwargs[name] = value
    return _construct(get, ConductorConfig, kwargs, "conductor")


def _node(get: _Getter, problems: list[tuple[str, str]]) -> NodeConfig | None:
    kwargs: dict[str, Any] = {}
    table = {
        "node_id": ("node.node_id", v.node_id),
        "groups": ("node.groups", _list_of(get, "node.groups", v.group)),
        "capacities_total": ("node.capacities_total", _capacities(get)),
        "heartbeat_sec": ("node.heartbeat_sec", v.seconds),
        "ca_file": ("node.tls.ca_file", v.path),
        "cert_file": ("node.tls.cert_file", v.path),
        "key_file": ("node.tls.key_file", v.path),
        "join_addr": ("node.join.addr", lambda a: v.format_host_port(*v.host_port(a))),
        "join_token": ("node.join.token", v.join_token),
        "join_ca_hash": ("node.join.ca_hash", v.ca_hash),
        "state_dir": ("node.state_dir", v.path),
    }
    for name, (path, check) in table.items():
        value = get(path, check)
        if value is not _ABSENT:
            kwargs[name] = value
    # The conductor address defaults to the join address: one endpoint to remember.
    addr = get("node.conductor_addr", v.host_port)
    if addr is _ABSENT and "join_addr" in kwargs:
        addr = v.host_port(kwargs["join_addr"])
    if addr is not _ABSENT:
        kwargs["conductor_host"], kwargs["conductor_port"] = addr
    elif get("node.conductor_addr", lambda a: a) is _ABSENT:
        problems.append(
            (
                "node.conductor_addr",
                "required: the conductor's node endpoint, host:port (or set node.join.addr)",
            )
        )
    if get("node.node_id", lambda a: a) is _ABSENT:
        problems.append(("node.node_id", "required: a name for this node, e.g. 'gpu-box-1'"))
    return _construct(get, NodeConfig, kwargs, "node")


_Section = TypeVar("_Section", ConductorConfig, NodeConfig)


def _construct(
    get: _Getter, cls: type[_Section], kwargs: dict[str, Any], section: str
) -> _Section | None:
    """Build the dataclass once every key is clean; its cross-field checks name file keys."""
    if get.problems:
        return None
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        paths = _FIELD_PATHS[section]
        get.problems.extend((paths.get(p, f"{section}.{p}"), msg) for p, msg in exc.problems)
        return None


def _optional_seconds(value: Any) -> float | None:
    return None if value is None else v.seconds(value)


def _list_of(get: _Getter, path: str, check: Callable[[Any], str]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if not isinstance(value, list):
            raise v.Invalid(f"must be a list, got {v.show(value)}")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(check(item))
            except v.Invalid as exc:
                get.problems.append((f"{path}[{i}]", str(exc)))
        return tuple(out)

    return convert


def _capacities(get: _Getter) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            raise v.Invalid(f"must be a mapping of capacity class to amount, got {v.show(value)}")
        out = {}
        for name, amount in value.items():
            where = f"node.capacities_total.{name}"
            try:
                out[v.capacity_name(name)] = v.integer(amount)
            except v.Invalid as exc:
                get.problems.append((where, str(exc)))
        return out

    return convert


def _check_keys(
    data: Any, schema: dict[str, Any], prefix: str, problems: list[tuple[str, str]]
) -> None:
    """Refuse unknown keys and sections that are not mappings, naming each by path."""
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in schema:
            problems.append((path, _unknown(key, schema)))
        elif isinstance(schema[key], dict) and value is not None:
            if isinstance(value, Mapping):
                _check_keys(value, schema[key], f"{path}.", problems)
            else:
                problems.append((path, f"must be a mapping of keys, got {v.show(value)}"))


def _unknown(key: object, schema: dict[str, Any]) -> str:
    # The same suggestion as for a spec or a request body (symphony.spec's translator).
    from symphony.spec import did_you_mean

    hint = did_you_mean(key, schema) or "; expected one of " + ", ".join(schema)
    return f"unknown key {key!r}{hint}"


def _loader_class(yaml: Any) -> type:
    """A safe loader (libyaml when present) that refuses duplicate keys.

    PyYAML silently keeps the last of two equal keys; in a config file that hides the
    very line a person is editing, so it is an error here.
    """
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    # The base class is chosen at run time (PyYAML may lack libyaml): mypy cannot
    # check a class built on a variable, so it is told to take it as it is.
    class _StrictLoader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, str | int | float | bool | None):
                    continue  # unhashable keys get PyYAML's own error below
                if key in seen:
                    mark = key_node.start_mark
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return _StrictLoader
