"""The deployment spec: pydantic models, strict where it matters.

Strict mode means no silent coercion: ``"replicas": "2"`` and ``"replicas": false`` are
refused instead of becoming ``2`` and ``0``. Unknown fields are refused (``extra="forbid"``)
so a typo never quietly turns into a default. Models are frozen: a spec is a value; change
one with :meth:`DeploymentSpec.patched`.

The seed spec is valid verbatim::

    {"node_group": "gpu-1", "capacity_requests": {"Analytic1": 1}, "kind": "exec",
     "config": {"command": ["python3", "main.py"], "env": {"LOG_LEVEL": "info"}},
     "restart_policy": {"type": "on-failure", "backoff_seconds": 10}}
"""

from __future__ import annotations

import re
import signal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    field_validator,
    model_validator,
)

from ._container import CONTAINER_KINDS, config_problems
from ._labels import Labels
from ._names import generate_name, name_is_generated
from ._schedule import RestartSchedule, Schedule, schedules_problem
from ._secrets import SecretRef
from ._shared import shared
from ._sources import EnvRef, GitSource, Sha256

# DNS label (RFC 1123), like Kubernetes object names: usable in URLs, file names, metrics.
# Every pattern is used with fullmatch: ``$`` would also match before a final newline.
_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Capacity classes and node groups appear in YAML keys, metrics labels and messages.
_CLASS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,62}")
_GROUP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
# C0 controls and DEL: never part of a name, a variable name or a path a person typed.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_NOT_YET_KINDS = {"container", "conda", "venv"}
_KINDS = "'exec', 'docker' or 'podman'"
MAX_REPLICAS = 10_000
MAX_AMOUNT = 10**12
#: Where a ``tcp`` health check connects when its spec names no ``host``.
DEFAULT_TCP_HOST = "127.0.0.1"


def _stored(info: ValidationInfo) -> bool:
    """Whether a spec read back from the store is being validated (see ``parse_stored_spec``).

    Such a spec was accepted under the rules of its day; refusing it now would make the
    whole deployment unreadable (and a listing fail). Rules added since are waived
    there: the spec still fails where it matters, when its instance is sent to a node.
    """
    return bool(info.context and info.context.get("stored"))


def _full(regex: re.Pattern[str], value: str, info: ValidationInfo) -> bool:
    # Stored specs keep the old reading of ``^...$``, which accepted one final "\n".
    return bool(
        regex.fullmatch(value) or (_stored(info) and regex.fullmatch(value.removesuffix("\n")))
    )


def _check_class(value: str, info: ValidationInfo) -> str:
    if not _full(_CLASS_RE, value, info):
        raise ValueError(
            f"capacity class {value!r} must start with a letter and use only letters, "
            "digits, '_', '.', '-' (at most 63 characters)"
        )
    return value


def _check_group(value: str, info: ValidationInfo) -> str:
    if not _full(_GROUP_RE, value, info):
        raise ValueError(
            f"node group {value!r} must start with a letter or digit and use only letters, "
            "digits, '_', '.', '-' (at most 63 characters)"
        )
    return value


def _check_unicode(value: str) -> str:
    # JSON can carry a lone surrogate ("\\ud800") that Python keeps in a str but that no
    # UTF-8 encoder (msgpack, SQLite, a process's argv) accepts: refuse it here, where
    # the field path is known, instead of failing later far from the request.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"is not valid Unicode text: lone surrogate at position {exc.start}"
        ) from None
    return value


def _check_arg(value: str, info: ValidationInfo) -> str:
    """An argument or an environment value: any text but NUL (tabs, newlines are fine)."""
    if not _stored(info):
        _check_unicode(value)
    if "\0" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _check_plain(value: str, info: ValidationInfo) -> str:
    """A variable name, a directory, a host: valid Unicode without control characters."""
    if _stored(info):
        return value
    _check_unicode(value)
    found = _CONTROL_RE.search(value)
    if found is not None:
        raise ValueError(
            f"must not contain control characters (found {found.group()!r} at position "
            f"{found.start()})"
        )
    return value


def _check_env_name(value: str, info: ValidationInfo) -> str:
    _check_plain(value, info)
    if not value or "=" in value or "\0" in value:
        raise ValueError(f"environment variable {value!r}: a name is not empty and has no '='")
    return value


# The JSON schema (OpenAPI) states the rules the validators check, so a client that
# follows the schema is never refused: the patterns, and a program name not empty.
NAME_PATTERN = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
CLASS_PATTERN = "^[A-Za-z][A-Za-z0-9_.-]{0,62}$"
GROUP_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
ClassName = Annotated[str, AfterValidator(_check_class)]
GroupName = Annotated[
    str, AfterValidator(_check_group), WithJsonSchema({"type": "string", "pattern": GROUP_PATTERN})
]
Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT)]
Seconds = Annotated[float, Field(ge=0, le=86_400 * 7)]
PositiveSeconds = Annotated[float, Field(gt=0, le=86_400 * 7)]
Arg = Annotated[str, AfterValidator(_check_arg)]
Plain = Annotated[str, AfterValidator(_check_plain)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]


def _env_value(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    # A text value or a secret reference, chosen by the value's shape, so that an error
    # names what was meant instead of listing both alternatives.
    if isinstance(value, dict | SecretRef):
        return SecretRef.model_validate(value)
    if not isinstance(value, str):
        raise ValueError(
            f'must be a string or a secret reference {{"secret": "name"}}, got {_kind(value)}'
        )
    return _check_arg(value, info)


def _kind(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", list: "a list"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


EnvValue = Annotated[SecretRef | Arg, WrapValidator(_env_value)]


class _Strict(BaseModel):
    # defer_build: the validators are compiled on first use, not at import, so a CLI that
    # only imports this module for `--help` does not pay for them.
    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True
    )


def _command_list(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError(
            f'must be a list of strings, e.g. ["python3", "main.py"], not one string ({value!r})'
        )
    if isinstance(value, list) and not value:
        raise ValueError("must name a program: the list is empty")
    if isinstance(value, list) and value[0] == "":
        raise ValueError("the program (first item) must not be empty")
    return value


#: A program and its arguments: not empty, the program not empty (stated in the schema
#: too, so a client following it is never refused).
Argv = Annotated[
    list[Arg],
    Field(json_schema_extra={"minItems": 1, "prefixItems": [{"type": "string", "minLength": 1}]}),
]


class ExecConfig(_Strict):
    """What to run: ``command`` (argv list, no shell), ``env`` added to the node's
    environment, ``cwd`` (default: the instance's own work directory on the node; a
    relative one is inside it). The code comes from ``image`` (an archive, checked
    against ``sha256`` when given) or ``git``, unpacked into the work directory; the
    command runs inside the environment ``env_name`` (see :mod:`._sources`).

    For kinds ``docker``/``podman``: ``image`` (required), ``command`` (optional: the
    image's own command otherwise) and ``entrypoint``; see ``_container``. Which fields
    a kind needs is checked by :class:`DeploymentSpec`, which knows the kind.
    """

    command: Argv | None = None
    # A value is text, or a reference to a stored secret ({"secret": "name"}: the value
    # reaches only the node that runs the instance, see docs/secrets.md).
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    cwd: Plain | None = None
    image: Plain | None = None  # kind exec: an archive URL; docker/podman: an image
    sha256: Sha256 | None = None
    git: GitSource | None = None
    env_name: EnvRef | None = None
    entrypoint: Argv | None = None

    @field_validator("cwd")
    @classmethod
    def _cwd_not_empty(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value == "" and not _stored(info):
            raise ValueError("must not be empty (leave it out for the instance's own directory)")
        return value

    @model_validator(mode="after")
    def _one_source(self, info: ValidationInfo) -> ExecConfig:
        if _stored(info):
            return self
        if self.image is not None and self.git is not None:
            raise ValueError("config.image and config.git: give one source of code, not both")
        if self.sha256 is not None and self.image is None:
            raise ValueError("config.sha256 is the digest of config.image: give the image too")
        if self.git is not None and self.git.repo.startswith("upload:"):
            raise ValueError("config.git.repo: a repository URL, not an upload")
        has_source = self.image is not None or self.git is not None
        if has_source and self.cwd and ".." in self.cwd.split("/") and self.cwd[0] != "/":
            raise ValueError("config.cwd: a relative cwd stays inside the unpacked code (no '..')")
        return self

    _command = field_validator("command", "entrypoint", mode="before")(
        staticmethod(lambda v: v if v is None else _command_list(v))
    )


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
    period_seconds: PositiveSeconds = 10.0
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


def not_a_label(value: str) -> str:
    """Why ``value`` is refused as a name (a DNS label)."""
    return (
        f"{value!r} is not a valid name: use 1-63 lowercase letters, digits and '-', "
        "starting and ending with a letter or digit"
    )


#: A name an experiment binds, connects to or exposes (``replay-server``, ``tensorboard``).
SERVICE_PATTERN = "^[A-Za-z][A-Za-z0-9_-]{0,62}$"
_SERVICE_RE = re.compile(SERVICE_PATTERN[1:-1])
Port = Annotated[int, Field(ge=1, le=65535)]


def _check_service(value: str) -> str:
    if not _SERVICE_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid service name: start with a letter, then letters, "
            "digits, '-' or '_' (at most 63 characters)"
        )
    return value


ServiceName = Annotated[
    str,
    AfterValidator(_check_service),
    WithJsonSchema({"type": "string", "pattern": SERVICE_PATTERN}),
]


class ExperimentRole(_Strict):
    """What a deployment is within an experiment (set by the Conductor, never by hand):
    the experiment's and the process's names, its process group (processes of one group
    run on one node), the names it binds or exposes (``None``: a port allocated on its
    node) and connects to, whether it restarts when a name it connects to moves, and how
    many processes the experiment has (the Scheduler places them as one gang)."""

    name: str
    process: str
    group: str | None = None
    binds: dict[ServiceName, Port | None] = Field(default_factory=dict)
    exposes: dict[ServiceName, Port | None] = Field(default_factory=dict)
    connects: list[ServiceName] = Field(default_factory=list)
    reconnect: Literal["restart", "none"] = "restart"
    size: Annotated[int, Field(ge=1, le=MAX_REPLICAS)] = 1
    #: The experiment's ``network``: ``relay`` tunnels every connect through the Conductor.
    network: Literal["auto", "direct", "relay"] = "auto"

    @property
    def gang_group(self) -> str:
        """The unit placed on one node: its process group, else the process alone."""
        return f"group:{self.group}" if self.group is not None else f"process:{self.process}"


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
        if deadline <= least and not _stored(info):  # stored before this rule: as it was
            raise ValueError(
                f"healthy_deadline_seconds ({deadline:g}) must be longer than "
                f"min_healthy_seconds ({least:g}): a new instance could never be healthy in "
                "time, and every roll would fail"
            )
        return self


class DeploymentSpec(_Strict):
    """One validated deployment spec, shared by the HTTP API, the CLI and YAML files.

    Build one with :func:`symphony.spec.parse_spec` (which reports every problem with its
    field path); turn it back into plain JSON with :meth:`to_dict`.
    """

    model_config = ConfigDict(json_schema_extra=name_is_generated)

    name: Annotated[
        str,
        Field(
            json_schema_extra={
                "pattern": NAME_PATTERN,
                "description": "A DNS label; generated if absent",
            }
        ),
    ]
    node_group: GroupName | None = None
    capacity_requests: dict[ClassName, Amount] = Field(
        default_factory=dict, json_schema_extra={"propertyNames": {"pattern": CLASS_PATTERN}}
    )
    kind: Literal["exec", "docker", "podman"] = "exec"
    config: ExecConfig
    replicas: Annotated[int, Field(ge=0, le=MAX_REPLICAS)] = 1
    desired_state: Literal["running", "stopped"] = "running"
    placement: PlacementPolicy = Field(default_factory=shared(PlacementPolicy))
    restart_policy: RestartPolicy = Field(default_factory=shared(RestartPolicy))
    health_check: HealthCheck | None = None
    stop_signal: str = "SIGTERM"
    stop_timeout_seconds: Annotated[float, Field(ge=0, le=3600)] = 10.0
    reschedule: Reschedule = Field(default_factory=shared(Reschedule))
    log_max_bytes: Annotated[int, Field(ge=4096, le=2**40)] = 10 * 1024 * 1024
    log_backups: Annotated[int, Field(ge=0, le=100)] = 5
    labels: Labels = Field(default_factory=dict)
    experiment: ExperimentRole | None = None
    schedule: Schedule | None = None
    restart_schedule: RestartSchedule | None = None

    @model_validator(mode="after")
    def _schedules_fit(self) -> DeploymentSpec:
        problem = schedules_problem(self.schedule, self.restart_schedule, self.restart_policy.type)
        if problem is not None:
            raise ValueError(problem)
        return self

    update: UpdatePolicy = Field(default_factory=shared(UpdatePolicy))

    @model_validator(mode="before")
    @classmethod
    def _fill_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") is None:
            data = {**data, "name": generate_name(data)}
        return data

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str, info: ValidationInfo) -> str:
        # A process of an experiment is named ``<experiment>.<process>``, two labels;
        # ``_owned_name`` below checks that only such a deployment has a dot.
        labels = value.split(".")
        if len(labels) == 2 and all(_full(_NAME_RE, label, info) for label in labels):
            return value
        if not _full(_NAME_RE, value, info):
            raise ValueError(not_a_label(value))
        return value

    @model_validator(mode="after")
    def _owned_name(self) -> DeploymentSpec:
        role = self.experiment
        owned = None if role is None else f"{role.name}.{role.process}"
        if "." in self.name and self.name != owned:
            raise ValueError(
                f"name {self.name!r}: a name with a '.' belongs to a process of an "
                "experiment (<experiment>.<process>); use 1-63 lowercase letters, digits "
                "and '-'"
            )
        if owned is not None and self.name != owned:
            raise ValueError(f"the deployment of experiment process {owned!r} is named so")
        return self

    @field_validator("kind", mode="before")
    @classmethod
    def _supported_kind(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "exec" and value not in CONTAINER_KINDS:
            if value in ("conda", "venv"):
                raise ValueError(
                    f"not supported yet: kind {value!r}; use kind 'exec' with "
                    f"config.env_name to run the command inside a {value} environment"
                )
            if value in _NOT_YET_KINDS:
                raise ValueError(f"not supported yet: kind {value!r}; the kinds are {_KINDS}")
            raise ValueError(f"unknown kind {value!r}; the kinds are {_KINDS}")
        return value

    @field_validator("config")
    @classmethod
    def _config_fits_kind(cls, value: ExecConfig, info: ValidationInfo) -> ExecConfig:
        # `kind` is declared before `config`, so it is validated already (absent from
        # info.data when it was invalid: that error is reported on its own).
        kind = info.data.get("kind")
        problems = config_problems(kind, value, info) if kind is not None else []
        if problems:
            # Raised as a ValidationError, pydantic reports each under config.<field>.
            raise ValidationError.from_exception_data(
                "ExecConfig",
                [
                    {"type": "missing", "loc": (name,), "input": value}
                    if message is None
                    else {
                        "type": "value_error",
                        "loc": (name,),
                        "input": getattr(value, name),
                        "ctx": {"error": ValueError(message)},
                    }
                    for name, message in problems
                ],
            )
        return value

    @field_validator("stop_signal")
    @classmethod
    def _signal_name(cls, value: str) -> str:
        name = value.upper()
        name = name if name.startswith("SIG") else f"SIG{name}"
        if name not in signal.Signals.__members__ or name.startswith("SIG_"):
            raise ValueError(f"{value!r} is not a signal name (e.g. SIGTERM, SIGINT, SIGHUP)")
        return name

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict with every field (defaults included); feeding it back
        to :func:`~symphony.spec.parse_spec` gives an equal spec."""
        return self.model_dump(mode="json")

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON schema of a spec as a client sends it (for OpenAPI)."""
        return cls.model_json_schema(mode="validation")

    def patched(self, patch: Any) -> DeploymentSpec:
        """A new spec with ``patch`` applied as a JSON merge patch (RFC 7386): objects
        merge, ``null`` resets a field to its default, anything else replaces.
        Raises :class:`~symphony.spec.SpecError` naming the field paths of the result."""
        from ._parse import apply_patch

        return apply_patch(self, patch)
