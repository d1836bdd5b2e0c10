"""The current experiment of each Conductor: the default of ``symphony p`` and ``logs``.

Set by ``symphony switch-experiment EXP`` and by every launch; kept per Conductor URL in
``current-experiment.json`` of the state directory the client found (``.symphony`` of
this directory or a parent, as for the Conductor's address), else of
``$XDG_CONFIG_HOME/symphony`` (``~/.config/symphony``). So each project keeps its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE = "current-experiment.json"


def current_file(state_dir: Path | None) -> Path:
    """Where the current experiments are kept (see the module docstring)."""
    if state_dir is not None:
        return state_dir / FILE
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "symphony" / FILE


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str)}


def get_current(url: str, state_dir: Path | None) -> str | None:
    """The current experiment of the Conductor at ``url``, if one was set."""
    return _read(current_file(state_dir)).get(url)


def set_current(url: str, name: str | None, state_dir: Path | None) -> None:
    """Make ``name`` the current experiment of ``url`` (``None`` forgets it)."""
    path = current_file(state_dir)
    data = _read(path)
    if name is None:
        data.pop(url, None)
    else:
        data[url] = name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        temporary.replace(path)  # never half a file for a command reading it meanwhile
    except OSError:
        pass  # a read-only home: the commands then need EXP named each time
