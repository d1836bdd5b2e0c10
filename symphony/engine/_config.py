"""``SymphonyConfig``: settings every cluster of this process reads (one instance).

    SymphonyConfig().set_username("sarah")       # cluster.new_experiment("rl") -> "sarah-rl"
    SymphonyConfig().set_experiment_folder("~/experiments")

The experiment folder keeps a copy of every launched spec, as
``<folder>/<experiment>/experiment.yaml`` (``symphony launch`` runs such a file again),
and is how a launch notices it would overwrite an earlier experiment of that name: it
refuses unless ``force=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

SPEC_FILE = "experiment.yaml"


class SymphonyConfig:
    """The process-wide settings; ``SymphonyConfig()`` always returns the same object."""

    _instance: ClassVar[SymphonyConfig | None] = None
    username: str | None
    experiment_folder: Path | None

    def __new__(cls) -> SymphonyConfig:
        if cls._instance is None:
            instance = super().__new__(cls)
            instance.username = None
            instance.experiment_folder = None
            cls._instance = instance
        return cls._instance

    def set_username(self, name: str | None) -> None:
        """Prefix experiments created from now on with ``name-`` (``None``: no prefix)."""
        self.username = name or None

    def set_experiment_folder(self, directory: str | Path | None) -> None:
        """Save every spec launched from now on under ``directory`` (``~`` expanded)."""
        self.experiment_folder = None if directory is None else Path(directory).expanduser()

    def reset(self) -> None:
        """Back to no user name and no experiment folder."""
        self.username = None
        self.experiment_folder = None

    def experiment_name(self, name: str) -> str:
        """``name`` with the user name's prefix, if one is set (and not there already)."""
        if self.username and not name.startswith(f"{self.username}-"):
            return f"{self.username}-{name}"
        return name

    def saved_spec(self, name: str) -> Path | None:
        """Where the spec of experiment ``name`` is saved (``None``: no folder is set)."""
        if self.experiment_folder is None:
            return None
        return self.experiment_folder / name / SPEC_FILE

    def save(self, name: str, spec: dict[str, Any], *, force: bool) -> Path | None:
        """Write ``spec`` for experiment ``name``; refuses to overwrite unless ``force``."""
        from ._errors import ExperimentExists
        from ._yaml import dump_yaml

        path = self.saved_spec(name)
        if path is None:
            return None
        if path.exists() and not force:
            raise ExperimentExists(
                f"experiment {name!r} was launched before (its spec is in {path}); "
                "pass force=True (symphony launch --force) to overwrite it"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_yaml(spec), encoding="utf-8")
        return path
