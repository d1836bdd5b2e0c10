"""A service sheds what starting it loaded: ``symphony node`` and ``symphony conductor``
validate their configuration, then re-execute themselves with the result.

Parsing the command line loads argparse and every command's module, and validating a
configuration loads pydantic and builds the configuration's models: memory that a
process keeps resident for the rest of its life (a process does not give imported
modules back). A node agent never needs any of it again once it has its
:class:`~symphony.config.Config` (about 8 MiB: pydantic is not loaded at all); a
Conductor uses pydantic for its API, but not the parser, the other commands or the
configuration's models (about 2 MiB). So both validate as always (every mistake is
reported the same way, before anything starts), then replace their own image
(``exec``: same pid, command line, environment and descriptors) with a fresh
interpreter that is handed the validated ``Config`` through an inherited, unlinked
file and goes straight to running::

    symphony node ...      parse flags, read the file, validate (pydantic)
      └─ exec (same pid)   take_over() -> Config, run the node (or the Conductor)

Only a process that is the ``symphony`` command itself does this (``main()`` reading
its own command line, with no other thread): a program that calls ``main([...])`` is
never replaced. Where ``exec`` fails, the service simply runs in the first image.
"""

from __future__ import annotations

import marshal
import os
import sys
import threading
from pathlib import Path, PurePath
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any

from ._errors import CLIError

if TYPE_CHECKING:
    from symphony.config import Config

# Every ``symphony`` command imports this module (its parser does), only the services
# use it: tempfile and the config package are imported where needed.

__all__ = ["ADDED_ENV", "HANDOFF_ENV", "LEAN_CODE_ENV", "hand_over", "take_over"]

#: The descriptor number of the file holding the validated configuration.
HANDOFF_ENV = "SYMPHONY_VALIDATED_CONFIG_FD"
#: The variables set only for the new interpreter (``NAME NAME ...``): its next image
#: removes them with :data:`HANDOFF_ENV`, so no process it starts inherits them.
ADDED_ENV = "SYMPHONY_HANDOFF_ADDED"
#: With ``lean_code``: code objects without the column of every instruction. A
#: service's imports are most of its memory, and their code objects the largest part
#: (column tables: about 0.5 MiB of a Conductor, 0.25 of a node agent); a traceback
#: then shows each line without the ``^^^^`` under the failing expression, nothing else
#: changes (``.pyc`` files keep them).
LEAN_CODE_ENV = {"PYTHONNODEBUGRANGES": "1"}


# The configuration travels as marshal data (built into the interpreter, where pickle
# is about 0.4 MiB the agent would keep for good), tagged so that reading it builds
# only what a Config is made of: our configuration dataclasses, paths, read-only
# mappings, tuples and plain values. marshal runs no code while it reads.
_Encoded = tuple[str, Any]


def _classes() -> dict[str, Any]:
    from symphony.config import ConductorConfig, Config, LoggingConfig, NodeConfig

    return {cls.__name__: cls for cls in (Config, LoggingConfig, ConductorConfig, NodeConfig)}


def _encode(value: Any, classes: dict[str, Any]) -> _Encoded:
    cls = classes.get(type(value).__name__)
    if cls is not None and type(value) is cls:
        names = cls.__dataclass_fields__  # in the order of the class's fields
        items = tuple((name, _encode(getattr(value, name), classes)) for name in names)
        return ("dataclass", (type(value).__name__, items))
    if isinstance(value, PurePath):
        return ("path", str(value))
    if isinstance(value, MappingProxyType):
        return ("mapping", tuple((k, _encode(v, classes)) for k, v in value.items()))
    if isinstance(value, tuple):
        return ("tuple", tuple(_encode(v, classes) for v in value))
    if value is None or isinstance(value, bool | int | float | str):
        return ("value", value)
    raise TypeError(f"a configuration does not hold {type(value).__name__}")


def _decode(encoded: Any, classes: dict[str, Any]) -> Any:
    kind, data = encoded
    if kind == "dataclass":
        name, items = data
        cls = classes[name]
        if [key for key, _ in items] != list(cls.__dataclass_fields__):
            raise ValueError(f"not the fields of {name}")
        obj: Any = object.__new__(cls)
        for key, value in items:
            object.__setattr__(obj, key, _decode(value, classes))  # frozen: as pickle does
        return obj
    if kind == "path":
        return Path(data)
    if kind == "mapping":
        return MappingProxyType({str(k): _decode(v, classes) for k, v in data})
    if kind == "tuple":
        return tuple(_decode(v, classes) for v in data)
    if kind == "value" and (data is None or isinstance(data, bool | int | float | str)):
        return data
    raise ValueError(f"unknown entry {kind!r}")


def _dump(config: Config, file: IO[bytes]) -> None:
    file.write(marshal.dumps(_encode(config, _classes())))


def hand_over(config: Config, *, lean_code: bool = False) -> None:
    """Re-execute this process with ``config`` already validated; return (and let the
    caller run the service here) only where that is not possible. ``lean_code``: the
    new interpreter keeps no column tables in its code objects (:data:`LEAN_CODE_ENV`)
    unless the environment already says how it wants them."""
    if threading.active_count() != 1 or not sys.orig_argv or not sys.executable:
        return
    import tempfile

    try:
        # Unlinked: the file is gone with its last descriptor, which the new image
        # closes once it has read it.
        with tempfile.TemporaryFile() as file:
            _dump(config, file)
            file.flush()
            file.seek(0)
            os.set_inheritable(file.fileno(), True)
            env = {**os.environ, HANDOFF_ENV: str(file.fileno())}
            added = {k: v for k, v in LEAN_CODE_ENV.items() if k not in env} if lean_code else {}
            if added:
                env.update(added, **{ADDED_ENV: " ".join(added)})
            sys.stdout.flush()
            sys.stderr.flush()
            os.execve(sys.executable, sys.orig_argv, env)
    except (OSError, TypeError, ValueError):
        return  # not worth failing a start over: run in this image instead


def take_over() -> Config | None:
    """The configuration an earlier image of this process validated, if it handed one
    over (the variables are removed at once: no job or monitor inherits them)."""
    for name in os.environ.pop(ADDED_ENV, "").split():
        if name in LEAN_CODE_ENV:  # never anything else the variable might name
            os.environ.pop(name, None)
    raw = os.environ.pop(HANDOFF_ENV, None)
    if raw is None:
        return None
    import stat

    from symphony.config import Config

    try:
        fd = int(raw)
        info = os.fstat(fd)
    except (ValueError, OSError):
        raise CLIError(f"{HANDOFF_ENV}={raw!r} names no open file") from None
    # Only what hand_over() makes: an unlinked regular file, never a pipe or a named file.
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 0:
        os.close(fd)
        raise CLIError(f"{HANDOFF_ENV}={raw!r} is not a configuration handed over")
    with os.fdopen(fd, "rb") as file:
        try:
            config = _decode(marshal.load(file), _classes())
        except (EOFError, KeyError, TypeError, ValueError):
            config = None
    if not isinstance(config, Config):
        raise CLIError(f"{HANDOFF_ENV}={raw!r} holds no configuration")
    return config
