"""WebSocket frames (RFC 6455 section 5), both ways: a sans-IO parser and a builder.

:class:`FrameReader` takes the bytes the peer sent (:meth:`~FrameReader.feed`) and gives
back whole messages and control frames (:meth:`~FrameReader.next`), or ``None`` when it
needs more bytes; :func:`build_frame` builds one frame to send. Neither knows sockets:
:mod:`symphony.wire.websocket` does the reading and writing.

The two ends differ in one thing only, masking: a client masks every frame it sends
with a fresh random key (so that a proxy in between cannot be made to cache what a
script wrote), a server never does. A server's reader (``masked=True``, the default)
refuses an unmasked frame; a client's (``masked=False``) refuses a masked one (1002).

Why not wsproto's frame protocol: a Conductor parses a frame per heartbeat of every node,
and wsproto's general machinery (extensions, incremental UTF-8, a generator per call, a
masker object per frame) was a tenth of its CPU. This parser knows only what a node
link needs: no extensions, so every reserved bit must be clear.

Every frame is checked before its payload is buffered:

- masked as the role requires (above); reserved bits clear; opcodes 0, 1, 2, 8, 9, 10 only;
- a control frame (close, ping, pong) is at most 125 bytes and never fragmented, and
  may come between the fragments of a message;
- a continuation needs a message in progress, and a new message needs the last one
  finished;
- a message (all its fragments) is at most ``max_message_size`` bytes: a frame whose
  declared length would pass it is refused from its header (1009), before its payload
  is read;
- a text message must be UTF-8 (1007); a close frame's code must be one a peer may send,
  and its reason UTF-8.

A violation raises :class:`FrameError` with the close code to answer with (1002, 1007 or
1009); the connection is then over.

>>> reader = FrameReader(max_message_size=1024)
>>> reader.feed(bytes([0x82, 0x83, 1, 2, 3, 4]) + bytes([0x61 ^ 1, 0x62 ^ 2, 0x63 ^ 3]))
>>> reader.next()
(2, b'abc')
>>> reader.next() is None
True
"""

from __future__ import annotations

import os
import struct

from .errors import ProtocolError

__all__ = [
    "BINARY",
    "CLOSE",
    "PING",
    "PONG",
    "TEXT",
    "FrameError",
    "FrameReader",
    "build_frame",
    "close_frame",
]

# Opcodes (RFC 6455 5.2); also the kinds of what FrameReader.next returns.
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: Close codes a peer may send (RFC 6455 7.4): the defined ones it may use, and the
#: ranges for libraries and applications. 1005, 1006 and 1015 are never sent.
_PEER_CLOSE_CODES = frozenset((1000, 1001, 1002, 1003, *range(1007, 1015)))


class FrameError(ProtocolError):
    """The peer broke the framing; ``code`` is the close code to answer with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _unmask(data: bytes, mask: bytes) -> bytes:
    # XOR with the key repeated: done on two big integers, in C, not byte by byte.
    size = len(data)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


def build_frame(opcode: int, payload: bytes, *, masked: bool = False) -> bytes:
    """One whole frame: a header and the payload, masked with a fresh random key when
    ``masked`` (a client's frames; RFC 6455 5.3 asks for a strong source of entropy)."""
    size = len(payload)
    first, bit = 0x80 | opcode, 0x80 if masked else 0
    if size < 126:
        head = bytes((first, bit | size))
    elif size < 65536:
        head = struct.pack("!BBH", first, bit | 126, size)
    else:
        head = struct.pack("!BBQ", first, bit | 127, size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + _unmask(payload, key)  # XOR with the key masks as it unmasks


def close_frame(code: int, reason: str | None, *, masked: bool = False) -> bytes:
    """A close frame: the code, then the reason cut to fit (125 bytes in all)."""
    text = (reason or "").encode()[:123].decode("utf-8", "ignore").encode()
    return build_frame(CLOSE, code.to_bytes(2, "big") + text, masked=masked)


class FrameReader:
    """Parses what the peer sends; see the module docstring. ``masked`` says whether
    its frames must be masked: a client's are (the default), a server's are not.

    ``next()`` returns ``(kind, payload)``: ``(BINARY, bytes)`` or ``(TEXT, str)`` for a
    whole message, ``(PING, bytes)``, ``(PONG, bytes)``, ``(CLOSE, (code, reason))``;
    or ``None`` when it needs more bytes. It raises :class:`FrameError`.
    """

    __slots__ = (
        "_buffer",
        "_masked",
        "_opcode",
        "_parts",
        "_position",
        "_size",
        "max_message_size",
    )

    def __init__(self, *, max_message_size: int, masked: bool = True) -> None:
        self.max_message_size = max_message_size
        self._masked = masked
        self._buffer: bytes | bytearray = b""
        self._position = 0  # where the next frame starts in _buffer
        # The message being received in fragments: its opcode, fragments, size so far.
        self._opcode: int | None = None
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> None:
        """Add bytes received from the peer."""
        buffer, position = self._buffer, self._position
        if position == len(buffer):  # all consumed: the usual case, no copy
            self._buffer, self._position = data, 0
            return
        if isinstance(buffer, bytes):  # a partial frame waits: keep it in a growing array
            buffer = bytearray(buffer[position:])
        elif position:
            del buffer[:position]
        buffer += data
        self._buffer, self._position = buffer, 0

    def next(self) -> tuple[int, object] | None:
        """The next message or control frame, or ``None`` until more bytes are fed."""
        while True:
            frame = self._frame()
            if frame is None:
                return None
            opcode, fin, payload = frame
            if opcode >= CLOSE:
                return opcode, _close_payload(payload) if opcode == CLOSE else payload
            message = self._message(opcode, fin, payload)
            if message is not None:
                return message

    def _frame(self) -> tuple[int, bool, bytes] | None:
        buffer, position = self._buffer, self._position
        available = len(buffer) - position
        if available < 2:
            return None
        first, second = buffer[position], buffer[position + 1]
        opcode = first & 0x0F
        fin = bool(first & 0x80)
        if first & 0x70:
            raise FrameError(1002, "reserved bits set: no extension was agreed")
        masked = self._masked
        if bool(second & 0x80) is not masked:
            if masked:
                raise FrameError(1002, "a client's frames must be masked")
            raise FrameError(1002, "a server's frames must not be masked")
        key = 4 if masked else 0  # the masking key's bytes, after the length
        size, head = second & 0x7F, 2 + key
        if size == 126:
            if available < 4:
                return None
            size, head = int.from_bytes(buffer[position + 2 : position + 4], "big"), 4 + key
            if size < 126:
                raise FrameError(1002, "frame length not in its shortest form")
        elif size == 127:
            if available < 10:
                return None
            size, head = int.from_bytes(buffer[position + 2 : position + 10], "big"), 10 + key
            if size < 65536 or size >> 63:
                raise FrameError(1002, "frame length not in its shortest form")
        self._check(opcode, fin, size)
        if available < head + size:
            return None
        start = position + head
        payload = bytes(buffer[start : start + size])
        if masked:
            payload = _unmask(payload, bytes(buffer[start - 4 : start]))
        if start + size == len(buffer):
            # All consumed: keep no reference to the bytes read (a link idles for
            # seconds between heartbeats, thousands of them at once).
            self._buffer, self._position = b"", 0
        else:
            self._position = start + size
        return opcode, fin, payload

    def _check(self, opcode: int, fin: bool, size: int) -> None:
        """Refuse a frame from its header alone, before its payload is buffered."""
        if opcode >= CLOSE:
            if opcode > PONG:
                raise FrameError(1002, f"unknown opcode {opcode:#x}")
            if not fin:
                raise FrameError(1002, "a control frame may not be fragmented")
            if size > 125:
                raise FrameError(1002, "a control frame carries at most 125 bytes")
            return
        if opcode > BINARY:
            raise FrameError(1002, f"unknown opcode {opcode:#x}")
        if opcode == CONTINUATION and self._opcode is None:
            raise FrameError(1002, "a continuation frame with no message to continue")
        if opcode != CONTINUATION and self._opcode is not None:
            raise FrameError(1002, "a new message before the last one was finished")
        if self._size + size > self.max_message_size:
            raise FrameError(1009, f"message over the {self.max_message_size}-byte limit")

    def _message(self, opcode: int, fin: bool, payload: bytes) -> tuple[int, object] | None:
        if opcode != CONTINUATION:
            self._opcode = opcode
        if not fin:
            self._parts.append(payload)
            self._size += len(payload)
            return None
        if self._parts:
            self._parts.append(payload)
            payload = b"".join(self._parts)
            self._parts = []
        kind, self._opcode, self._size = self._opcode, None, 0
        if kind == TEXT:
            try:
                return TEXT, payload.decode("utf-8")
            except UnicodeDecodeError:
                raise FrameError(1007, "a text message that is not UTF-8") from None
        return BINARY, payload


def _close_payload(payload: bytes) -> tuple[int, str]:
    if not payload:
        return 1005, ""  # "no status received"
    if len(payload) == 1:
        raise FrameError(1002, "a close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if code not in _PEER_CLOSE_CODES and not 3000 <= code <= 4999:
        raise FrameError(1002, f"close code {code} may not be sent")
    try:
        return code, payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(1007, "a close reason that is not UTF-8") from None
