"""The experiment spec: processes and process groups that find each other by name.

An experiment is launched and watched as one thing, but each of its processes is stored
and run as an ordinary deployment named ``<experiment>.<process>`` (see
:func:`process_deployments`), so logs, events, restarts and health checks work as for
any deployment. What an experiment adds is names on the network::

    {"name": "rl",
     "processes": [{"name": "learner", "command": ["python3", "learner.py"],
                    "binds": ["replay-server", "parameter-server"]},
                   {"name": "replay", "cmds": ["python3 replay.py"],
                    "connects": ["replay-server"]}],
     "process_groups": [{"name": "agents-0", "processes": [
         {"name": "agent-0", "command": ["python3", "agent.py"],
          "connects": ["parameter-server"]}]}]}

``binds``, ``connects`` and ``exposes`` each take a name, a list of names or (binds and
exposes) a map of name to a fixed port. Every process gets ``SYMPH_<NAME>_HOST``,
``_PORT`` and ``_ADDR`` for every bound or exposed name, with ``NAME`` upper-cased and
``-`` written ``_``: so two names that give one variable (``a-b``, ``a_b``) are refused,
as is a connect to a name nothing binds or exposes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ._errors import SpecError
from ._fields import (
    _NAME_RE,
    MAX_REPLICAS,
    NAME_PATTERN,
    Amount,
    Arg,
    ClassName,
    EnvName,
    EnvValue,
    GroupName,
    Plain,
    Port,
    ServiceName,
    _command_list,
    _Strict,
    not_a_label,
)
from ._model import DeploymentSpec, ExecConfig, ExperimentRole
from ._policies import HealthCheck, PlacementPolicy, Reschedule, RestartPolicy
from ._shared import shared
from ._stems import variable_stem
from ._words import translate_errors

#: The most processes one experiment may have (each is a deployment).
MAX_PROCESSES = 1000
#: What a process runs when it gives ``cmds``: the lines in order, in one shell.
SHELL = "/bin/sh"


def _names(value: Any) -> Any:
    """One name, a list of names or a map name -> port, as a map (ports may be None)."""
    if isinstance(value, str):
        return {value: None}
    if isinstance(value, list):
        if len(set(map(repr, value))) != len(value):
            raise ValueError("lists a name twice")
        return dict.fromkeys(value)
    return value


def _name_list(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and len(set(map(repr, value))) != len(value):
        raise ValueError("lists a name twice")
    return value


def _dns(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise ValueError(not_a_label(value))
    return value


#: A process's, group's or experiment's name: a DNS label (the schema says so too).
Label = Annotated[
    str, AfterValidator(_dns), WithJsonSchema({"type": "string", "pattern": NAME_PATTERN})
]


class ProcessSpec(_Strict):
    """One process: a deployment's fields (with one replica) plus its network names.

    ``cmds`` are shell lines run in order in one shell; ``command`` an argv list (no
    shell); give exactly one. ``reconnect``: ``restart`` restarts this process with the
    new values when a name it connects to moves (another node or port); ``none`` leaves it be.
    """

    name: Label
    cmds: list[Arg] | None = None
    command: list[Arg] | None = None
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)  # text or {secret: name}
    cwd: Plain | None = None
    node_group: GroupName | None = None
    capacity_requests: dict[ClassName, Amount] = Field(default_factory=dict)
    restart_policy: RestartPolicy = Field(default_factory=shared(RestartPolicy))
    health_check: HealthCheck | None = None
    stop_signal: str = "SIGTERM"
    stop_timeout_seconds: Annotated[float, Field(ge=0, le=3600)] = 10.0
    reschedule: Reschedule = Field(default_factory=shared(Reschedule))
    binds: dict[ServiceName, Port | None] = Field(default_factory=dict)
    connects: list[ServiceName] = Field(default_factory=list)
    exposes: dict[ServiceName, Port | None] = Field(default_factory=dict)
    reconnect: Literal["restart", "none"] = "restart"

    _binds = field_validator("binds", "exposes", mode="before")(staticmethod(_names))
    _connects = field_validator("connects", mode="before")(staticmethod(_name_list))
    _command = field_validator("command", mode="before")(
        staticmethod(lambda v: v if v is None else _command_list(v))
    )

    @model_validator(mode="after")
    def _one_program(self) -> ProcessSpec:
        if (self.cmds is None) == (self.command is None):
            raise ValueError("give either cmds (shell lines) or command (an argv list)")
        if self.cmds is not None and not self.cmds:
            raise ValueError("cmds must list at least one shell line")
        return self

    def argv(self) -> list[str]:
        """What the node runs: ``command``, or the ``cmds`` lines in one shell."""
        if self.command is not None:
            return list(self.command)
        return [SHELL, "-c", "\n".join(self.cmds or [])]


class ProcessGroupSpec(_Strict):
    """Processes that run on one node together (like a pod)."""

    name: Label
    processes: Annotated[list[ProcessSpec], Field(min_length=1)]


class ExperimentSpec(_Strict):
    """A validated experiment; build one with :func:`symphony.spec.parse_experiment`."""

    name: Label
    processes: list[ProcessSpec] = Field(default_factory=list)
    process_groups: list[ProcessGroupSpec] = Field(default_factory=list)
    network: Literal["auto", "direct", "relay"] = "auto"
    desired_state: Literal["running", "stopped"] = "running"
    placement: PlacementPolicy = Field(default_factory=shared(PlacementPolicy))

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        # Each rule names what to change, since a 422 is all the submitter sees.
        members = list(self.members())
        if not members:
            raise ValueError("an experiment needs at least one process")
        if len(members) > MAX_PROCESSES:
            raise ValueError(f"at most {MAX_PROCESSES} processes, got {len(members)}")
        _unique("processes", [p.name for _, p in members])
        _unique("process groups", [g.name for g in self.process_groups])
        offered: dict[str, str] = {}  # variable stem -> the name that claims it
        for _, proc in members:
            for name in [*proc.binds, *proc.exposes]:
                stem = variable_stem(name)
                other = offered.get(stem)
                if other == name:
                    raise ValueError(f"{name!r} is bound or exposed twice; one process owns it")
                if other is not None:
                    raise ValueError(f"{other!r} and {name!r} both give SYMPH_{stem}_*; rename one")
                offered[stem] = name
        for _, proc in members:
            for name in proc.connects:
                if offered.get(variable_stem(name)) != name:
                    raise ValueError(
                        f"process {proc.name!r} connects to {name!r}, which no process "
                        "binds or exposes"
                    )
        for group in self.process_groups:
            node_groups = {p.node_group for p in group.processes if p.node_group is not None}
            if len(node_groups) > 1:
                raise ValueError(
                    f"process group {group.name!r} runs on one node, but its processes "
                    f"ask for different node groups: {', '.join(sorted(node_groups))}"
                )
        return self

    def members(self) -> Iterator[tuple[str | None, ProcessSpec]]:
        """Every process with its group's name (None for a process on its own)."""
        for proc in self.processes:
            yield None, proc
        for group in self.process_groups:
            for proc in group.processes:
                yield group.name, proc

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, every field included."""
        return self.model_dump(mode="json")


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"two {what} are named {name!r}; names are unique")
        seen.add(name)


def process_deployments(spec: ExperimentSpec) -> list[DeploymentSpec]:
    """The deployment spec of each process, in order (processes, then groups')."""
    size = sum(1 for _ in spec.members())
    out = []
    for group, proc in spec.members():
        role = ExperimentRole(
            name=spec.name,
            process=proc.name,
            group=group,
            binds=proc.binds,
            exposes=proc.exposes,
            connects=proc.connects,
            reconnect=proc.reconnect,
            size=size,
            network=spec.network,
        )
        out.append(
            DeploymentSpec(
                name=f"{spec.name}.{proc.name}",
                node_group=proc.node_group or _group_node_group(spec, group),
                capacity_requests=proc.capacity_requests,
                config=ExecConfig(command=proc.argv(), env=proc.env, cwd=proc.cwd),
                replicas=1,
                desired_state=spec.desired_state,
                placement=spec.placement,
                restart_policy=proc.restart_policy,
                health_check=proc.health_check,
                stop_signal=proc.stop_signal,
                stop_timeout_seconds=proc.stop_timeout_seconds,
                reschedule=proc.reschedule,
                experiment=role,
            )
        )
    assert size <= MAX_REPLICAS
    return out


def _group_node_group(spec: ExperimentSpec, group: str | None) -> str | None:
    """A group's processes share one node, so one that names a node group names it for all."""
    for other_group, proc in spec.members():
        if group is not None and other_group == group and proc.node_group is not None:
            return proc.node_group
    return None


def parse_experiment(data: object) -> tuple[ExperimentSpec, list[DeploymentSpec]]:
    """Validate ``data`` into an :class:`ExperimentSpec` and its processes' deployment specs.

    Raises :class:`~symphony.spec.SpecError` listing every problem with its path::

        >>> parse_experiment({"name": "rl", "processes": [{"name": "a",
        ...     "command": ["true"], "connects": "nowhere"}]})
        Traceback (most recent call last):
        SpecError: process 'a' connects to 'nowhere', which no process binds or exposes
    """
    if not isinstance(data, Mapping):
        message = f"an experiment spec must be an object (mapping), got {type(data).__name__}"
        raise SpecError([{"path": "", "message": message}])
    try:
        spec = ExperimentSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise SpecError(translate_errors(exc.errors(), model=ExperimentSpec)) from None
    try:
        return spec, process_deployments(spec)
    except ValidationError as exc:
        # A process field checked only in the deployment's own model (stop_signal, say).
        errors = translate_errors(exc.errors(), model=DeploymentSpec)
        raise SpecError([{**e, "path": f"processes: {e['path']}"} for e in errors]) from None
