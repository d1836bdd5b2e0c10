"""The server's TLS stream: what a node link's bytes pass through, with little per read.

``trio.SSLStream`` is general: any transport below it, renegotiation, one task's
receive and another's send in any order, each guarded by locks and conflict detectors.
Each ``receive_some`` on it passes through about ten coroutines (its retry loop, the
transport stream, the socket's wrapper and its try-then-wait helper) and, when no record
is waiting, first fails a read of the TLS object and a ``recv`` with an exception each.
A Conductor reads thousands of links that each bring a heartbeat every few seconds, and
every link waits for its next one in that chain: those coroutines, created per read and
alive for seconds, are most of what its garbage collector examines, and the locks and
detectors are a good part of what a link keeps (see docs/benchmarks.md, "Node scale").

:class:`TLSStream` is the same protocol (``ssl.SSLObject`` over memory BIOs, as trio
does) for one case: the server side of a TCP connection, read by one task at a time.
A read with nothing buffered waits on the socket at once (:func:`trio.lowlevel.wait_readable`)
when the previous read had drained it, then takes what came in one ``recv``. Sends from
any task are written whole and in order (an event per send, not a lock per stream: most
links rarely send). Errors are trio's: :class:`trio.BrokenResourceError` (from the
``ssl.SSLError`` or ``OSError``, as its ``__cause__``), :class:`trio.ClosedResourceError`
once closed. A peer that leaves without ``close_notify`` reads as the end of the stream.

>>> stream = TLSStream(sock, server_context)     # doctest: +SKIP
>>> await stream.do_handshake()                  # doctest: +SKIP
>>> stream.getpeercert(binary_form=True)         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import Any

import trio

__all__ = ["TLSStream"]

#: Bytes asked of the socket per ``recv``: a few TLS records.
RECV_SIZE = 65536
#: Plaintext bytes returned per ``receive_some`` when the caller gives no limit.
DEFAULT_RECEIVE = 16384


class TLSStream(trio.abc.Stream):
    """The server side of TLS over ``sock`` (a connected TCP socket; see the module doc).

    ``sock`` is the standard library's socket; the stream makes it non-blocking and
    owns it (``aclose`` closes it).
    """

    __slots__ = (
        "_drained",
        "_eof",
        "_incoming",
        "_outgoing",
        "_sending",
        "_ssl",
        "_state",
        "socket",
    )

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        sock.setblocking(False)
        self.socket = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._drained = True  # the last recv took all there was: wait before the next
        self._eof = False  # the peer ended its side (close_notify, or the socket's EOF)
        self._state = "open"  # "open", "broken" (a send was cut short), "closed"
        # Set while a task sends: another waits for it (records go out whole, in order).
        self._sending: trio.Event | None = None

    # ---- the TLS session -------------------------------------------------------------
    async def do_handshake(self) -> None:
        """Complete the handshake; :class:`trio.BrokenResourceError` if it fails."""
        self._check_open()
        while True:
            try:
                self._ssl.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass  # its next flight: below
            except (ssl.SSLError, ValueError) as error:
                await self._flush_quietly()  # the alert that says why, if any
                raise trio.BrokenResourceError(str(error)) from error
            await self._flush()
            if not await self._fill():
                raise trio.BrokenResourceError("the peer left during the TLS handshake")
        await self._flush()

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate, as :meth:`ssl.SSLObject.getpeercert`."""
        return self._ssl.getpeercert(binary_form)

    # ---- receiving -------------------------------------------------------------------
    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Up to ``max_bytes`` bytes of plaintext; ``b""`` once the peer has ended."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_open()
        size = max_bytes or DEFAULT_RECEIVE
        ssl_object, waited = self._ssl, False
        while not self._eof:
            if self._incoming.pending or ssl_object.pending():
                try:
                    data = ssl_object.read(size)
                except ssl.SSLWantReadError:
                    pass  # an incomplete record: read more below
                except ssl.SSLZeroReturnError:
                    self._eof = True
                    break
                except ssl.SSLError as error:
                    raise trio.BrokenResourceError(str(error)) from error
                else:
                    if self._outgoing.pending:  # what reading answered (a key update)
                        await self._flush()
                    if not waited:
                        await trio.lowlevel.cancel_shielded_checkpoint()
                    return data
            if self._drained:
                await trio.lowlevel.wait_readable(self.socket)
                waited = True
            if not self._recv():
                self._eof = True
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return b""

    def _recv(self) -> bool:
        """Move what the socket holds into the TLS object; False at its end."""
        try:
            data = self.socket.recv(RECV_SIZE)
        except BlockingIOError:
            self._drained = True
            return True
        except OSError as error:
            raise trio.BrokenResourceError(str(error)) from error
        self._drained = len(data) < RECV_SIZE
        if not data:
            return False
        self._incoming.write(data)
        return True

    async def _fill(self) -> bool:
        """Wait for the socket's next bytes (handshake); False at its end."""
        while True:
            if self._drained:
                await trio.lowlevel.wait_readable(self.socket)
            self._drained = False
            try:
                data = self.socket.recv(RECV_SIZE)
            except BlockingIOError:
                self._drained = True
                continue
            except OSError as error:
                raise trio.BrokenResourceError(str(error)) from error
            self._drained = len(data) < RECV_SIZE
            if not data:
                return False
            self._incoming.write(data)
            return True

    # ---- sending ---------------------------------------------------------------------
    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt ``data`` and send it whole (a checkpoint, as every Trio send is: a
        task that sends in a loop lets the others run)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_open()
        try:
            self._ssl.write(data)
        except ssl.SSLError as error:
            raise trio.BrokenResourceError(str(error)) from error
        await self._flush()
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        self._check_open()
        await trio.lowlevel.wait_writable(self.socket)

    async def _flush(self) -> None:
        """Send every record waiting, after any send in progress (see ``_sending``)."""
        while self._sending is not None:
            await self._sending.wait()
        if self._state == "broken":
            raise trio.BrokenResourceError("an earlier send on this stream was cut short")
        if not self._outgoing.pending:
            return  # what we wrote went out with an earlier send, now finished
        self._sending = sending = trio.Event()
        try:
            await self._send_raw(self._outgoing.read())
        finally:
            self._sending = None
            sending.set()

    async def _send_raw(self, data: bytes) -> None:
        view, sock = memoryview(data), self.socket
        try:
            while view:
                try:
                    sent = sock.send(view)
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(sock)
                    continue
                except OSError as error:
                    raise trio.BrokenResourceError(str(error)) from error
                view = view[sent:]
        except BaseException:
            # A record cut in two (a cancelled or failed send): nothing more can follow.
            if view and self._state == "open":
                self._state = "broken"
            raise

    async def _flush_quietly(self) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._flush()

    # ---- closing ---------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._state == "closed":
            raise trio.ClosedResourceError("the TLS stream is closed")

    async def aclose(self) -> None:
        """Send ``close_notify`` (when the stream is whole) and close the socket; does not
        wait for the peer's. Idempotent."""
        if self._state == "closed":
            await trio.lowlevel.checkpoint()
            return
        whole = self._state == "open"
        try:
            if whole:
                # SSLWantReadError: our close_notify is queued, the peer's not read.
                with contextlib.suppress(ssl.SSLError, ValueError):
                    self._ssl.unwrap()
                await self._flush_quietly()
            else:
                await trio.lowlevel.checkpoint()
        finally:
            self._state = "closed"
            trio.lowlevel.notify_closing(self.socket)
            self.socket.close()
