"""Reading archives uploaded to the Conductor over the node's own link.

A spec with ``"image": "upload:<sha256>"`` names an archive the user uploaded to the
Conductor (``symphony deploy --upload DIR``). The node reads it piece by piece: it sends
:class:`~symphony.wire.UploadRead` (a digest and an offset) and waits for the
:class:`~symphony.wire.UploadData` answer before asking for the next piece, so one
download never has more than one frame (512 KiB) on the link: heartbeats, statuses and
commands pass between the pieces. No route from the node to the user is needed.

The link attaches its connection while connected; reads made while it is not fail at
once (the instance fails with the reason, and the Conductor reschedules it).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Callable

import trio

from symphony.errors import SymphonyError
from symphony.wire import ConductorConnection, UploadData, UploadRead

#: How long one piece may take to arrive.
READ_TIMEOUT = 60.0
Progress = Callable[[int, int | None], None]


class UploadReadError(SymphonyError):
    """An upload could not be read from the Conductor; the message says why."""


class UploadReads:
    """The node's side of upload reads (see the module docstring)."""

    def __init__(self) -> None:
        self._conn: ConductorConnection | None = None
        self._waiting: dict[str, trio.MemorySendChannel[UploadData]] = {}
        self._ids = itertools.count(1)

    def attach(self, conn: ConductorConnection | None) -> None:
        """The link's connection now (None: disconnected, which fails pending reads)."""
        self._conn = conn
        if conn is None:
            for request_id, waiter in list(self._waiting.items()):
                lost = UploadData(request_id=request_id, eof=True, reason="link lost")
                with contextlib.suppress(trio.WouldBlock):  # its answer came first
                    waiter.send_nowait(lost)

    def deliver(self, answer: UploadData) -> None:
        """An :class:`UploadData` arrived (one nobody waits for is dropped)."""
        waiter = self._waiting.get(answer.request_id)
        if waiter is not None:
            with contextlib.suppress(trio.WouldBlock):  # answered twice: the first counts
                waiter.send_nowait(answer)

    async def read(self, sha256: str, offset: int) -> UploadData:
        """One piece of upload ``sha256`` from ``offset``."""
        conn = self._conn
        if conn is None:
            raise UploadReadError("not connected to the conductor")
        request_id = f"up-{next(self._ids)}"
        send, receive = trio.open_memory_channel[UploadData](1)
        self._waiting[request_id] = send
        try:
            with trio.fail_after(READ_TIMEOUT):
                await conn.send(UploadRead(request_id=request_id, sha256=sha256, offset=offset))
                answer = await receive.receive()
        except trio.TooSlowError:
            raise UploadReadError(f"no answer from the conductor in {READ_TIMEOUT:g} s") from None
        except Exception as error:  # the link failed while sending
            raise UploadReadError(f"link error: {error}") from None
        finally:
            del self._waiting[request_id]
        if answer.reason is not None:
            raise UploadReadError(answer.reason)
        return answer

    async def fetch(self, sha256: str, path: str, *, max_bytes: int, on_progress: Progress) -> str:
        """Write upload ``sha256`` into ``path``; returns the digest of what arrived."""
        digest = hashlib.sha256()
        done = 0
        async with await trio.open_file(path, "wb") as out:
            while True:
                piece = await self.read(sha256, done)
                done += len(piece.data)
                if done > max_bytes:
                    raise UploadReadError(
                        f"the archive is larger than the node's cache ({max_bytes} bytes)"
                    )
                digest.update(piece.data)
                await out.write(piece.data)
                on_progress(done, piece.size)
                if piece.eof:
                    return digest.hexdigest()
                if not piece.data:
                    raise UploadReadError("the conductor sent an empty piece before the end")
