"""The deployment spec: pydantic models, strict where it matters.

Strict mode means no silent coercion: ``"replicas": "2"`` and ``"replicas": false`` are
refused instead of becoming ``2`` and ``0``. Unknown fields are refused (``extra="forbid"``)
so a typo never quietly turns into a default. Models are frozen: a spec is a value; change
one with :meth:`DeploymentSpec.patched`.

The seed spec is valid verbatim::

    {"node_group": "gpu-1", "capacity_requests": {"Analytic1": 1}, "kind": "exec",
     "config": {"command": ["python3", "main.py"], "env": {"LOG_LEVEL": "info"}},
     "restart_policy": {"type": "on-failure", "backoff_seconds": 10}}

The field types and their checks are in ``_fields.py``, the policies (restart, health
check, placement, reschedule, update) in ``_policies.py``; this module holds what to run
(:class:`ExecConfig`), a process's role in an experiment (:class:`ExperimentRole`) and
the spec itself (:class:`DeploymentSpec`).
"""

from __future__ import annotations

import signal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ._container import CONTAINER_KINDS, config_problems
from ._fields import (
    _NAME_RE,
    CLASS_PATTERN,
    MAX_CLASSES,
    MAX_REPLICAS,
    NAME_PATTERN,
    Amount,
    Argv,
    ClassName,
    EnvName,
    EnvValue,
    GroupName,
    Plain,
    Port,
    ServiceName,
    _command_list,
    _full,
    _stored,
    _Strict,
    check_class_count,
    not_a_label,
)
from ._labels import Labels
from ._names import generate_name
from ._policies import (
    HealthCheck,
    PlacementPolicy,
    Reschedule,
    RestartPolicy,
    UpdatePolicy,
)
from ._schedule import RestartSchedule, Schedule
from ._shared import shared
from ._sources import EnvRef, GitSource, Sha256

_NOT_YET_KINDS = {"container", "conda", "venv"}
_KINDS = "'exec', 'docker' or 'podman'"


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


def _name_is_generated(schema: dict[str, Any]) -> None:
    # A client may leave the name out (it is generated from the command), so the JSON
    # schema of what a client sends does not require it.
    schema["required"] = [r for r in schema.get("required", []) if r != "name"]


class DeploymentSpec(_Strict):
    """One validated deployment spec, shared by the HTTP API, the CLI and YAML files.

    Build one with :func:`symphony.spec.parse_spec` (which reports every problem with its
    field path); turn it back into plain JSON with :meth:`to_dict`.
    """

    model_config = ConfigDict(json_schema_extra=_name_is_generated)

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
    capacity_requests: Annotated[dict[ClassName, Amount], AfterValidator(check_class_count)] = (
        Field(
            default_factory=dict,
            json_schema_extra={
                "propertyNames": {"pattern": CLASS_PATTERN},
                "maxProperties": MAX_CLASSES,
            },
        )
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
        if self.schedule is not None and self.restart_schedule is not None:
            raise ValueError(
                "schedule and restart_schedule exclude each other: a scheduled deployment "
                "starts afresh at each run already"
            )
        if self.schedule is not None and self.restart_policy.type == "always":
            raise ValueError(
                "a scheduled deployment's runs must end: use restart_policy 'on-failure' "
                "or 'never' with a schedule, not 'always'"
            )
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
