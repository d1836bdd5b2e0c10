"""Query parameters, checked: a bad value is a 400 that names it, never a 500."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from quart import request

from .errors import ApiError

_Choice = TypeVar("_Choice", bound=str)

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def int_param(name: str, default: int | None, *, low: int, high: int) -> int | None:
    """``?name=<int>`` within ``[low, high]``, or ``default`` when absent."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ApiError(400, "bad parameter", f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(
            400, "bad parameter", f"{name} must be between {low} and {high}, got {value}"
        )
    return value


def bool_param(name: str, default: bool = False) -> bool:
    """``?name=true|false|1|0|yes|no`` (a bare ``?follow`` means true)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE or value == "":  # a bare ``?follow`` asks for it
        return True
    if value in _FALSE:
        return False
    raise ApiError(400, "bad parameter", f"{name} must be true or false, got {raw!r}")


def choice_param(name: str, default: _Choice, choices: Iterable[_Choice]) -> _Choice:
    """``?name=`` one of ``choices`` (typed as they are: literals stay literals)."""
    allowed = tuple(choices)
    raw = request.args.get(name)
    if raw is None:
        return default
    for choice in allowed:
        if raw == choice:
            return choice
    raise ApiError(400, "bad parameter", f"{name} must be one of {list(allowed)}, got {raw!r}")


def str_param(name: str, *, max_length: int = 253) -> str | None:
    """``?name=<text>``, bounded."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > max_length:
        raise ApiError(400, "bad parameter", f"{name} must be 1 to {max_length} characters")
    return raw
