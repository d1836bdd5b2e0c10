"""The YAML form of an experiment: the ``dump_dict`` shape, written for people.

name: rl
processes:
  - name: learner
    cmds: ["python learner.py"]
    binds: [replay-server, parameter-server]
process_groups:
  - name: agents
    processes:
      - {name: agent-0, cmds: ["python agent.py"], connects: [parameter-server]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def dump_yaml(spec: dict[str, Any]) -> str:
    """``spec`` as YAML, keys in the order written."""
    import yaml

    return str(yaml.safe_dump(spec, sort_keys=False, default_flow_style=False))


def load_yaml(path: str | Path) -> dict[str, Any]:
    """The experiment a YAML (or JSON) file holds; raises ``ValueError`` saying why not.

    Read as a configuration file or a deployment spec is
    (:func:`symphony.config.load_yaml`): a duplicate key, an alias that expands past
    bounds, nesting past 32 levels and a text past 2 MiB are refused, in one line."""
    from symphony.config import load_yaml as load_strictly
    from symphony.config import read_yaml_text

    try:
        data = load_strictly(read_yaml_text(path))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an experiment file holds a mapping (name, processes...)")
    return data
