"""Configuration of a Conductor or a Node: YAML files (seed-compatible) and dataclasses.

A file says which role to run and how::

    mode: node
    node:
      node_id: "node-1"
      conductor_addr: "localhost:50051"
      capacities_total: {Analytic1: 10}

and :func:`load_config` turns it into frozen dataclasses, or raises one
:class:`ConfigError` naming the file and every bad key::

    config = load_config("node.yaml")              # Config(mode='node', node=NodeConfig(...))
    config.node.capacities_total["Analytic1"]      # 10

Code can skip the file: ``ConductorConfig(listen_port=0, state_dir=tmp)`` validates
with the same rules. Every key is documented in ``docs/configuration.md``.

:mod:`values <symphony.config._values>` holds the checks of single values (``values.host_port``,
``values.node_id``, ...); the command line runs the same checks on its flags.

Errors (one tree)::

    ValueError
    └── ConfigError   .problems = [(key_path, message), ...], .source = file or None
"""

from typing import TYPE_CHECKING, Any

from symphony import lazy as _lazy

from . import _values as values
from ._errors import ConfigError
from ._model import ConductorConfig, Config, LoggingConfig, NodeConfig

# Reading and parsing files is imported at first use: a service's second image (see
# symphony.cli.handoff) receives its configuration validated already and needs only
# the dataclasses. Both modules are our own and import nothing that may be missing
# (PyYAML is imported inside load_yaml), so no import error moves to a later moment.
_LAZY = {
    "load_config": "_load",
    "parse_config": "_load",
    "read_config_file": "_load",
    "load_yaml": "_yaml",
    "read_yaml_text": "_yaml",
    "MAX_CHARS": "_yaml",
}

if TYPE_CHECKING:
    from ._load import load_config, parse_config, read_config_file
    from ._yaml import MAX_CHARS, load_yaml, read_yaml_text

__all__ = [
    "MAX_CHARS",
    "ConductorConfig",
    "Config",
    "ConfigError",
    "LoggingConfig",
    "NodeConfig",
    "load_config",
    "load_yaml",
    "parse_config",
    "read_config_file",
    "read_yaml_text",
    "values",
]


def __getattr__(name: str) -> Any:
    """``load_config`` and the other names of ``_LAZY``, from their module at first use."""
    return _lazy.attribute(__name__, _LAZY, globals(), name)


def __dir__() -> list[str]:
    """Every name, loaded or not (``help()`` and completion list the lazy ones too)."""
    return sorted({*globals(), *_LAZY})
