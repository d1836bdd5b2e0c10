"""The shape of a configuration file as a pydantic model: sections, keys and their rules.

One model for the file, so an unknown key, a section that is not a mapping and a bad
value are all reported the same way as for a deployment spec or a request body (by
:func:`symphony.spec.translate_errors`, with a "did you mean" for a typo)::

    conductor.listn: unknown field 'listn'; did you mean 'listen'?
    node.heartbeat_sec: must be a positive number of seconds, got 0

Each value's rule is the light check in :mod:`._values` (which the CLI also runs on
its flags), called by the model as an ``AfterValidator``: one rule, two callers. The
values are typed ``Any`` before the check on purpose: the check refuses what pydantic
would coerce (``"3"`` for a number, ``yes`` for a boolean). This module imports
pydantic (~100 ms), so the loader imports it only when it reads a file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from . import _values as v

__all__ = ["ConfigFile"]


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


Mode = Annotated[Any, AfterValidator(lambda m: v.choice(m, v.MODES))]
LogLevel = Annotated[Any, AfterValidator(v.log_level)]
Boolean = Annotated[Any, AfterValidator(v.boolean)]
HostPort = Annotated[Any, AfterValidator(v.host_port)]
HostPorts = Annotated[Any, AfterValidator(v.host_ports)]
JoinAddr = Annotated[Any, AfterValidator(lambda a: v.format_host_port(*v.host_port(a)))]
Host = Annotated[Any, AfterValidator(v.host)]
AllowedHost = Annotated[Any, AfterValidator(v.allowed_host)]
Path = Annotated[Any, AfterValidator(v.path)]
Seconds = Annotated[Any, AfterValidator(v.seconds)]
Port = Annotated[Any, AfterValidator(v.port)]
BaseUrl = Annotated[Any, AfterValidator(v.base_url)]
OptionalSeconds = Annotated[Any, AfterValidator(_optional(v.seconds))]
SendTimeout = Annotated[Any, AfterValidator(v.send_timeout)]
SecondsOrZero = Annotated[Any, AfterValidator(v.seconds_or_zero)]
HttpAuth = Annotated[Any, AfterValidator(lambda a: v.choice(a, v.HTTP_AUTH_MODES))]
NodeId = Annotated[Any, AfterValidator(v.node_id)]
Group = Annotated[Any, AfterValidator(v.group)]
CapacityName = Annotated[Any, AfterValidator(v.capacity_name)]
Amount = Annotated[Any, AfterValidator(v.integer)]
CacheBytes = Annotated[Any, AfterValidator(v.at_least_one)]
AtLeastOne = Annotated[Any, AfterValidator(v.at_least_one)]
JoinToken = Annotated[Any, AfterValidator(v.join_token)]
StoreUrl = Annotated[Any, AfterValidator(v.store_url)]
CaHash = Annotated[Any, AfterValidator(v.ca_hash)]
PortRange = Annotated[Any, AfterValidator(_optional(v.port_range))]
GpuId = Annotated[Any, AfterValidator(v.gpu_id)]


class _Section(BaseModel):
    """A mapping of known keys: an unknown one is refused, never ignored (a misspelt
    ``heartbeat_secs`` silently falling back to a default is worse than an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LoggingSection(_Section):
    level: LogLevel = None
    # ``json`` would shadow BaseModel.json, so the field has another name; the key in
    # the file stays ``json``.
    json_: Boolean = Field(None, alias="json")


class ConductorTls(_Section):
    cert_path: Path = None
    advertise: list[Host] | None = None


class ConductorHttp(_Section):
    listen: HostPort = None
    auth: HttpAuth = None
    allowed_hosts: list[AllowedHost] | None = None


class ConductorEvents(_Section):
    keep_per_deployment: AtLeastOne = None
    max_age_sec: OptionalSeconds = None


class ConductorStore(_Section):
    url: StoreUrl = None
    lease_seconds: Seconds = None


class ConductorRelay(_Section):
    websocket_max_message: AtLeastOne = None
    websockets_per_client: AtLeastOne = None
    send_timeout: SendTimeout = None
    port: Port = None
    url: BaseUrl = None


class ConductorSection(_Section):
    listen: HostPort = None
    tls: ConductorTls | None = None
    state_dir: Path = None
    http: ConductorHttp | None = None
    node_timeout_sec: OptionalSeconds = None
    node_restart_grace_sec: Seconds = None
    events: ConductorEvents | None = None
    secrets_key_file: Path = None
    store: ConductorStore | None = None
    relay: ConductorRelay | None = None


class NodeTls(_Section):
    ca_file: Path = None
    cert_file: Path = None
    key_file: Path = None


class NodeJoin(_Section):
    addr: JoinAddr = None
    token: JoinToken = None
    ca_hash: CaHash = None


class NodeSection(_Section):
    node_id: NodeId = None
    conductor_addr: HostPorts = None
    groups: list[Group] | None = None
    capacities_total: dict[CapacityName, Amount] | None = None
    heartbeat_sec: Seconds = None
    tls: NodeTls | None = None
    join: NodeJoin | None = None
    state_dir: Path = None
    ports: PortRange = None
    advertise_addr: Host = None
    cache_max_bytes: CacheBytes = None
    log_retention_sec: SecondsOrZero = None
    orphan_logs_max_bytes: Amount = None
    envs_dir: Path = None
    gpus: list[GpuId] | None = None


class ConfigFile(_Section):
    """A whole file. Every key is optional here; what a role requires (``mode``,
    ``node.node_id``, ...) and what keys require of each other is checked afterwards,
    where the loader knows the role (a ``--mode`` flag may override ``mode``)."""

    mode: Mode = None
    logging: LoggingSection | None = None
    conductor: ConductorSection | None = None
    node: NodeSection | None = None


def key_paths(model: type[BaseModel] = ConfigFile, prefix: str = "") -> list[str]:
    """Every key a file may hold, as dotted paths (``conductor.http.auth``): the
    documentation's list of keys is checked against this."""
    out: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        section = _section_of(field.annotation)
        out += key_paths(section, f"{key}.") if section else [key]
    return out


def _section_of(hint: Any) -> type[BaseModel] | None:
    candidates = [hint, *getattr(hint, "__args__", ())]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, _Section)), None)
