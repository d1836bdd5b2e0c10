"""Server-Sent Events framing: one message is ``event: <kind>`` and one ``data:`` line."""

from __future__ import annotations

from typing import Any

from .jsonout import json_compact


def sse(kind: str, data: Any) -> bytes:
    """One Server-Sent Events message (the JSON has no newlines, so one ``data`` line)."""
    return sse_raw(kind, json_compact(data))


def sse_raw(kind: str, data: bytes) -> bytes:
    """One message whose ``data`` is JSON encoded already (it must hold no newline)."""
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"
