"""Heartbeat deltas (protocol 5): send only the usage figures that changed.

A node's usage map (CPU, per-core CPU, RAM, disks, GPUs) mostly repeats itself from one
heartbeat to the next: totals never change, disks and RAM rarely. From protocol 5 a node
sends its first heartbeat on a link in full and then, as ``Heartbeat(delta=True)``, only
the top-level keys whose values changed (``{}`` when nothing did). The Conductor merges a
delta into the last usage it holds for that link. Keys are never removed by a delta: a
node whose set of keys shrinks sends a full heartbeat again, and so does it every
:data:`FULL_EVERY` heartbeats, so that a Conductor that had to refuse a delta is put
right soon.

>>> usage_delta({"cpu": 1.0, "ram": 5}, {"cpu": 2.0, "ram": 5})
{'cpu': 2.0}
>>> usage_delta({"cpu": 1.0, "ram": 5}, {"cpu": 1.0}) is None   # a key went away: full
True
>>> merge_usage({"cpu": 1.0, "ram": 5}, {"cpu": 2.0})
{'cpu': 2.0, 'ram': 5}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack

from .errors import ProtocolError

__all__ = [
    "FULL_EVERY",
    "MAX_USAGE_BYTES",
    "MAX_USAGE_KEYS",
    "DeltaRefused",
    "UsageSender",
    "encoded_size",
    "grown_size",
    "merge_usage",
    "usage_delta",
    "usage_size",
]

#: A node sends a full heartbeat at least this often (one in so many), whatever changed.
FULL_EVERY = 20
#: The most top-level keys a merged usage map may hold; a delta past it is refused
#: (a real node reports about ten).
MAX_USAGE_KEYS = 256
#: The most bytes (encoded) a node's usage may take, full or merged; a heartbeat past it
#: has its usage refused. A real node's takes one to a few KiB; without a bound, deltas
#: of new keys, each up to a frame's size, would add up to a GiB held per node.
MAX_USAGE_BYTES = 64 * 1024
#: The most bytes a map's header takes encoded (counted whole: a bound, not a size).
_MAP_HEADER = 5


class DeltaRefused(ProtocolError, ValueError):
    """A heartbeat's usage that cannot be kept: a delta with no full usage to apply it
    to, or usage past :data:`MAX_USAGE_KEYS` keys or :data:`MAX_USAGE_BYTES` bytes. It
    fails that heartbeat's usage only."""


def encoded_size(data: Any) -> int:
    """How many bytes ``data`` (decoded from a frame) takes encoded again."""
    return len(msgpack.packb(data, use_bin_type=True))


def usage_size(usage: Mapping[str, Any]) -> int:
    """How many bytes ``usage`` (as a heartbeat brought it) takes encoded, or
    :class:`DeltaRefused` past :data:`MAX_USAGE_BYTES`. It came in one frame, so
    encoding it whole costs no more than reading it did."""
    size = encoded_size(usage)
    if size > MAX_USAGE_BYTES:
        raise DeltaRefused(f"heartbeat usage of {size} bytes (at most {MAX_USAGE_BYTES})")
    return size


def grown_size(merged: Mapping[str, Any], delta: Mapping[str, Any], held: int) -> int:
    """The bytes of ``merged`` (``delta`` applied to usage of ``held`` bytes), or
    :class:`DeltaRefused` past :data:`MAX_USAGE_BYTES`. What the merged usage takes is
    what is bounded, whatever the deltas were: a big node's per-core figures change
    every time (4 KiB a delta on 384 CPUs) and replace what was there. Counting the
    delta whole on top of ``held`` only over-estimates, so while that stays within the
    bound nothing more is encoded; past it, the merged usage is measured afresh, key by
    key, the count stopping past the bound (so at most that much is encoded, and one
    value, which a frame bounds)."""
    size = held + usage_size(delta) if delta else held
    if size <= MAX_USAGE_BYTES:
        return size
    size = _MAP_HEADER
    for key, value in merged.items():
        size += encoded_size(key) + encoded_size(value)
        if size > MAX_USAGE_BYTES:
            raise DeltaRefused(f"heartbeat usage of more than {MAX_USAGE_BYTES} bytes")
    return size


def usage_delta(previous: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any] | None:
    """The keys of ``current`` whose values differ from ``previous``; None when a key
    of ``previous`` is missing from ``current`` (a delta cannot remove one)."""
    if any(key not in current for key in previous):
        return None
    return {key: value for key, value in current.items() if previous.get(key, _MISSING) != value}


def merge_usage(base: Mapping[str, Any] | None, delta: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``delta``; :class:`DeltaRefused` if there is no base (a
    delta before any full heartbeat on the link) or the result has too many keys (its
    bytes are counted with :func:`grown_size`)."""
    if base is None:
        raise DeltaRefused("a heartbeat delta before any full heartbeat on this link")
    if not delta:
        return dict(base)
    merged = {**base, **delta}
    if len(merged) > MAX_USAGE_KEYS:
        raise DeltaRefused(
            f"a heartbeat delta makes {len(merged)} usage keys (at most {MAX_USAGE_KEYS})"
        )
    return merged


class UsageSender:
    """A node's side, one per link: what each heartbeat's ``usage`` and ``delta`` are.

    With ``deltas`` false (a Conductor older than protocol 5) every heartbeat is full.

    >>> sender = UsageSender(deltas=True)
    >>> sender.next({"cpu": 1.0, "ram": 5}), sender.next({"cpu": 1.0, "ram": 6})
    (({'cpu': 1.0, 'ram': 5}, None), ({'ram': 6}, True))
    """

    def __init__(self, *, deltas: bool) -> None:
        self.deltas = deltas
        self._last: dict[str, Any] | None = None
        self._since_full = 0

    def next(self, usage: dict[str, Any]) -> tuple[dict[str, Any], bool | None]:
        """``(usage to send, Heartbeat.delta)`` for the current ``usage``."""
        delta = None
        if self.deltas and self._last is not None and self._since_full < FULL_EVERY - 1:
            delta = usage_delta(self._last, usage)
        self._last = usage
        if delta is None:
            self._since_full = 0
            return usage, None
        self._since_full += 1
        return delta, True


_MISSING = object()
