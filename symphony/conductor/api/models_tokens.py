"""The bodies and answers of ``/tokens`` (see :mod:`.models`): join tokens, what
each binds, and how a node joins with one."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from symphony.wire.messages import MAX_CAPACITY

from ..join import MAX_TOKEN_TTL
from .models_base import _Answer, _Request

__all__ = ["DEFAULT_TTL", "TokenCreated", "TokenDeleted", "TokenInfo", "TokenList", "TokenRequest"]


#: A join token's lifetime when the request does not say.
DEFAULT_TTL = 3600.0


# What a join token may bind, by the wire's rules for node ids, groups and capacity
# classes (symphony.wire.messages), so that a token never binds what a node cannot send.
NODE_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
GROUP_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
CLASS_PATTERN = "^[A-Za-z][A-Za-z0-9_.-]{0,62}$"
#: The most groups or capacity classes one token binds.
MAX_BOUND = 256


def _check_node_id(value: str) -> str:
    # The parts of the wire's rule a JSON-schema pattern cannot say portably (pydantic's
    # regex engine has no lookahead).
    if ".." in value:
        raise ValueError("a node id has no '..'")
    if value == "node-client":
        raise ValueError("'node-client' is reserved (the shared node certificate's name)")
    return value


BoundNodeId = Annotated[str, Field(pattern=NODE_ID_PATTERN), AfterValidator(_check_node_id)]
BoundGroup = Annotated[str, Field(pattern=GROUP_PATTERN)]
BoundClass = Annotated[str, Field(pattern=CLASS_PATTERN)]
BoundAmount = Annotated[int, Field(ge=0, le=MAX_CAPACITY)]


class TokenRequest(_Request):
    """``POST /tokens``: how long the token is valid, whether several nodes may use it,
    and what a node joining with it may claim (an empty body takes the defaults and
    binds nothing; see :mod:`symphony.conductor.binding`)."""

    ttl_seconds: Annotated[float, Field(gt=0, le=MAX_TOKEN_TTL)] = DEFAULT_TTL
    reusable: bool = False
    node_id: Annotated[
        BoundNodeId | None, Field(description="The only node id a node may join as")
    ] = None
    groups: Annotated[
        list[BoundGroup] | None,
        Field(max_length=MAX_BOUND, description="The groups a node may offer (a subset)"),
    ] = None
    capacities: Annotated[
        dict[BoundClass, BoundAmount] | None,
        Field(max_length=MAX_BOUND, description="The most of each class a node may offer"),
    ] = None


class TokenCreated(_Answer):
    """The token (shown this once) and how a node uses it."""

    token: str
    id: str
    expires_at: float | None = None
    single_use: bool = True
    node_id: str | None = Field(default=None, description="Bound node id (null: unbound)")
    groups: list[str] | None = Field(default=None, description="Bound groups (null: unbound)")
    capacities: dict[str, int] | None = Field(
        default=None, description="Bound capacities (null: unbound)"
    )
    ca_hash: str = ""
    join_addr: str | None = None
    join_command: str = ""


class TokenInfo(_Answer):
    id: str
    created_at: float
    expires_at: float | None
    single_use: bool
    used_at: float | None
    usable: bool
    node_id: str | None = None
    groups: list[str] | None = None
    capacities: dict[str, int] | None = None


class TokenList(_Answer):
    tokens: list[TokenInfo]


class TokenDeleted(_Answer):
    deleted: str
