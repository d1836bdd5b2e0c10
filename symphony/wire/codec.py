"""Frames <-> typed messages: the sans-IO core of the protocol (it knows no sockets).

A *frame* is the payload of one binary WebSocket message: either one msgpack map
``{"t": "<tag>", ...}`` or a non-empty msgpack array of such maps (a batch, which
is much cheaper than one frame per record: TLS and WebSocket framing dominate
the cost of small messages).

>>> from symphony.wire.messages import Heartbeat
>>> decode(encode(Heartbeat(seq=1, usage={"cpu_percent": 3.5})))
Heartbeat(seq=1, usage={'cpu_percent': 3.5})

:func:`decode` treats its input as hostile. It checks the frame size *before*
unpacking, gives msgpack per-object limits, counts every container and item so a
small frame cannot expand into gigabytes of Python objects, refuses msgpack
extension types, then validates each map into its message dataclass. Whatever is
wrong, the only exception it raises is :class:`~symphony.wire.errors.ProtocolError`
(or its subclass :class:`~symphony.wire.errors.FrameTooLarge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from .errors import EncodeError, FrameTooLarge, ProtocolError
from .messages import MESSAGE_TYPES, Message
from .schema import build
from .version import MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, negotiate_version

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "MAX_ITEMS_PER_FRAME",
    "MIN_PROTOCOL_VERSION",
    "PROTOCOL_VERSION",
    "decode",
    "encode",
    "negotiate_version",
]

#: Largest frame accepted by default (also the WebSocket message limit).
DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024
#: Most array elements + map entries one frame may contain. A 4 MiB frame of
#: tiny containers would otherwise become ~60x that in Python objects; with this
#: cap a frame costs at most a few tens of MB to decode. A status batch of 5,000
#: instances is ~75,000 items.
MAX_ITEMS_PER_FRAME = 1 << 18
# Per-container limits handed to msgpack; the item count above is the real bound.
_MAX_ARRAY_LEN = MAX_ITEMS_PER_FRAME
_MAX_MAP_LEN = 65_536


def _as_map(msg: Message, tagged: bool) -> dict[str, Any]:
    # Optional fields whose value is None are left out: the reader fills in the
    # default, and periodic messages stay small.
    out: dict[str, Any] = {"t": msg.t} if tagged else {}
    # Every message is a dataclass(slots=True): its __slots__ are its fields, and
    # the quickest way to walk them (the base class declares none).
    names: tuple[str, ...] = msg.__slots__
    for name in names:
        value = getattr(msg, name)
        if value is not None:
            out[name] = value
    return out


def _nested(obj: object) -> object:
    # msgpack calls this for types it cannot pack: nested messages become untagged
    # maps (their type is known from the field that holds them).
    if isinstance(obj, Message):
        return _as_map(obj, tagged=False)
    raise TypeError(f"cannot encode a {type(obj).__name__} in a message")


def encode(msg: Message | Sequence[Message], *, max_frame_size: int | None = None) -> bytes:
    """Encode one message, or a non-empty sequence of them as a batch, into a frame.

    Raises ``TypeError``/``ValueError`` for something that is not a message (a bug
    on the sending side), :class:`EncodeError` for a message whose values cannot be
    encoded (a lone surrogate in a string, an int beyond 64 bits, a set, ...), and
    :class:`FrameTooLarge` if ``max_frame_size`` is given and exceeded (the peer would
    refuse the frame anyway). In every case nothing is sent.
    """
    if isinstance(msg, Message):
        obj: Any = _as_map(msg, tagged=True)
    elif isinstance(msg, (list, tuple)):
        if not msg:
            raise ValueError("cannot encode an empty batch")
        for m in msg:
            if not isinstance(m, Message):
                raise TypeError(f"a batch holds messages, not {type(m).__name__}")
        obj = [_as_map(m, tagged=True) for m in msg]
    else:
        raise TypeError(f"expected a Message or a list of them, got {type(msg).__name__}")
    try:
        data: bytes = msgpack.packb(obj, use_bin_type=True, default=_nested)
    except (UnicodeEncodeError, TypeError, ValueError, OverflowError) as exc:
        # Values come from outside (a spec, a node's report): a string Python holds but
        # UTF-8 cannot (a lone surrogate), an int beyond 64 bits, a type msgpack lacks.
        # The caller fails this one message, not the link.
        raise EncodeError(f"cannot encode {_describe(msg)}: {exc}") from None
    if max_frame_size is not None and len(data) > max_frame_size:
        raise FrameTooLarge(
            f"encoded frame of {len(data)} bytes exceeds the maximum of {max_frame_size} "
            "bytes; send smaller batches"
        )
    return data


def _describe(msg: Message | Sequence[Message]) -> str:
    if isinstance(msg, Message):
        return f"a {type(msg).__name__} message"
    return f"a batch of {len(msg)} messages"


class _Budget:
    """Counts containers and items while msgpack builds them (its hooks see each one)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_ITEMS_PER_FRAME

    def _spend(self, n: int) -> None:
        self.left -= n + 1
        if self.left < 0:
            raise ProtocolError(f"frame holds more than {MAX_ITEMS_PER_FRAME} items")

    def on_map(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._spend(len(obj))
        return obj

    def on_list(self, obj: list[Any]) -> list[Any]:
        self._spend(len(obj))
        return obj


def _unpack(data: bytes | bytearray | memoryview, max_frame_size: int) -> Any:
    budget = _Budget()
    try:
        return msgpack.unpackb(
            data,
            raw=False,  # str must be valid UTF-8
            strict_map_key=True,  # map keys only str/bytes (no unhashable keys)
            use_list=True,
            max_str_len=max_frame_size,
            max_bin_len=max_frame_size,
            max_array_len=_MAX_ARRAY_LEN,
            max_map_len=_MAX_MAP_LEN,
            max_ext_len=0,  # no extension types (timestamps included) in this protocol
            object_hook=budget.on_map,
            list_hook=budget.on_list,
        )
    except ProtocolError:
        raise
    except Exception as exc:
        # Hostile bytes reach a C parser here; whatever it raises (ValueError,
        # ExtraData, StackError, UnicodeDecodeError, TypeError, ...) means the same
        # thing to us: not a valid frame. Nothing else runs inside this try.
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise ProtocolError(f"frame is not valid msgpack: {detail}") from None


def _message(obj: Any, where: str) -> Message:
    if type(obj) is not dict:
        raise ProtocolError(f"{where}: a message must be a map, got {type(obj).__name__}")
    tag = obj.get("t")
    if type(tag) is not str:
        raise ProtocolError(f"{where}: missing or non-string type tag 't'")
    cls = MESSAGE_TYPES.get(tag)
    if cls is None:
        raise ProtocolError(f"{where}: unknown message type {tag[:64]!r}")
    return build(cls, obj, cls.__name__ if where == "frame" else f"{where} {cls.__name__}")


def decode(
    data: bytes | bytearray | memoryview, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
) -> Message | list[Message]:
    """Decode and validate one frame: a message, or a list of them for a batch.

    Raises :class:`ProtocolError` with the field path and the broken rule.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"a frame must be bytes, got {type(data).__name__}")
    if len(data) > max_frame_size:
        raise FrameTooLarge(
            f"frame of {len(data)} bytes exceeds the maximum of {max_frame_size} bytes"
        )
    obj = _unpack(data, max_frame_size)
    if type(obj) is list:
        if not obj:
            raise ProtocolError("frame is an empty batch")
        return [_message(item, f"frame[{i}]") for i, item in enumerate(obj)]
    return _message(obj, "frame")
