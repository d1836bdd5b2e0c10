"""The headers that mark a standby's answers and the requests it forwards, and the
answer that says "not here, not now: retry" with them.

Apart from :mod:`.forward` (the standby's forwarding app, built on httpx) because a
leader sets them too, on the 503 it answers once it has lost the lease, and a leader
never forwards: importing httpx there would keep about 4.5 MiB resident for nothing.
"""

from __future__ import annotations

import json

from symphony.httpd import ASGISendCallable

__all__ = ["FORWARDED_HEADER", "ROLE_HEADER", "answer_retry"]

#: Set on every answer of a standby, and on every request it forwards.
ROLE_HEADER = "x-symphony-role"
FORWARDED_HEADER = "x-symphony-forwarded"


async def answer_retry(
    send: ASGISendCallable, status: int, error: str, detail: str, role: bytes = b"standby"
) -> None:
    """Answer ``status`` (a 503 or 502 of a Conductor changing roles) as JSON, with
    ``Retry-After: 1`` and this Conductor's ``role``, which tells our client to try its
    next URL (see :mod:`symphony.client`)."""
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
                (ROLE_HEADER.encode(), role),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
