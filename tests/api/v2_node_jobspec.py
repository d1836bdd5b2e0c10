"""A frozen copy of the job-spec parser of nodes that speak protocol versions 1 and 2.

Those nodes re-validated the untyped spec map they were sent, with rules and defaults of
their own. The Conductor still serves them, so tests feed this parser what it sends them
(see test_api_jobspec.py). Do not change it: it stands for code already deployed.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any


class SpecError(ValueError):
    """The spec is malformed; the message names the offending field."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RestartPolicy:
    """When and how fast an exited job is started again (see ``restart.py``)."""

    type: str = "on-failure"  # always | on-failure | never
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    reset_after_seconds: float = 600.0
    max_restarts: int | None = None
    restart_window_seconds: float = 600.0
    jitter: float = 0.1


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthCheck:
    """A probe run periodically against a running job (see ``health.py``)."""

    type: str  # exec | http | tcp
    command: tuple[str, ...] = ()
    url: str | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    initial_delay_seconds: float = 0.0
    period_seconds: float = 10.0
    timeout_seconds: float = 1.0
    failure_threshold: int = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class JobSpec:
    """Everything the node needs to run one instance of an ``exec`` deployment."""

    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    cwd: str | None = None
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    health_check: HealthCheck | None = None
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout_seconds: float = 10.0
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 5


def _number(where: str, value: Any, *, minimum: float = 0.0, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where} must be a number, got {value!r}")
    if integer and not isinstance(value, int):
        raise SpecError(f"{where} must be an integer, got {value!r}")
    if math.isnan(value) or math.isinf(value) or value < minimum:
        raise SpecError(f"{where} must be a finite number >= {minimum}, got {value!r}")
    return value


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise SpecError(f"{where} must be a non-empty list of strings, got {value!r}")
    if not all(isinstance(part, str) and "\0" not in part for part in value):
        raise SpecError(f"{where} must contain only strings (without NUL), got {value!r}")
    return tuple(value)


def _mapping(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{where} must be an object, got {value!r}")
    return value


def _check_keys(where: str, data: Mapping[str, Any], cls: type) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {', '.join(unknown)}")


def parse_restart_policy(data: Any) -> RestartPolicy:
    """Validate a ``restart_policy`` object (None means all defaults)."""
    if data is None:
        return RestartPolicy()
    data = _mapping("restart_policy", data)
    _check_keys("restart_policy", data, RestartPolicy)
    values: dict[str, Any] = {}
    kind = data.get("type", "on-failure")
    if kind not in ("always", "on-failure", "never"):
        raise SpecError(f"restart_policy.type must be always, on-failure or never, got {kind!r}")
    values["type"] = kind
    for name in ("backoff_seconds", "max_backoff_seconds", "reset_after_seconds"):
        if name in data:
            values[name] = float(_number(f"restart_policy.{name}", data[name]))
    if data.get("restart_window_seconds") is not None:
        window = _number("restart_policy.restart_window_seconds", data["restart_window_seconds"])
        values["restart_window_seconds"] = float(window)
    if data.get("max_restarts") is not None:
        values["max_restarts"] = _number(
            "restart_policy.max_restarts", data["max_restarts"], integer=True
        )
    if "jitter" in data:
        values["jitter"] = float(_number("restart_policy.jitter", data["jitter"]))
        if values["jitter"] > 1:
            raise SpecError("restart_policy.jitter must be between 0 and 1")
    policy = RestartPolicy(**values)
    if policy.max_backoff_seconds < policy.backoff_seconds:
        raise SpecError("restart_policy.max_backoff_seconds must be >= backoff_seconds")
    return policy


def parse_health_check(data: Any) -> HealthCheck | None:
    """Validate a ``health_check`` object (None means no health check)."""
    if data is None:
        return None
    data = _mapping("health_check", data)
    _check_keys("health_check", data, HealthCheck)
    kind = data.get("type")
    values: dict[str, Any] = {"type": kind}
    if kind == "exec":
        values["command"] = _strings("health_check.command", data.get("command"))
    elif kind == "http":
        url = data.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise SpecError(f"health_check.url must be an http:// or https:// URL, got {url!r}")
        values["url"] = url
    elif kind == "tcp":
        port = _number("health_check.port", data.get("port"), minimum=1, integer=True)
        if port > 65535:
            raise SpecError(f"health_check.port must be at most 65535, got {port}")
        values["port"] = port
        host = data.get("host", "127.0.0.1")
        if not isinstance(host, str) or not host:
            raise SpecError(f"health_check.host must be a host name, got {host!r}")
        values["host"] = host
    else:
        raise SpecError(f"health_check.type must be exec, http or tcp, got {kind!r}")
    for name in ("initial_delay_seconds", "period_seconds", "timeout_seconds"):
        if name in data:
            values[name] = float(_number(f"health_check.{name}", data[name]))
    if "failure_threshold" in data:
        values["failure_threshold"] = _number(
            "health_check.failure_threshold", data["failure_threshold"], minimum=1, integer=True
        )
    if values.get("period_seconds", 10.0) <= 0 or values.get("timeout_seconds", 1.0) <= 0:
        raise SpecError("health_check.period_seconds and timeout_seconds must be > 0")
    return HealthCheck(**values)


def parse_signal(value: Any) -> signal.Signals:
    """``"SIGTERM"``, ``"TERM"`` or ``15`` -> ``signal.SIGTERM``."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return signal.Signals(value)
        if isinstance(value, str):
            name = value.upper()
            return signal.Signals[name if name.startswith("SIG") else "SIG" + name]
    except (KeyError, ValueError):
        pass
    raise SpecError(f"stop_signal must be a signal name like 'SIGTERM', got {value!r}")


def parse_job_spec(data: Any) -> JobSpec:
    """Validate an instance spec dict (shape in ``docs/jobs.md``) into a :class:`JobSpec`."""
    data = _mapping("spec", data)
    if data.get("kind", "exec") != "exec":
        raise SpecError(f"kind must be 'exec' on this node, got {data.get('kind')!r}")
    config = _mapping("config", data.get("config"))
    env: dict[str, str] = {}
    for key, value in _mapping("config.env", config.get("env") or {}).items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise SpecError(f"config.env: invalid variable name {key!r}")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise SpecError(f"config.env.{key} must be a string, got {value!r}")
        env[key] = str(value)
    cwd = config.get("cwd")
    if cwd is not None and (not isinstance(cwd, str) or not cwd or "\0" in cwd):
        raise SpecError(f"config.cwd must be a path or null, got {cwd!r}")
    log_max_bytes = data.get("log_max_bytes", 10 * 1024 * 1024)
    return JobSpec(
        command=_strings("config.command", config.get("command")),
        env=MappingProxyType(env),
        cwd=cwd,
        restart_policy=parse_restart_policy(data.get("restart_policy")),
        health_check=parse_health_check(data.get("health_check")),
        stop_signal=parse_signal(data.get("stop_signal", "SIGTERM")),
        stop_timeout_seconds=float(
            _number("stop_timeout_seconds", data.get("stop_timeout_seconds", 10.0))
        ),
        log_max_bytes=_number("log_max_bytes", log_max_bytes, minimum=1024, integer=True),
        log_backups=_number("log_backups", data.get("log_backups", 5), integer=True),
    )
