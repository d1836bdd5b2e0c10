"""Join tokens: short-lived secrets that let a new node obtain its certificate.

A token string looks like ``symjt1.<id>.<secret>``. The ``id`` lets whoever keeps
tokens find the record; only a SHA-256 of the ``secret`` is ever stored. (A fast
hash is right here: the secret is 256 random bits, so there is nothing to
brute-force; slow password hashes are for low-entropy passwords.)

These are pure functions over a :class:`JoinToken` record; persisting records
and marking them used atomically is the store's job::

    token, record = new_join_token(ttl=3600)          # show `token` once, keep `record`
    token_id, _ = parse_join_token(token)             # later: look up the record by id
    verify_join_token(token, record, now=time.time())  # raises JoinTokenError subclasses
    record = consume_join_token(record, now=time.time())

Never log a token string; the errors raised here never contain it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass

from symphony.wire.errors import JoinTokenExpired, JoinTokenInvalid, JoinTokenUsed

__all__ = [
    "JoinToken",
    "consume_join_token",
    "new_join_token",
    "parse_join_token",
    "verify_join_token",
]

_PREFIX = "symjt1"  # a fixed prefix lets secret scanners recognise leaked tokens


@dataclass(frozen=True, slots=True)
class JoinToken:
    """What is stored about a token: never the secret itself.

    ``expires_at`` and ``used_at`` are Unix timestamps; ``used_at`` is ``None``
    until a single-use token is consumed.
    """

    id: str
    secret_hash: str = dataclasses.field(repr=False)
    expires_at: float
    single_use: bool = True
    used_at: float | None = None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_join_token(
    ttl: float, *, single_use: bool = True, now: float | None = None
) -> tuple[str, JoinToken]:
    """Return ``(token_string, record)`` for a token valid ``ttl`` seconds from ``now``."""
    if not isinstance(ttl, (int, float)) or not math.isfinite(ttl) or ttl <= 0:
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
    now = time.time() if now is None else now
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    record = JoinToken(
        id=token_id, secret_hash=_hash(secret), expires_at=now + ttl, single_use=single_use
    )
    return f"{_PREFIX}.{token_id}.{secret}", record


def parse_join_token(token: str) -> tuple[str, str]:
    """Split a token string into ``(id, secret)``; :class:`JoinTokenInvalid` if malformed."""
    parts = token.strip().split(".") if isinstance(token, str) else []
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        raise JoinTokenInvalid(f"malformed join token: expected '{_PREFIX}.<id>.<secret>'")
    return parts[1], parts[2]


def verify_join_token(token: str, record: JoinToken, now: float) -> None:
    """Check ``token`` against ``record`` at time ``now``; return quietly if it may join.

    Raises :class:`JoinTokenInvalid` (malformed, another token's id, wrong secret),
    then :class:`JoinTokenExpired`, then :class:`JoinTokenUsed`. The secret is checked
    first, so someone without it learns nothing about the token's state.
    """
    token_id, secret = parse_join_token(token)
    # Both comparisons are constant-time so response timing reveals nothing.
    id_ok = hmac.compare_digest(token_id.encode(), record.id.encode())
    secret_ok = hmac.compare_digest(_hash(secret), record.secret_hash)
    if not (id_ok and secret_ok):
        raise JoinTokenInvalid("join token is wrong (unknown id or wrong secret)")
    if now >= record.expires_at:
        when = dt.datetime.fromtimestamp(record.expires_at, dt.UTC).isoformat(timespec="seconds")
        raise JoinTokenExpired(f"join token {record.id} expired at {when}")
    if record.single_use and record.used_at is not None:
        raise JoinTokenUsed(f"join token {record.id} was already used (it was single-use)")


def consume_join_token(record: JoinToken, now: float) -> JoinToken:
    """The record after a successful join: single-use tokens get ``used_at``."""
    if not record.single_use:
        return record
    return dataclasses.replace(record, used_at=now)
