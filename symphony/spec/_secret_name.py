"""What a secret's name looks like, apart from the spec's models: cheap to import, so
``symphony secret set`` checks the name before it asks for the value.

    >>> check_secret_name("hf-token")
    'hf-token'
"""

from __future__ import annotations

import re

#: What a secret's name looks like (JSON schema form; the check uses ``fullmatch``).
SECRET_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_SECRET_NAME_RE = re.compile(SECRET_NAME_PATTERN[1:-1])


def check_secret_name(value: str) -> str:
    """``value`` if it is a valid secret name, else ValueError saying the rule."""
    if not _SECRET_NAME_RE.fullmatch(value):
        raise ValueError(
            f"secret name {value[:80]!r} must start with a letter or digit and use only "
            "letters, digits, '_', '.', '-' (at most 63 characters)"
        )
    return value
