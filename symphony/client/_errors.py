"""What the client raises: one tree.

::

    Exception
    └── ClientError                anything symphony.client raises on purpose
        ├── ApiError               the Conductor answered with an error status
        └── ConductorUnreachable   no answer at all (also a ConnectionError)

``str()`` of each is one line a person can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symphony.errors import SymphonyError


class ClientError(SymphonyError):
    """Base class of the client's errors."""


class ApiError(ClientError):
    """The Conductor refused a request: ``status`` (HTTP), ``error`` (a few words) and
    ``detail`` (why; for an invalid spec, a list of ``{"path", "message"}``)."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: Any = None,
        *,
        url: str | None = None,
        tried: Sequence[str] = (),
    ) -> None:
        self.status = status
        self.error = error
        self.detail = detail
        #: With several Conductor URLs, the one that answered, and what each one asked
        #: before it said (``"http://a:8000: connection refused"``), in turn.
        self.url = url
        self.tried = tuple(tried)
        super().__init__(self._line() + tried_text(url, self.tried))

    def _line(self) -> str:
        detail = self.detail
        if isinstance(detail, list) and all(isinstance(d, dict) for d in detail):
            text = "; ".join(f"{d.get('path') or '(spec)'}: {d.get('message')}" for d in detail)
        elif detail is None or detail == "":
            text = ""
        else:
            text = str(detail)
        line = f"{self.status} {self.error}" + (f": {text}" if text else "")
        return " ".join(line.split())


class ConductorUnreachable(ClientError, ConnectionError):
    """Nothing answered at ``url`` (refused, timed out, reset, name not resolved)."""

    def __init__(self, url: str, reason: str, *, tried: Sequence[str] = ()) -> None:
        self.url = url
        self.reason = reason
        #: With several Conductor URLs, what each one asked before ``url`` said, in turn
        #: (``"http://b:8000: 503 unavailable: no leader is known yet"``).
        self.tried = tuple(tried)
        super().__init__(
            " ".join(f"cannot reach the Conductor at {url}: {reason}".split())
            + tried_text(None, self.tried)
            + " (is it running? set SYMPHONY_URL or pass url=...)"
        )


def tried_text(url: str | None, tried: Sequence[str]) -> str:
    """What the Conductors asked before the last one said, for the end of an error
    line: ``" (from http://b; before it: http://a: connection refused)"``; empty when
    one alone was asked."""
    if not tried:
        return ""
    where = f"from {url}; " if url else ""
    return " (" + where + "before it: " + "; ".join(" ".join(t.split()) for t in tried) + ")"
