"""The current experiment of each Conductor: the default of ``symphony p`` and ``logs``.

Set by ``symphony switch-experiment EXP`` and by every launch; kept per Conductor URL in
``$XDG_CONFIG_HOME/symphony/current-experiment.json`` (``~/.config/...`` by default), so
two projects with their own Conductors each keep their own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def current_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "symphony" / "current-experiment.json"


def _read() -> dict[str, str]:
    try:
        data = json.loads(current_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str)}


def get_current(url: str) -> str | None:
    """The current experiment of the Conductor at ``url``, if one was set."""
    return _read().get(url)


def set_current(url: str, name: str | None) -> None:
    """Make ``name`` the current experiment of ``url`` (``None`` forgets it)."""
    data = _read()
    if name is None:
        data.pop(url, None)
    else:
        data[url] = name
    path = current_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        temporary.replace(path)  # never half a file for a command reading it meanwhile
    except OSError:
        pass  # a read-only home: the commands then need EXP named each time
