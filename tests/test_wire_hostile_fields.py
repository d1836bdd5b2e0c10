"""Every field of every message a node sends, at every level, replaced by a value of
another type: the decoder accepts it (a valid value after all) or refuses it with a
ProtocolError naming the field, never anything else (what would escape to the link's
handler as a crash)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import msgpack

from symphony.wire import ProtocolError
from symphony.wire.codec import decode

WRONG: list[Any] = [
    0,
    -1,
    2**64 - 1,
    -(2**63),
    1.5,
    float("nan"),
    float("inf"),
    True,
    None,
    "",
    "x" * 5000,
    "é",
    b"\xff",
    [],
    [1, [2]],
    {},
    {"a": {"b": 1}},
    {1: 2},
    [{}, {}, {}],
]
STATUS = {"instance_id": "i", "deployment_id": "d", "state": "running", "devices": ["gpu0"]}
VALID = [
    {
        "t": "hello",
        "protocol_version": 5,
        "node_id": "n1",
        "groups": ["g"],
        "capacities_total": {"A": 1},
        "resources": {"cpu": 1},
        "instances": [STATUS],
        "envs": ["py"],
    },
    {
        "t": "heartbeat",
        "seq": 1,
        "usage": {"cpu_percent": 1.0},
        "instances": [{"instance_id": "i", "cpu_percent": 1.0, "rss_bytes": 1}],
        "delta": True,
    },
    {"t": "instance_status", **STATUS},
    {"t": "status_batch", "updates": [STATUS]},
    {"t": "log_chunk", "request_id": "r", "data": b"x", "eof": False},
    {"t": "upload_read", "request_id": "r", "sha256": "0" * 64, "offset": 0},
    {"t": "error", "reason": "x"},
]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = (
        obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    )
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


def _with(message: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(message)
    here: Any = out
    for key in path[:-1]:
        here = here[key]
    here[path[-1]] = value
    return out


def test_wire_every_field_of_the_wrong_type_is_refused_as_a_protocol_error() -> None:
    accepted = refused = 0
    for message in VALID:
        decode(msgpack.packb(message, use_bin_type=True))  # the base case is valid
        for path in _paths(message):
            if path == ("t",):
                continue
            for value in WRONG:
                data = msgpack.packb(_with(message, path, value), use_bin_type=True)
                try:
                    decode(data)
                except ProtocolError as error:
                    refused += 1
                    assert str(error), path
                else:
                    accepted += 1
    assert refused > 600 and accepted > 0


def test_wire_deep_nesting_is_refused_as_a_protocol_error() -> None:
    for depth in (1_000, 100_000, 3_000_000):
        try:
            decode(b"\x91" * depth + b"\xc0")
        except ProtocolError:
            continue
        raise AssertionError(f"{depth} levels decoded")
