"""One-time visit links and the cookies they leave, for services seen in a browser.

``symphony visit SERVICE`` asks the API for a link (``POST
/experiments/{experiment}/services/{service}/visit``) and prints or opens
``/x/{experiment}/{service}/?symphony-visit=CODE``. The first request with that code
spends it: the answer sets a cookie scoped to the service's path (``Path=/x/exp/svc/``,
``HttpOnly``, ``SameSite=Lax``) and redirects to the same address without the code,
so neither the API token nor a usable code stays in the address bar or the history.

Codes are spent once and expire after :data:`CODE_TTL`; cookies after
:data:`SESSION_TTL`. Both live in the Conductor's memory: a restart asks for a new
``symphony visit``. Only digests are kept, compared in constant time.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

#: The query parameter that carries a one-time code.
CODE_PARAM = "symphony-visit"
#: The cookie a spent code leaves (one per service path).
COOKIE = "symphony_visit"
#: Seconds a printed link stays usable.
CODE_TTL = 300.0
#: Seconds a browser keeps access after it used a link.
SESSION_TTL = 12 * 3600.0
#: Codes and cookies kept at most (the oldest are dropped first).
MAX_ENTRIES = 10_000


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


class Visits:
    """Codes and cookies by digest, each for one ``(experiment, service)``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._codes: dict[str, tuple[str, str, float]] = {}
        self._cookies: dict[str, tuple[str, str, float]] = {}

    def issue(self, experiment: str, service: str) -> str:
        """A new one-time code for the service."""
        code = secrets.token_urlsafe(24)
        self._put(self._codes, code, experiment, service, CODE_TTL)
        return code

    def redeem(self, code: str, experiment: str, service: str) -> str | None:
        """Spend ``code``: a cookie value for the service, or None (unknown, spent,
        expired, or for another service; a wrong service spends nothing)."""
        key = _digest(code)
        found = self._codes.get(key)
        if found is None or found[:2] != (experiment, service) or found[2] < self._clock():
            return None
        del self._codes[key]
        cookie = secrets.token_urlsafe(32)
        self._put(self._cookies, cookie, experiment, service, SESSION_TTL)
        return cookie

    def allows(self, cookie: str | None, experiment: str, service: str) -> bool:
        """Whether ``cookie`` gives access to the service now."""
        if not cookie:
            return False
        found = self._cookies.get(_digest(cookie))
        if found is None or found[:2] != (experiment, service):
            return False
        return found[2] >= self._clock()

    def _put(
        self, table: dict[str, tuple[str, str, float]], secret: str, exp: str, svc: str, ttl: float
    ) -> None:
        now = self._clock()
        if len(table) >= MAX_ENTRIES:
            for key in [k for k, v in table.items() if v[2] < now]:
                del table[key]
            while len(table) >= MAX_ENTRIES:
                del table[next(iter(table))]  # dicts keep insertion order: the oldest
        table[_digest(secret)] = (exp, svc, now + ttl)
