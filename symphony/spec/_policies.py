"""The policies of a spec: how its instances restart, are probed, placed, moved and
rolled out.

- :class:`RestartPolicy`: the node restarts a process that exits, with a growing delay;
- :class:`HealthCheck`: a periodic probe of a running process;
- :class:`PlacementPolicy`: which node the Scheduler prefers;
- :class:`Reschedule`: how the Conductor moves an instance whose node is lost or whose
  restart budget is spent;
- :class:`UpdatePolicy`: how a new version of the template rolls out.

Each has defaults for every field, so a spec may leave any of them out; the one
instance of the defaults is shared between specs (``_shared.py``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ._fields import (
    MAX_REPLICAS,
    Arg,
    Plain,
    PositiveSeconds,
    Seconds,
    _command_list,
    _kept,
    _stored,
    _Strict,
)

#: Where a ``tcp`` health check connects when its spec names no ``host``.
DEFAULT_TCP_HOST = "127.0.0.1"

#: The shortest ``period_seconds`` of a health check (Kubernetes' too). Every period the
#: node agent runs a probe (an exec check: a process), for every instance: a period of
#: a millisecond made a few replicas take most of a core from the node.
MIN_PROBE_PERIOD = 1.0


#: The restart delay's cap when a spec names none (and its first delay is shorter).
DEFAULT_MAX_BACKOFF = 300.0


class RestartPolicy(_Strict):
    """How the node restarts an instance's process when it exits.

    ``always`` restarts after any exit, ``on-failure`` after a non-zero exit or a signal,
    ``never`` not at all. Delays grow from ``backoff_seconds`` doubling up to
    ``max_backoff_seconds``, and start over after ``reset_after_seconds`` of stable run.
    With ``max_restarts`` set, more restarts than that within ``restart_window_seconds``
    mark the instance ``failed`` (and the conductor may reschedule it elsewhere).
    """

    type: Literal["always", "on-failure", "never"] = "on-failure"
    backoff_seconds: Seconds = 1.0
    max_backoff_seconds: Seconds = DEFAULT_MAX_BACKOFF
    reset_after_seconds: Seconds = 600.0
    max_restarts: Annotated[int, Field(ge=0)] | None = None
    restart_window_seconds: PositiveSeconds = 600.0

    @model_validator(mode="before")
    @classmethod
    def _default_cap_follows_initial(cls, data: Any) -> Any:
        # The cap's default (300 s) must not undercut a longer first delay the user
        # chose: without a cap of their own, the cap is that delay. (A default is not
        # validated, so the check below would never see it, and the node would refuse
        # the spec at start.)
        if isinstance(data, dict) and "max_backoff_seconds" not in data:
            initial = data.get("backoff_seconds")
            if (
                isinstance(initial, int | float)
                and not isinstance(initial, bool)
                and initial > DEFAULT_MAX_BACKOFF
            ):
                return {**data, "max_backoff_seconds": initial}
        return data

    @field_validator("max_backoff_seconds")
    @classmethod
    def _cap_above_initial(cls, value: float, info: ValidationInfo) -> float:
        initial = info.data.get("backoff_seconds")
        if initial is not None and value < initial:
            if _stored(info):
                return float(initial)  # stored before this rule held: read it as meant
            raise ValueError(f"must be >= backoff_seconds ({initial:g}), got {value:g}")
        return value


class HealthCheck(_Strict):
    """A periodic probe: ``exec`` runs ``command`` (exit 0 = healthy), ``http`` GETs
    ``url`` (2xx/3xx = healthy), ``tcp`` connects to ``port`` on ``host`` (default
    127.0.0.1).
    ``failure_threshold`` failures in a row make the instance unhealthy."""

    type: Literal["exec", "http", "tcp"]
    # validate_default: the "required for this type" checks must also run when the
    # field is absent.
    command: list[Arg] | None = Field(default=None, validate_default=True)
    url: Plain | None = Field(default=None, validate_default=True)
    port: Annotated[int, Field(ge=1, le=65535)] | None = Field(default=None, validate_default=True)
    host: Plain | None = Field(default=None, validate_default=True)
    initial_delay_seconds: Seconds = 0.0
    period_seconds: PositiveSeconds = Field(
        default=10.0, json_schema_extra={"minimum": MIN_PROBE_PERIOD}
    )
    timeout_seconds: PositiveSeconds = 1.0
    failure_threshold: Annotated[int, Field(ge=1, le=1000)] = 3

    @model_validator(mode="before")
    @classmethod
    def _default_host(cls, data: Any) -> Any:
        # The one place the tcp host's default is filled in: the stored spec, the API's
        # answers and the job spec sent to the node all carry it.
        if isinstance(data, dict) and data.get("type") == "tcp" and data.get("host") is None:
            data = {**data, "host": DEFAULT_TCP_HOST}
        return data

    @field_validator("period_seconds")
    @classmethod
    def _period_floor(cls, value: float, info: ValidationInfo) -> float:
        # Stored (or kept so by a change) before this rule: the node probes it once a second.
        if value < MIN_PROBE_PERIOD and not _kept(info, "health_check"):
            raise ValueError(
                f"must be at least {MIN_PROBE_PERIOD:g} second (got {value:g}): every period "
                "runs a probe on the node, for every instance"
            )
        return value

    _command_shape = field_validator("command", mode="before")(
        staticmethod(lambda v: v if v is None else _command_list(v))
    )

    @field_validator("command", "url", "port", "host")
    @classmethod
    def _fits_type(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("type")
        if kind is None:  # `type` itself was invalid; that error is reported already
            return value
        needed = {"exec": "command", "http": "url", "tcp": "port"}[kind]
        field = info.field_name
        if field == needed and value is None:
            raise ValueError(f"required when type is {kind!r}")
        if value is not None and field != needed and not (field == "host" and kind == "tcp"):
            raise ValueError(f"not used when type is {kind!r}")
        if field == "url" and value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        if field == "host" and value == "":
            raise ValueError("must not be empty")
        return value


class PlacementPolicy(_Strict):
    """``spread``: the node left least utilized (the largest used/total fraction over its
    classes, after placing); ``binpack``: the most utilized node that still fits."""

    strategy: Literal["spread", "binpack"] = "spread"


class Reschedule(_Strict):
    """How the conductor moves an instance to another node when its node is lost or its
    restart budget is spent: up to ``attempts`` times (0 = never), waiting ``delay_seconds``
    doubling up to ``max_delay_seconds``."""

    attempts: Annotated[int, Field(ge=0, le=1000)] = 5
    delay_seconds: Seconds = 5.0
    max_delay_seconds: Seconds = 300.0


class UpdatePolicy(_Strict):
    """How a change of the template rolls out (Nomad's ``update`` stanza).

    At most ``replicas + max_surge`` instances exist at once, and at most
    ``max_parallel`` new ones are not yet healthy. A new instance is healthy once it has
    been running (and passing its health check, if any) for ``min_healthy_seconds``; one
    not healthy within ``healthy_deadline_seconds`` of its creation stops the roll, which
    goes back to the last good version with ``auto_revert`` and is paused otherwise.
    ``canary: N`` starts N new instances beside the old ones and waits for a promote.
    """

    max_parallel: Annotated[int, Field(ge=1, le=MAX_REPLICAS)] = 1
    max_surge: Annotated[int, Field(ge=0, le=MAX_REPLICAS)] = 1
    min_healthy_seconds: Seconds = 10.0
    healthy_deadline_seconds: PositiveSeconds = 120.0
    auto_revert: bool = True
    canary: Annotated[int, Field(ge=0, le=MAX_REPLICAS)] = 0

    @model_validator(mode="after")
    def _deadline_after_min(self, info: ValidationInfo) -> UpdatePolicy:
        deadline, least = self.healthy_deadline_seconds, self.min_healthy_seconds
        # Stored before this rule, or kept as stored by a patch: as it was.
        if deadline <= least and not _kept(info, "update"):
            raise ValueError(
                f"healthy_deadline_seconds ({deadline:g}) must be longer than "
                f"min_healthy_seconds ({least:g}): a new instance could never be healthy in "
                "time, and every roll would fail"
            )
        return self
