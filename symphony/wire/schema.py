"""Turning untrusted decoded msgpack values into typed message dataclasses.

A message class is described only by its type hints; this module compiles each
hint once into a small *converter* ``(value, path) -> value`` that checks the
value and returns it in the dataclass's own representation (lists become
tuples, ints become floats where a float is declared). Every failure is one
:class:`~symphony.wire.errors.ProtocolError` whose message names the field path
and the rule, e.g. ``"Hello.groups[2]: expected str, got int"``.

Supported hints, which are all the protocol needs:

- ``str``, ``bytes``, ``bool``, ``int`` (``bool`` is *not* an int here),
  ``float`` (accepts an int; NaN and infinities are refused), ``Any``;
- ``X | None`` for optional fields, ``Literal[...]`` and ``str`` enums (the value
  becomes the enum member) for enumerations;
- ``tuple[X, ...]`` and ``dict[str, X]``;
- another message dataclass (encoded as a nested map without ``"t"``);
- ``Annotated[X, Min(n)]``, ``Max(n)``, ``MinLen(n)``, ``MaxLen(n)`` for simple
  constraints, ``Pattern(regex, rule)`` for strings (a full match: ``$`` would also
  accept a final newline) and ``JsonData()`` for free-form maps that end up in API
  answers (JSON types only, finite numbers, bounded depth and string length).

A rule between fields of one message (a ``tcp`` health check needs a ``port``) is the
class's ``__post_init__`` raising ``ValueError``; :func:`build` reports it as a
:class:`~symphony.wire.errors.ProtocolError` at the message's path.

Unknown keys in a map are ignored on purpose: a peer of the same protocol
version may add an optional field without breaking older readers (the protobuf
rule). Anything that changes the meaning of existing fields needs a new
protocol version instead.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError

__all__ = [
    "Converter",
    "JsonData",
    "Max",
    "MaxLen",
    "Min",
    "MinLen",
    "Pattern",
    "build",
    "compile_hint",
]

Converter = Callable[[Any, str], Any]
_T = typing.TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Min:
    """Constraint for ``Annotated[int, Min(0)]``: the number must be >= ``value``."""

    value: int


@dataclass(frozen=True, slots=True)
class Max:
    """Constraint for ``Annotated[int, Max(10**12)]``: the number must be <= ``value``."""

    value: int


@dataclass(frozen=True, slots=True)
class Pattern:
    """Constraint for ``Annotated[str, Pattern(r"[a-z]+", "lowercase letters")]``: the
    whole string must match ``regex``; ``rule`` says in words what is allowed."""

    regex: str
    rule: str

    def matches(self, value: str) -> bool:
        """Whether all of ``value`` matches (compiled once per pattern)."""
        compiled = _COMPILED.get(self.regex)
        if compiled is None:
            compiled = _COMPILED[self.regex] = re.compile(self.regex)
        return compiled.fullmatch(value) is not None


_COMPILED: dict[str, re.Pattern[str]] = {}


@dataclass(frozen=True, slots=True)
class JsonData:
    """Constraint for ``Annotated[dict[str, Any], JsonData()]``: a value that is plain
    JSON (maps with string keys, lists, str, int, finite float, bool, None) at most
    ``max_depth`` containers deep, with strings of at most ``max_str`` characters and
    at most ``max_items`` values in all.

    Such maps (a node's resources and usage) are shown as they are by the HTTP API;
    bytes, NaN or a thousand nested lists there would break every listing."""

    max_depth: int = 8
    max_str: int = 4096
    max_items: int = 16_384


@dataclass(frozen=True, slots=True)
class MinLen:
    """Constraint for ``Annotated[str, MinLen(1)]``: at least ``value`` items/characters."""

    value: int


@dataclass(frozen=True, slots=True)
class MaxLen:
    """Constraint for ``Annotated[str, MaxLen(255)]``: at most ``value`` items/characters."""

    value: int


def _describe(value: object) -> str:
    return "None" if value is None else type(value).__name__


def _fail(path: str, rule: str) -> typing.NoReturn:
    raise ProtocolError(f"{path}: {rule}")


def _exact(kind: type) -> Converter:
    def convert(value: Any, path: str) -> Any:
        # type() rather than isinstance(): True must not pass for an int field.
        if type(value) is not kind:
            _fail(path, f"expected {kind.__name__}, got {_describe(value)}")
        return value

    return convert


def _float(value: Any, path: str) -> float:
    if type(value) is int:
        value = float(value)
    elif type(value) is not float:
        _fail(path, f"expected float, got {_describe(value)}")
    number: float = value
    if not math.isfinite(number):
        _fail(path, "must be a finite number")
    return number


def _any(value: Any, path: str) -> Any:
    return value


def _optional(inner: Converter) -> Converter:
    def convert(value: Any, path: str) -> Any:
        return None if value is None else inner(value, path)

    return convert


def _literal(choices: tuple[Any, ...]) -> Converter:
    def convert(value: Any, path: str) -> Any:
        if not any(type(value) is type(c) and value == c for c in choices):
            _fail(path, f"must be one of {', '.join(map(repr, choices))}; got {value!r:.40}")
        return value

    return convert


def _str_enum(cls: type[enum.StrEnum]) -> Converter:
    values = {member.value: member for member in cls}

    def convert(value: Any, path: str) -> Any:
        member = values.get(value) if type(value) is str else None
        if member is None:
            _fail(path, f"must be one of {', '.join(map(repr, values))}; got {value!r:.40}")
        return member

    return convert


def _tuple(item: Converter) -> Converter:
    def convert(value: Any, path: str) -> tuple[Any, ...]:
        if type(value) not in (list, tuple):
            _fail(path, f"expected a list, got {_describe(value)}")
        return tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))

    return convert


def _dict(key: Converter, val: Converter) -> Converter:
    def convert(value: Any, path: str) -> dict[Any, Any]:
        if type(value) is not dict:
            _fail(path, f"expected a map, got {_describe(value)}")
        out = {}
        for k, v in value.items():
            k = key(k, f"{path} key")
            out[k] = val(v, f"{path}[{k!r}]")
        return out

    return convert


def _constrained(inner: Converter, rules: list[object]) -> Converter:
    # Each rule becomes its check once, here: asking every value which kind of rule
    # each is took half the time of decoding a node's status updates.
    checks = [check for rule in rules if (check := _rule_check(rule)) is not None]

    def convert(value: Any, path: str) -> Any:
        value = inner(value, path)
        for check in checks:
            check(value, path)
        return value

    return convert


def _rule_check(rule: object) -> Callable[[Any, str], None] | None:
    """The check of one ``Annotated`` rule (None: not a rule of this module)."""
    if isinstance(rule, Min):
        low = rule.value

        def at_least(value: Any, path: str) -> None:
            if value < low:
                _fail(path, f"must be >= {low}, got {value}")

        return at_least
    if isinstance(rule, Max):
        high = rule.value

        def at_most(value: Any, path: str) -> None:
            if value > high:
                _fail(path, f"must be <= {high}, got {value}")

        return at_most
    if isinstance(rule, Pattern):
        pattern = rule

        def matches(value: Any, path: str) -> None:
            if not pattern.matches(value):
                _fail(path, f"must be {pattern.rule}, got {value!r:.80}")

        return matches
    if isinstance(rule, JsonData):
        json_rule = rule

        def plain_json(value: Any, path: str) -> None:
            if not _json_ok(value, json_rule):
                # The fast check only says no; this walk finds the path to report.
                _check_json(value, path, json_rule, json_rule.max_depth, [json_rule.max_items])

        return plain_json
    if isinstance(rule, MinLen):
        shortest = rule.value

        def long_enough(value: Any, path: str) -> None:
            if len(value) < shortest:
                _fail(
                    path,
                    "must not be empty"
                    if shortest == 1
                    else f"must have at least {shortest} items/characters",
                )

        return long_enough
    if isinstance(rule, MaxLen):
        longest = rule.value

        def short_enough(value: Any, path: str) -> None:
            if len(value) > longest:
                _fail(path, f"must have at most {longest} items/characters, got {len(value)}")

        return short_enough
    return None


def _json_ok(value: Any, rule: JsonData) -> bool:
    """Whether ``value`` is plain JSON within ``rule``'s bounds. It runs for every
    heartbeat, so it builds no paths and checks scalars inline; :func:`_check_json`
    explains a failure."""
    return _walk(value, rule.max_depth, rule.max_str, rule.max_items) >= 0


def _walk(item: Any, depth: int, max_str: int, left: int) -> int:
    """The item budget left after ``item`` (negative: not plain JSON within bounds).
    Recursion is bounded by ``depth``."""
    kind = type(item)
    if kind is dict:
        if depth <= 0:
            return -1
        for key in item:
            if type(key) is not str or len(key) > max_str:
                return -1
        children: Any = item.values()
    elif kind is list:
        if depth <= 0:
            return -1
        children = item
    else:
        return left - 1 if _scalar_ok(item, kind, max_str) else -1
    left -= 1
    for child in children:
        kind = type(child)
        if kind is dict or kind is list:
            left = _walk(child, depth - 1, max_str, left)
        elif _scalar_ok(child, kind, max_str):
            left -= 1
        else:
            return -1
        if left < 0:
            return -1
    return left


def _scalar_ok(item: Any, kind: type, max_str: int) -> bool:
    if kind is float:
        return math.isfinite(item)
    if kind is str:
        return len(item) <= max_str
    return kind is int or kind is bool or item is None


def _check_json(value: Any, path: str, rule: JsonData, depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        _fail(path, f"holds more than {rule.max_items} values")
    kind = type(value)
    if kind in (dict, list):
        if depth <= 0:
            _fail(path, f"nested deeper than {rule.max_depth} levels")
        if kind is dict:
            for key, item in value.items():
                if type(key) is not str:
                    _fail(path, f"keys must be strings, got {_describe(key)}")
                if len(key) > rule.max_str:
                    _fail(f"{path} key", f"a string of at most {rule.max_str} characters")
                _check_json(item, f"{path}[{key!r:.40}]", rule, depth - 1, budget)
        else:
            for i, item in enumerate(value):
                _check_json(item, f"{path}[{i}]", rule, depth - 1, budget)
    elif kind is str:
        if len(value) > rule.max_str:
            _fail(path, f"a string of at most {rule.max_str} characters, got {len(value)}")
    elif kind is float:
        if not math.isfinite(value):
            _fail(path, "must be a finite number")
    elif kind not in (int, bool, type(None)):
        _fail(path, f"expected JSON data (map, list, text, number, bool), got {kind.__name__}")


def compile_hint(hint: Any) -> Converter:
    """Return a converter that validates a decoded value against ``hint``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return _any
    if hint is float:
        return _float
    if hint in (str, bytes, bool, int):
        return _exact(hint)
    if origin is typing.Annotated:
        return _constrained(compile_hint(args[0]), list(args[1:]))
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1 or len(args) != 2:
            raise TypeError(f"only 'X | None' unions are supported, not {hint}")
        return _optional(compile_hint(rest[0]))
    if origin is typing.Literal:
        return _literal(args)
    if isinstance(hint, type) and issubclass(hint, enum.StrEnum):
        return _str_enum(hint)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple(compile_hint(args[0]))
    if origin is dict:
        return _dict(compile_hint(args[0]), compile_hint(args[1]))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        cls: type = hint
        return lambda value, path: build(cls, value, path)
    raise TypeError(f"unsupported type hint in a message: {hint!r}")


# Per class: [(field name, converter, required)], compiled on first use.
_PLANS: dict[type, list[tuple[str, Converter, bool]]] = {}


def _plan(cls: type) -> list[tuple[str, Converter, bool]]:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        plan = []
        for f in dataclasses.fields(cls):
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            plan.append((f.name, compile_hint(hints[f.name]), required))
        _PLANS[cls] = plan
    return plan


def build(cls: type[_T], data: Any, path: str) -> _T:
    """Validate the map ``data`` and construct ``cls`` from it (``path`` prefixes errors)."""
    if type(data) is not dict:
        _fail(path, f"expected a map, got {_describe(data)}")
    kwargs = {}
    for name, convert, required in _plan(cls):
        if name in data:
            kwargs[name] = convert(data[name], f"{path}.{name}")
        elif required:
            _fail(path, f"missing required field {name!r}")
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a rule between fields, checked in __post_init__
        _fail(path, str(exc))
