"""Labels: a deployment's own ``key: value`` tags, for people and for filtering lists.

As Kubernetes labels (the rules people already know): a key is a name of up to 63
characters, optionally behind a DNS prefix and ``/`` (``team``, ``example.com/tier``);
a value is up to 63 characters, possibly empty. Names and values begin and end with a
letter or digit and hold ``-``, ``_`` and ``.`` between. Labels never reach a node and
changing them replaces no process: ``GET /deployments?label=team=ml`` selects by them.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, WithJsonSchema

MAX_LABELS = 64
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"
KEY_PATTERN = f"^({_PREFIX}/)?{_NAME}$"
VALUE_PATTERN = f"^({_NAME})?$"
_KEY_RE = re.compile(f"({_PREFIX}/)?{_NAME}")
_VALUE_RE = re.compile(f"({_NAME})?")


def check_label_key(value: str) -> str:
    """A label key, or ValueError in words a person can act on."""
    if not _KEY_RE.fullmatch(value):
        raise ValueError(
            f"label key {value!r} must be a name of 1-63 letters, digits, '-', '_', '.' "
            "(beginning and ending with a letter or digit), optionally after a DNS prefix "
            "and '/' (e.g. 'team' or 'example.com/tier')"
        )
    return value


def check_label_value(value: str) -> str:
    """A label value, or ValueError."""
    if not _VALUE_RE.fullmatch(value):
        raise ValueError(
            f"label value {value!r} must be empty or 1-63 letters, digits, '-', '_', '.' "
            "beginning and ending with a letter or digit"
        )
    return value


LabelKey = Annotated[
    str,
    AfterValidator(check_label_key),
    WithJsonSchema({"type": "string", "pattern": KEY_PATTERN}),
]
LabelValue = Annotated[
    str,
    AfterValidator(check_label_value),
    WithJsonSchema({"type": "string", "pattern": VALUE_PATTERN}),
]
Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=MAX_LABELS)]
