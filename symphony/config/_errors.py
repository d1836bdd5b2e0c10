"""The one error a configuration can raise.

Every problem names the key path a person can find in their file
(``node.capacities_total.Analytic1``) and, when the configuration came from a file,
the file itself::

    ValueError
    └── ConfigError   .problems = [("node.heartbeat_sec", "must be ..."), ...], .source
"""

from __future__ import annotations

from collections.abc import Iterable

from symphony.errors import SymphonyError


class ConfigError(SymphonyError, ValueError):
    """A configuration was refused.

    ``problems`` lists every ``(key_path, message)`` found, in file order; ``source``
    names where the configuration came from (a file path) or is ``None`` for one built
    in code. ``str()`` is one line, ready for a log or ``symphony: error: ...``::

        storage/node.yaml: node.capacities_total.Analytic1: must be a non-negative
        integer, got 'ten'
    """

    def __init__(self, problems: Iterable[tuple[str, str]], *, source: str | None = None):
        self.problems: list[tuple[str, str]] = list(problems) or [("", "invalid configuration")]
        self.source = source
        super().__init__(self._line())

    def _line(self) -> str:
        text = "; ".join(f"{path}: {msg}" if path else msg for path, msg in self.problems)
        return f"{self.source}: {text}" if self.source else text

    def __str__(self) -> str:
        return self._line()

    def with_source(self, source: str) -> ConfigError:
        """The same problems, attributed to ``source`` (a file name)."""
        return ConfigError(self.problems, source=source)
