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

from . import _values as values
from ._errors import ConfigError
from ._load import load_config, parse_config, read_config_file
from ._model import ConductorConfig, Config, LoggingConfig, NodeConfig
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
