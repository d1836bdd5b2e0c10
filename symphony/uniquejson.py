"""JSON whose objects give each key once: the reader for what a person or a client sends.

``json.loads('{"name": "a", "name": "b"}')`` keeps the last value and says nothing. The
JSON standard leaves a repeated name's meaning open, so another reader (a proxy, a
reviewer, a log) may take the first: the two would act on different documents. Spec
files in YAML refuse a duplicate key (:mod:`symphony.config._yaml`); the API's bodies and
JSON spec files refuse it the same way, with :func:`loads`:

>>> loads('{"a": 1, "b": [1, {"c": 2}]}')
{'a': 1, 'b': [1, {'c': 2}]}
>>> try:
...     loads('{"a": {"b": 1, "b": 2}}')
... except DuplicateKey as error:
...     print(error)
duplicate key 'b'

It costs a little: the C scanner hands each object's pairs to a hook instead of
building the dict itself, and the hook builds it (3 us more for a create's body of
450 bytes, against the ~1 ms of CPU a create costs; docs/benchmarks.md, "A key given
twice").
"""

from __future__ import annotations

import json
from typing import Any

from .errors import SymphonyError

__all__ = ["MAX_DEPTH", "DuplicateKey", "deeper_than", "loads"]

#: The deepest nesting of arrays and objects the API takes in a body, and so in a spec
#: file (a spec is sent as one): a spec's deepest value is a few levels down
#: (``config.env.NAME``), and a thousand nested lists would cost every reader's stack.
MAX_DEPTH = 32


class DuplicateKey(SymphonyError, ValueError):
    """An object gives ``key`` twice (``key`` cut to 100 characters, for messages)."""

    def __init__(self, key: str) -> None:
        self.key = key[:100]
        super().__init__(f"duplicate key {self.key!r}")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):  # only then look for which key
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return data


# Made once: ``json.loads(text, object_pairs_hook=...)`` would build a decoder per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique)


def loads(text: str) -> Any:
    """``json.loads(text)`` that raises :class:`DuplicateKey` (a ``ValueError``) for an
    object giving a key twice, at any depth."""
    if text.startswith("\ufeff"):  # what json.loads says, rather than "Expecting value"
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests arrays/objects more than ``limit`` deep (a scalar: 0),
    found without recursion and without walking further once it is.

    >>> deeper_than([[1]], 2), deeper_than({"a": [[1]]}, 2)
    (False, True)
    """
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False
