"""What :mod:`symphony.engine` raises on purpose (besides the client's own errors)."""

from symphony.errors import SymphonyError


class EngineError(SymphonyError):
    """A cluster could not be made, or an experiment not launched, as asked."""


class ExperimentExists(EngineError, FileExistsError):
    """Launching would overwrite an experiment (saved in the experiment folder, or known
    to the Conductor); pass ``force=True`` to replace it."""
