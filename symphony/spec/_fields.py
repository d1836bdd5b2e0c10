"""The field types of a spec, and the rules that check them.

Every string a spec holds is one of a few kinds, each an ``Annotated`` type with its
check: a name (a DNS label), a capacity class, a node group, a service name, an
argument (any text but NUL), a plain value (a variable name, a directory, a host: no
control characters), an environment variable's name or value (text, or a reference to
a secret). The JSON schema states the same rules (the ``*_PATTERN`` strings), so a
client that follows the schema is never refused.

A spec read back from the store was accepted under the rules of its day: the checks
added since are waived for it (:func:`_stored`), so an old deployment stays readable.

:class:`_Strict` is the base of every model of the spec: strict types, unknown fields
refused, frozen values.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)

from ._secrets import SecretRef

# DNS label (RFC 1123), like Kubernetes object names: usable in URLs, file names, metrics.
# Every pattern is used with fullmatch: ``$`` would also match before a final newline.
_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Capacity classes and node groups appear in YAML keys, metrics labels and messages.
_CLASS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,62}")
_GROUP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
# C0 controls and DEL: never part of a name, a variable name or a path a person typed.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_REPLICAS = 10_000
MAX_AMOUNT = 10**12
#: The most capacity classes a spec may ask for (and a node's config may offer). Real
#: uses name a handful (cpu, gpu, memory, a licence or two); every class a spec names
#: is compared on every candidate node at each placement and may be listed in its
#: pending reason, so thousands of them made a reason of 40 KB shown by every `ps`.
MAX_CLASSES = 64


def _stored(info: ValidationInfo) -> bool:
    """Whether a spec read back from the store is being validated (see ``parse_stored_spec``).

    Such a spec was accepted under the rules of its day; refusing it now would make the
    whole deployment unreadable (and a listing fail). Rules added since are waived
    there: the spec still fails where it matters, when its instance is sent to a node.
    """
    return bool(info.context and info.context.get("stored"))


def _kept(info: ValidationInfo, name: str) -> bool:
    """Whether field ``name`` is stored as it was accepted, or kept so by a change (see
    ``parse_spec``): the rules added since it was accepted are waived for it."""
    return _stored(info) or bool(info.context and info.context.get(f"kept_{name}"))


def _full(regex: re.Pattern[str], value: str, info: ValidationInfo) -> bool:
    # Stored specs keep the old reading of ``^...$``, which accepted one final "\n".
    return bool(
        regex.fullmatch(value) or (_stored(info) and regex.fullmatch(value.removesuffix("\n")))
    )


def _check_class(value: str, info: ValidationInfo) -> str:
    if not _full(_CLASS_RE, value, info):
        raise ValueError(
            f"capacity class {value!r} must start with a letter and use only letters, "
            "digits, '_', '.', '-' (at most 63 characters)"
        )
    return value


def check_class_count(value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
    """Refuse more than :data:`MAX_CLASSES` capacity classes (a stored spec keeps its
    own, and so does a change that leaves them as they are)."""
    if len(value) > MAX_CLASSES and not _kept(info, "capacity_requests"):
        raise ValueError(f"names {len(value)} capacity classes; at most {MAX_CLASSES} are allowed")
    return value


def _check_group(value: str, info: ValidationInfo) -> str:
    if not _full(_GROUP_RE, value, info):
        raise ValueError(
            f"node group {value!r} must start with a letter or digit and use only letters, "
            "digits, '_', '.', '-' (at most 63 characters)"
        )
    return value


def _check_unicode(value: str) -> str:
    # JSON can carry a lone surrogate ("\\ud800") that Python keeps in a str but that no
    # UTF-8 encoder (msgpack, SQLite, a process's argv) accepts: refuse it here, where
    # the field path is known, instead of failing later far from the request.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"is not valid Unicode text: lone surrogate at position {exc.start}"
        ) from None
    return value


def _check_arg(value: str, info: ValidationInfo) -> str:
    """An argument or an environment value: any text but NUL (tabs, newlines are fine)."""
    if not _stored(info):
        _check_unicode(value)
    if "\0" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _check_plain(value: str, info: ValidationInfo) -> str:
    """A variable name, a directory, a host: valid Unicode without control characters."""
    if _stored(info):
        return value
    _check_unicode(value)
    found = _CONTROL_RE.search(value)
    if found is not None:
        raise ValueError(
            f"must not contain control characters (found {found.group()!r} at position "
            f"{found.start()})"
        )
    return value


def _check_env_name(value: str, info: ValidationInfo) -> str:
    _check_plain(value, info)
    if not value or "=" in value or "\0" in value:
        raise ValueError(f"environment variable {value!r}: a name is not empty and has no '='")
    return value


# The JSON schema (OpenAPI) states the rules the validators check, so a client that
# follows the schema is never refused: the patterns, and a program name not empty.
NAME_PATTERN = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
CLASS_PATTERN = "^[A-Za-z][A-Za-z0-9_.-]{0,62}$"
GROUP_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
ClassName = Annotated[str, AfterValidator(_check_class)]
GroupName = Annotated[
    str, AfterValidator(_check_group), WithJsonSchema({"type": "string", "pattern": GROUP_PATTERN})
]
Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT)]
Seconds = Annotated[float, Field(ge=0, le=86_400 * 7)]
PositiveSeconds = Annotated[float, Field(gt=0, le=86_400 * 7)]
Arg = Annotated[str, AfterValidator(_check_arg)]
Plain = Annotated[str, AfterValidator(_check_plain)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]


def _env_value(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    # A text value or a secret reference, chosen by the value's shape, so that an error
    # names what was meant instead of listing both alternatives.
    if isinstance(value, dict | SecretRef):
        return SecretRef.model_validate(value)
    if not isinstance(value, str):
        raise ValueError(
            f'must be a string or a secret reference {{"secret": "name"}}, got {_kind(value)}'
        )
    return _check_arg(value, info)


def _kind(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", list: "a list"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


EnvValue = Annotated[SecretRef | Arg, WrapValidator(_env_value)]


class _Strict(BaseModel):
    # defer_build: the validators are compiled on first use, not at import, so a CLI that
    # only imports this module for `--help` does not pay for them.
    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True
    )


def _command_list(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError(
            f'must be a list of strings, e.g. ["python3", "main.py"], not one string ({value!r})'
        )
    if isinstance(value, list) and not value:
        raise ValueError("must name a program: the list is empty")
    if isinstance(value, list) and value[0] == "":
        raise ValueError("the program (first item) must not be empty")
    return value


#: A program and its arguments: not empty, the program not empty (stated in the schema
#: too, so a client following it is never refused).
Argv = Annotated[
    list[Arg],
    Field(json_schema_extra={"minItems": 1, "prefixItems": [{"type": "string", "minLength": 1}]}),
]


def not_a_label(value: str) -> str:
    """Why ``value`` is refused as a name (a DNS label)."""
    return (
        f"{value!r} is not a valid name: use 1-63 lowercase letters, digits and '-', "
        "starting and ending with a letter or digit"
    )


#: A name an experiment binds, connects to or exposes (``replay-server``, ``tensorboard``).
SERVICE_PATTERN = "^[A-Za-z][A-Za-z0-9_-]{0,62}$"
_SERVICE_RE = re.compile(SERVICE_PATTERN[1:-1])
Port = Annotated[int, Field(ge=1, le=65535)]


def _check_service(value: str) -> str:
    if not _SERVICE_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid service name: start with a letter, then letters, "
            "digits, '-' or '_' (at most 63 characters)"
        )
    return value


ServiceName = Annotated[
    str,
    AfterValidator(_check_service),
    WithJsonSchema({"type": "string", "pattern": SERVICE_PATTERN}),
]
