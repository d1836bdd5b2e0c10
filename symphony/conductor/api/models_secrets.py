"""The bodies and answers of ``/secrets`` (see :mod:`.models`): an answer names a
secret and its dates, never its value."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from symphony.spec import MAX_SECRET_BYTES, SecretName

from .models_base import _Answer, _Request

__all__ = ["SecretDeleted", "SecretInfo", "SecretList", "SecretRequest", "SecretSaved"]


def _secret_value(value: str) -> str:
    # An environment value: UTF-8 text without NUL, not empty, bounded.
    if not value:
        raise ValueError("must not be empty")
    if "\0" in value:
        raise ValueError("must not contain NUL characters (it becomes an environment value)")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text (a lone surrogate)") from None
    if size > MAX_SECRET_BYTES:
        raise ValueError(f"must be at most {MAX_SECRET_BYTES} bytes of UTF-8, got {size}")
    return value


class SecretRequest(_Request):
    """``POST /secrets``: set ``name`` to ``value`` (replacing a value set before)."""

    name: SecretName
    value: Annotated[
        str,
        AfterValidator(_secret_value),
        Field(description="The value; never shown again by any route", min_length=1),
    ]


class SecretInfo(_Answer):
    """A secret as every answer shows it: name and dates, never the value."""

    name: str
    created_at: float
    updated_at: float


class SecretSaved(SecretInfo):
    created: bool = Field(description="True: a new secret; false: a new value for one")


class SecretList(_Answer):
    secrets: list[SecretInfo]


class SecretDeleted(_Answer):
    deleted: str
