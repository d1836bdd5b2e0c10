"""permessage-deflate that inflates no more of a message than the server accepts.

wsproto's extension inflates whatever a frame holds at once: 64 KiB of zeros, deflated,
is 64 MiB in memory before any limit is looked at. Here inflating stops one byte past
``websocket_max_message`` and the message closes the socket with 1009 (too big).
"""

from __future__ import annotations

import zlib

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol


class BoundedDeflate(PerMessageDeflate):
    """:class:`PerMessageDeflate` with at most ``limit`` bytes inflated per message."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._inflated = 0  # of the message being received

    def _count(self, data: bytes | CloseReason | None) -> bytes | CloseReason | None:
        if isinstance(data, bytes):
            self._inflated += len(data)
            if self._inflated > self.limit:
                return CloseReason.MESSAGE_TOO_BIG
        return data

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        assert self._decompressor is not None
        room = self.limit - self._inflated
        try:
            inflated = self._decompressor.decompress(bytes(data), room + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        if self._decompressor.unconsumed_tail:  # more than room + 1 bytes: too big
            return CloseReason.MESSAGE_TOO_BIG
        counted = self._count(inflated)
        assert counted is not None
        return counted

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        result = self._count(super().frame_inbound_complete(proto, fin))
        if fin:
            self._inflated = 0
        return result
