"""Validation errors in our own words: one translator for specs, config files and bodies.

pydantic reports ``Input should be greater than or equal to 0``; a person editing a
file wants ``replicas: must be at least 0 (got -1)``, and for a typo the field they
meant: ``unknown field 'replica'; did you mean 'replicas'?``. :func:`translate_errors` turns
pydantic's error dicts into ``{"path", "message"}`` dicts in that style, whatever
model produced them (a deployment spec, a request body, a configuration file).

>>> translate_errors([{"type": "greater_than_equal", "loc": ("replicas",), "input": -1,
...             "ctx": {"ge": 0}, "msg": "Input should be greater than or equal to 0"}])
[{'path': 'replicas', 'message': 'must be at least 0 (got -1)'}]

This module imports nothing heavy: the CLI uses :func:`did_you_mean` for its own
checks without paying for pydantic.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._errors import NOT_SUPPORTED, format_path

__all__ = ["did_you_mean", "show", "translate_errors"]


def did_you_mean(word: object, known: Iterable[str]) -> str:
    """``"; did you mean 'replicas'?"`` for the closest of ``known``, else ``""``.

    A close spelling wins; else a name the word begins (``ttl`` -> ``ttl_seconds``).
    """
    import difflib  # only for a mistake: a node agent that imports the spec never loads it

    text, names = str(word), list(known)
    close = difflib.get_close_matches(text, names, n=1, cutoff=0.6)
    if not close and len(text) >= 3:
        close = [n for n in names if n.startswith(text)][:1]
    return f"; did you mean {close[0]!r}?" if close else ""


def show(value: object, limit: int = 60) -> str:
    """A value as the person wrote it (JSON spelling: ``true``, ``null``, ``"2"``), cut
    to ``limit`` characters and safe to print (non-ASCII escaped)."""
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError):
        text = ascii(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: object) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return names.get(type(value), type(value).__name__)


def _got(err: Mapping[str, Any]) -> str:
    return f" (got {show(err.get('input'))})" if "input" in err else ""


def _typed(what: str) -> Callable[[Mapping[str, Any]], str]:
    def message(err: Mapping[str, Any]) -> str:
        value = err.get("input")
        if isinstance(value, bool) and what != "true or false":
            return f"must be {what}, not a boolean (got {show(value)})"
        if value is None:  # its kind and its spelling are one word: say it once
            return f"must be {what} (got null)"
        return f"must be {what} (got {_kind(value)} {show(value)})"

    return message


def _ctx(name: str) -> Callable[[Mapping[str, Any]], Any]:
    def value(err: Mapping[str, Any]) -> Any:
        found = err.get("ctx", {}).get(name)
        # A bound of a float field reads 0.0; people write 0.
        return int(found) if isinstance(found, float) and found.is_integer() else found

    return value


_SIMPLE: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda err: "is required",
    "greater_than_equal": lambda err: f"must be at least {_ctx('ge')(err)}{_got(err)}",
    "greater_than": lambda err: f"must be more than {_ctx('gt')(err)}{_got(err)}",
    "less_than_equal": lambda err: f"must be at most {_ctx('le')(err)}{_got(err)}",
    "less_than": lambda err: f"must be less than {_ctx('lt')(err)}{_got(err)}",
    "finite_number": lambda err: f"must be a finite number{_got(err)}",
    "int_type": _typed("an integer"),
    "int_parsing": _typed("an integer"),
    "int_from_float": _typed("a whole number"),
    "float_type": _typed("a number"),
    "float_parsing": _typed("a number"),
    "string_type": _typed("a string"),
    # A key or value that is not valid Unicode (a lone surrogate): never echoed.
    "string_unicode": lambda err: "is not valid Unicode text",
    "bool_type": _typed("true or false"),
    "bool_parsing": _typed("true or false"),
    "list_type": _typed("a list"),
    "tuple_type": _typed("a list"),
    "dict_type": lambda err: f"must be an object (mapping), got {_kind(err.get('input'))}",
    "model_type": lambda err: f"must be an object (mapping), got {_kind(err.get('input'))}",
    "model_attributes_type": lambda err: (
        f"must be an object (mapping), got {_kind(err.get('input'))}"
    ),
    "string_too_short": lambda err: (
        "must not be empty"
        if _ctx("min_length")(err) == 1
        else f"must have at least {_ctx('min_length')(err)} characters{_got(err)}"
    ),
    "string_too_long": lambda err: f"must have at most {_ctx('max_length')(err)} characters",
    "too_short": lambda err: (
        "must not be empty"
        if _ctx("min_length")(err) == 1
        else f"must have at least {_ctx('min_length')(err)} items"
    ),
    "too_long": lambda err: f"must have at most {_ctx('max_length')(err)} items",
    "string_pattern_mismatch": lambda err: f"must match {_ctx('pattern')(err)}{_got(err)}",
    "value_error": lambda err: str(err.get("msg", "invalid value")).removeprefix("Value error, "),
    "assertion_error": lambda err: str(err.get("msg", "")).removeprefix("Assertion failed, "),
}


def translate_errors(
    pydantic_errors: Iterable[Mapping[str, Any]], *, model: type | None = None
) -> list[dict[str, str]]:
    """pydantic's error dicts as our ``{"path", "message"}`` dicts.

    ``model`` (the pydantic model that was validated) lets an unknown field suggest the
    closest known one at the same place.
    """
    out: list[dict[str, str]] = []
    for err in pydantic_errors:
        loc = tuple(err.get("loc", ()))
        kind = str(err.get("type", ""))
        if kind == "extra_forbidden":
            message = _unknown(loc, model)
        elif kind in ("literal_error", "enum"):
            message = _choice(err)
        elif kind in _SIMPLE:
            message = _SIMPLE[kind](err)
        else:  # a rare type: pydantic's own words are better than none
            message = str(err.get("msg", "invalid value"))
        out.append({"path": format_path(loc), "message": message})
    return out


def _unknown(loc: Sequence[Any], model: type | None) -> str:
    key = tuple(str(p) for p in loc)
    if key in NOT_SUPPORTED:
        return NOT_SUPPORTED[key]
    name = loc[-1] if loc else "?"
    known = _fields_at(model, loc[:-1]) if model is not None else []
    return f"unknown field {show(name)[1:-1]!r}{did_you_mean(name, known)}"


def _choice(err: Mapping[str, Any]) -> str:
    expected = str(_ctx("expected")(err) or "")
    options = [o.strip().strip("'\"") for o in expected.replace(" or ", ",").split(",")]
    options = [o for o in options if o]
    value = err.get("input")
    listed = ", ".join(repr(o) for o in options) or expected
    hint = did_you_mean(value, options) if isinstance(value, str) else ""
    return f"must be one of {listed} (got {show(value)}){hint}"


def _fields_at(model: Any, loc: Sequence[Any]) -> list[str]:
    """The field names of the model found at ``loc`` inside ``model`` ([] if none)."""
    current: Any = model
    for part in loc:
        current = _model_of(current)
        fields = getattr(current, "model_fields", None)
        if fields is None or not isinstance(part, str) or part not in fields:
            if isinstance(part, int) or fields is None:
                continue
            return []
        current = fields[part].annotation
    fields = getattr(_model_of(current), "model_fields", None) or {}
    # A field with an alias is written under the alias (a config file's ``json``).
    return [getattr(info, "alias", None) or name for name, info in fields.items()]


def _model_of(hint: Any) -> Any:
    """Unwrap ``X | None``, ``Annotated[X, ...]``, ``list[X]`` and ``dict[str, X]`` down to
    a pydantic model class (or the hint itself when there is none)."""
    for _ in range(8):
        if hasattr(hint, "model_fields"):
            return hint
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if not args:
            return hint
        hint = args[-1] if typing.get_origin(hint) is dict else args[0]
    return hint
