"""Reading a spec file (``symphony deploy -f``): YAML or JSON, one mapping, JSON's values only.

The spec goes to the Conductor as JSON, so what the file holds must be what JSON can say,
and every way it cannot is refused here, naming the file and the field, before anything
is sent::

    job.yaml: invalid spec: replicas: 2020-01-01 is a date; a spec holds text, numbers,
        true/false, null, lists and mappings (quote it to make it text)
    job.yaml: invalid spec: line 4, column 1: duplicate key 'replicas'
    job.yaml: invalid spec: too large once its aliases (*name) are expanded: ...

YAML is read as a configuration file is (:func:`symphony.config.load_yaml`): duplicate
keys refused, aliases bounded in what they expand to, none inside its own anchor, lists
and mappings nested at most 32 deep. Either kind is at most 2 MiB of text
(:data:`symphony.config.MAX_CHARS`), JSON nested too deep for Python's decoder is
refused in one line as well, and so is JSON giving a key twice in one object
(:mod:`symphony.uniquejson`).
"""

from __future__ import annotations

import sys
from typing import Any

from symphony import uniquejson

from ._errors import CLIError

#: What a value may be: JSON's kinds (a YAML date or a ``!!binary`` or ``!!set`` is not).
JSON_VALUES = (str, int, float, bool, type(None), list, dict)
#: What a key may be: JSON's, and the scalars ``json.dumps`` turns into text.
JSON_KEYS = (str, int, float, bool, type(None))


def load_spec_text(text: str, source: str) -> dict[str, Any]:
    """Parse a spec document: JSON if it looks like JSON, else YAML (one mapping)."""
    from symphony.config import MAX_CHARS

    if len(text) > MAX_CHARS:  # YAML's loader says so too; JSON's would not
        raise CLIError(f"{source}: invalid spec: too large: over {MAX_CHARS:,} characters")
    if text.lstrip().startswith("{"):
        # As a YAML file's depth is refused (and the API would refuse the body).
        too_deep = f"{source}: invalid spec: nested more than {uniquejson.MAX_DEPTH} levels deep"
        try:
            data = uniquejson.loads(text)
        except uniquejson.DuplicateKey as exc:  # as a YAML file's is said
            raise CLIError(f"{source}: invalid spec: {exc}") from None
        except ValueError as exc:  # json.JSONDecodeError
            raise CLIError(f"{source}: invalid spec: not valid JSON: {exc}") from None
        except RecursionError:  # the decoder guards its recursion: nothing crashed
            raise CLIError(too_deep) from None
        if uniquejson.deeper_than(data):
            raise CLIError(too_deep)
    else:
        from symphony.config import load_yaml

        try:
            data = load_yaml(text)
        except ValueError as exc:
            raise CLIError(f"{source}: invalid spec: {exc}") from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise CLIError(f"{source}: a spec is a mapping (name, config, ...), but this is {kind}")
    if (problem := not_json(data)) is not None:
        raise CLIError(f"{source}: invalid spec: {problem}")
    return data


def not_json(data: dict[str, Any]) -> str | None:
    """What in ``data`` JSON cannot say, by its path (``None``: nothing); pure, for tests.

    >>> import datetime
    >>> not_json({"config": {"env": {"DAY": datetime.date(2020, 1, 1)}}}).split(";")[0]
    'config.env.DAY: 2020-01-01 is a date'
    """
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:  # no recursion: a deeply nested file must not exhaust the stack
        path, value = stack.pop()
        if not isinstance(value, JSON_VALUES):
            return (
                f"{path or '(spec)'}: {value} is a {_kind(value)}; a spec holds text, "
                "numbers, true/false, null, lists and mappings (quote it to make it text)"
            )
        if isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, JSON_KEYS):
                    return f"{path or '(spec)'}: the key {key} is a {_kind(key)}, not text"
                stack.append((f"{path}.{key}" if path else str(key), item))
    return None


#: Python's name of a YAML-only kind -> what a person calls it.
_KINDS = {"bytes": "binary value (!!binary)", "set": "set (!!set)"}


def _kind(value: Any) -> str:
    """``date``, ``datetime``, ``binary value (!!binary)``, ``set (!!set)``."""
    name = type(value).__name__
    return _KINDS.get(name, name)


def read_spec_file(path: str) -> dict[str, Any]:
    """The spec in ``path`` (``-`` for standard input)."""
    from symphony.config import MAX_CHARS, read_yaml_text

    if path == "-":  # bounded as a file is: one past the limit says it is too large
        return load_spec_text(sys.stdin.read(MAX_CHARS + 1), "<stdin>")
    try:
        text = read_yaml_text(path)
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not a text file (UTF-8 expected)") from None
    except OSError as exc:
        raise CLIError(f"{path}: {exc.strerror or exc}") from None
    return load_spec_text(text, path)
