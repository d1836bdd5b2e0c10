"""Experiments declared in Python, with the seed's names: processes, groups, networking.

    exp = ExperimentSpec("rl")
    learner = exp.new_process("learner", cmds=["python learner.py"])
    learner.binds(["replay-server", "parameter-server"])
    agents = exp.new_process_group("agents")
    agents.new_process("agent-0", command=["python", "agent.py"]).connects("parameter-server")

These builders only collect what is declared; :meth:`ExperimentSpec.dump_dict` gives
the body ``POST /experiments`` takes, and :meth:`ExperimentSpec.validate` checks it with
the Conductor's own rules (:func:`symphony.spec.parse_experiment`), so a connect to a
name nothing binds fails in this process, before anything runs. Any field of a
process spec (``env``, ``cwd``, ``capacity_requests``, ``node_group``,
``restart_policy``...) is a keyword of ``new_process``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar


class _Named(Protocol):
    name: str


T = TypeVar("T", bound=_Named)

#: What binds/exposes accept: a name, names, or a map name -> fixed port (None: any).
Names = str | list[str] | tuple[str, ...] | Mapping[str, int | None]


def _as_ports(names: Names) -> dict[str, int | None]:
    if isinstance(names, str):
        return {names: None}
    if isinstance(names, Mapping):
        return dict(names)
    return dict.fromkeys(names)


def _plain(ports: dict[str, int | None]) -> list[str] | dict[str, int | None]:
    """A list of names when no port is fixed (as people write it), else the map."""
    return list(ports) if all(p is None for p in ports.values()) else dict(ports)


class ProcessSpec:
    """One process: a name, what it runs (``cmds`` shell lines or a ``command`` argv),
    its spec fields, and the names it binds, connects to and exposes."""

    def __init__(
        self,
        name: str,
        cmds: list[str] | str | None = None,
        *,
        command: list[str] | str | None = None,
        env: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> None:
        self.name = name
        self.fields: dict[str, Any] = dict(fields)
        if cmds is not None:
            self.fields["cmds"] = [cmds] if isinstance(cmds, str) else list(cmds)
        if command is not None:
            self.fields["command"] = command if isinstance(command, str) else list(command)
        if env:
            self.fields["env"] = dict(env)
        self._binds: dict[str, int | None] = _as_ports(self.fields.pop("binds", []))
        self._exposes: dict[str, int | None] = _as_ports(self.fields.pop("exposes", []))
        connects = self.fields.pop("connects", [])
        self._connects: list[str] = [connects] if isinstance(connects, str) else list(connects)

    def __repr__(self) -> str:
        return f"ProcessSpec({self.name!r})"

    def binds(self, names: Names) -> ProcessSpec:
        """Serve on these names: each gets a port on this process's node (or the fixed
        one of ``{"tensorboard": 6006}``), and every process of the experiment gets
        ``SYMPH_<NAME>_HOST``/``_PORT``/``_ADDR``. Returns self, to chain calls."""
        self._binds.update(_as_ports(names))
        return self

    def connects(self, names: str | list[str] | tuple[str, ...]) -> ProcessSpec:
        """Expect some process to bind or expose these names (checked at launch)."""
        for name in [names] if isinstance(names, str) else names:
            if name not in self._connects:
                self._connects.append(name)
        return self

    def exposes(self, names: Names) -> ProcessSpec:
        """As :meth:`binds`, for names meant to be reached from outside
        (``symphony visit NAME``)."""
        self._exposes.update(_as_ports(names))
        return self

    # The seed's documentation also writes them in the singular.
    bind, connect, expose = binds, connects, exposes

    def set_env(self, name: str, value: str) -> ProcessSpec:
        """Add one environment variable."""
        self.fields.setdefault("env", {})[name] = value
        return self

    def to_dict(self) -> dict[str, Any]:
        """This process as the experiment spec writes it."""
        out: dict[str, Any] = {"name": self.name, **copy.deepcopy(self.fields)}
        if self._binds:
            out["binds"] = _plain(self._binds)
        if self._connects:
            out["connects"] = list(self._connects)
        if self._exposes:
            out["exposes"] = _plain(self._exposes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessSpec:
        fields = dict(data)
        return cls(str(fields.pop("name", "")), **fields)


class _HasProcesses:
    """What an experiment and a process group share: their own list of processes."""

    processes: list[ProcessSpec]

    def new_process(self, name: str, *args: Any, **kwargs: Any) -> ProcessSpec:
        """Add a process (takes what :class:`ProcessSpec` takes): in a group, on the
        group's node; in the experiment, wherever it fits."""
        process = ProcessSpec(name, *args, **kwargs)
        self.processes.append(process)
        return process


class ProcessGroupSpec(_HasProcesses):
    """Processes that run on one node together (like a pod)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.processes = []

    def __repr__(self) -> str:
        return f"ProcessGroupSpec({self.name!r}, {len(self.processes)} processes)"

    def get_process(self, name: str) -> ProcessSpec:
        return _named(self.processes, name, f"process group {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "processes": [p.to_dict() for p in self.processes]}


class ExperimentSpec(_HasProcesses):
    """An experiment being declared: processes and process groups, launched together.

    ``fields``: the experiment's own spec fields (``network``, ``placement``...).
    Made by ``cluster.new_experiment(name)`` (which prefixes the user name set with
    :meth:`SymphonyConfig.set_username`) or directly.
    """

    def __init__(self, name: str, **fields: Any) -> None:
        self.name = name
        self.fields: dict[str, Any] = dict(fields)
        self.processes = []
        self.process_groups: list[ProcessGroupSpec] = []

    def __repr__(self) -> str:
        return f"ExperimentSpec({self.name!r}, {sum(1 for _ in self.all_processes())} processes)"

    def new_process_group(self, name: str) -> ProcessGroupSpec:
        """Add a process group: its processes share one node."""
        group = ProcessGroupSpec(name)
        self.process_groups.append(group)
        return group

    def get_process(self, name: str) -> ProcessSpec:
        return _named(list(self.all_processes()), name, f"experiment {self.name!r}")

    def get_process_group(self, name: str) -> ProcessGroupSpec:
        return _named(self.process_groups, name, f"experiment {self.name!r}")

    def all_processes(self) -> Iterator[ProcessSpec]:
        """Every process, its own ones first, then each group's."""
        yield from self.processes
        for group in self.process_groups:
            yield from group.processes

    def dump_dict(self) -> dict[str, Any]:
        """The spec as plain data: what ``POST /experiments`` takes, and what
        :meth:`load_dict` (or ``symphony launch FILE.yaml``) reads back."""
        out: dict[str, Any] = {"name": self.name, **copy.deepcopy(self.fields)}
        out["processes"] = [p.to_dict() for p in self.processes]
        if self.process_groups:
            out["process_groups"] = [g.to_dict() for g in self.process_groups]
        return out

    @classmethod
    def load_dict(cls, data: Mapping[str, Any]) -> ExperimentSpec:
        """The experiment a :meth:`dump_dict` (or a YAML file) describes. Data of the
        wrong shape raises :class:`~symphony.spec.SpecError` naming where."""
        try:
            return cls._from_data(data)
        except (TypeError, ValueError, AttributeError):
            from symphony.spec import parse_experiment

            parse_experiment(data)  # says what is wrong, and where
            raise

    @classmethod
    def _from_data(cls, data: Mapping[str, Any]) -> ExperimentSpec:
        if not isinstance(data, Mapping):
            raise TypeError(f"an experiment is a mapping, got {type(data).__name__}")
        fields = dict(data)
        own = {k: v for k, v in fields.items() if k not in ("name", "processes", "process_groups")}
        exp = cls(str(fields.get("name", "")), **own)
        for process in fields.get("processes") or []:
            exp.processes.append(ProcessSpec.from_dict(process))
        for group_data in fields.get("process_groups") or []:
            group = exp.new_process_group(str(group_data.get("name", "")))
            for process in group_data.get("processes") or []:
                group.processes.append(ProcessSpec.from_dict(process))
        return exp

    def dump_yaml(self) -> str:
        """:meth:`dump_dict` as YAML, the form ``symphony launch FILE.yaml`` reads."""
        from ._yaml import dump_yaml

        return dump_yaml(self.dump_dict())

    @classmethod
    def load_yaml(cls, path: str | Path) -> ExperimentSpec:
        """The experiment a YAML (or JSON) file holds; ``ValueError`` saying why not."""
        from ._yaml import load_yaml

        return cls.load_dict(load_yaml(path))

    def validate(self) -> None:
        """Check the spec with the Conductor's rules; raises
        :class:`~symphony.spec.SpecError` naming every problem (a connect to a name
        nothing binds, two processes with one name, an unknown field...)."""
        from symphony.spec import parse_experiment

        parse_experiment(self.dump_dict())


def _named(items: list[T], name: str, where: str) -> T:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"{where} has nothing named {name!r}")
