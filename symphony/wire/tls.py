"""The link's TLS stream, both ends: what a node link's bytes pass through, little per read.

``trio.SSLStream`` is general: any transport below it, renegotiation, one task's
receive and another's send in any order, each guarded by locks and conflict detectors.
Each ``receive_some`` on it passes through about ten coroutines (its retry loop, the
transport stream, the socket's wrapper and its try-then-wait helper) and, when no record
is waiting, first fails a read of the TLS object and a ``recv`` with an exception each.
A Conductor reads thousands of links that each bring a heartbeat every few seconds, and
every link waits for its next one in that chain: those coroutines, created per read and
alive for seconds, are most of what its garbage collector examines, and the locks and
detectors are a good part of what a link keeps (see docs/benchmarks.md, "Node scale").
A node has one link, but a burst of starts passes every command and every status
through it: there the same chain was a good part of the agent's CPU.

:class:`TLSStream` is TLS for one case: either side of a TCP connection (the
Conductor's, or with ``server_hostname`` a node's), read by one task at a time. It
drives a non-blocking :class:`ssl.SSLSocket`, so OpenSSL reads and writes the socket
itself: no memory BIOs in between (each keeps a buffer as large as the largest flight
that passed through it, the handshake's certificates included, for as long as the link
lives: 3-4 KiB per link). A read with nothing decrypted left
waits on the socket at once (:func:`trio.lowlevel.wait_readable`) when the previous
read had drained it. Sends from any task are written whole and in order (an event per
send, not a lock per stream: most links rarely send). Errors are trio's:
:class:`trio.BrokenResourceError` (from the ``ssl.SSLError`` or ``OSError``, as its
``__cause__``), :class:`trio.ClosedResourceError` once closed. A peer that leaves
without ``close_notify`` reads as the end of the stream.

>>> stream = TLSStream.over(tcp, server_context)   # doctest: +SKIP
>>> await stream.do_handshake()                    # doctest: +SKIP
>>> stream.getpeercert(binary_form=True)           # doctest: +SKIP

A node's side checks the server's certificate against ``server_hostname``:

>>> stream = TLSStream.over(tcp, client_context, server_hostname="conductor.example")
...                                                # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import Any

import trio

__all__ = ["TLSStream"]

#: Plaintext bytes returned per ``receive_some`` when the caller gives no limit.
DEFAULT_RECEIVE = 16384


class TLSStream(trio.abc.Stream):
    """TLS over ``sock`` (a connected TCP socket; see the module doc): the server's side,
    or with ``server_hostname`` the client's, which checks the server's certificate
    against that name (when ``context`` checks host names, as a client's does).

    ``sock`` is the standard library's socket; the stream owns it (``aclose`` closes
    it). ``socket`` is the non-blocking :class:`ssl.SSLSocket` made from it.
    """

    __slots__ = ("_drained", "_sending", "_state", "socket")

    def __init__(
        self, sock: socket.socket, context: ssl.SSLContext, *, server_hostname: str | None = None
    ) -> None:
        sock.setblocking(False)
        self.socket = context.wrap_socket(
            sock,
            server_side=server_hostname is None,
            server_hostname=server_hostname,
            do_handshake_on_connect=False,
        )
        self._drained = True  # the last read took all there was: wait before the next
        self._state = "open"  # "open", "broken" (a send was cut short), "closed"
        # Set while a task sends: another waits for it (records go out whole, in order).
        self._sending: trio.Event | None = None

    @classmethod
    def over(
        cls, tcp: trio.SocketStream, context: ssl.SSLContext, *, server_hostname: str | None = None
    ) -> TLSStream:
        """TLS over the socket of Trio's TCP stream ``tcp``, which it takes over (the
        TCP stream is left empty: do not use it again)."""
        raw = tcp.socket
        sock = socket.socket(raw.family, raw.type, raw.proto, raw.detach())
        try:
            return cls(sock, context, server_hostname=server_hostname)
        except BaseException:
            sock.close()
            raise

    # ---- the TLS session -------------------------------------------------------------
    async def do_handshake(self) -> None:
        """Complete the handshake; :class:`trio.BrokenResourceError` if it fails."""
        self._check_open()
        sock = self.socket
        while True:
            try:
                sock.do_handshake()
                return
            except ssl.SSLWantReadError:
                await trio.lowlevel.wait_readable(sock)
            except ssl.SSLWantWriteError:
                await trio.lowlevel.wait_writable(sock)
            except (ssl.SSLError, OSError, ValueError) as error:
                raise trio.BrokenResourceError(str(error)) from error

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate, as :meth:`ssl.SSLSocket.getpeercert`."""
        return self.socket.getpeercert(binary_form)

    # ---- receiving -------------------------------------------------------------------
    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Up to ``max_bytes`` bytes of plaintext; ``b""`` once the peer has ended."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_open()
        size = max_bytes or DEFAULT_RECEIVE
        sock, waited = self.socket, False
        while True:
            if self._drained and not sock.pending():
                # Nothing decrypted is left and the socket was empty: wait for it
                # rather than fail a read (an exception) first.
                await trio.lowlevel.wait_readable(sock)
                waited = True
            try:
                data = sock.recv(size)  # b"" at close_notify or the socket's end
            except ssl.SSLWantReadError:
                self._drained = True
                continue
            except ssl.SSLWantWriteError:  # what reading must answer cannot go yet
                # A sender that waits for room waits on the socket itself (one task
                # at a time may): wait for it to finish instead.
                if self._sending is not None:
                    await self._sending.wait()
                    # It may have ended because the stream was cut (``cut``): the
                    # socket is gone, and waiting on it would fail as something else.
                    self._check_open()
                else:
                    await trio.lowlevel.wait_writable(sock)
                waited = True
                continue
            except (ssl.SSLError, OSError) as error:
                raise trio.BrokenResourceError(str(error)) from error
            # A read that filled the request may have left more in the socket.
            self._drained = len(data) < size
            if not waited:
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data

    # ---- sending ---------------------------------------------------------------------
    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt ``data`` and send it whole (a checkpoint, as every Trio send is: a
        task that sends in a loop lets the others run)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while self._sending is not None:
            await self._sending.wait()
        self._check_open()
        if self._state == "broken":
            raise trio.BrokenResourceError("an earlier send on this stream was cut short")
        self._sending = sending = trio.Event()
        try:
            await self._send(memoryview(data))
        finally:
            self._sending = None
            sending.set()
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def _send(self, view: memoryview) -> None:
        sock = self.socket
        try:
            while view:
                try:
                    # All of it, or SSLWantWriteError (OpenSSL then holds what it has
                    # encrypted and wants the same data again).
                    view = view[sock.send(view) :]
                except ssl.SSLWantWriteError:
                    await trio.lowlevel.wait_writable(sock)
                except ssl.SSLWantReadError as error:  # TLS 1.3 writes never wait to read
                    raise trio.BrokenResourceError("TLS asked to read while writing") from error
                except (ssl.SSLError, OSError) as error:
                    raise trio.BrokenResourceError(str(error)) from error
        except BaseException:
            # A write left half done (cancelled, failed): nothing more can follow it.
            if view and self._state == "open":
                self._state = "broken"
            raise

    async def wait_send_all_might_not_block(self) -> None:
        self._check_open()
        await trio.lowlevel.wait_writable(self.socket)

    # ---- closing ---------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._state == "closed":
            raise trio.ClosedResourceError("the TLS stream is closed")

    def cut(self) -> None:
        """Close the stream now, without ``close_notify``, from any task (it need not be
        the one that uses it): every task waiting on it wakes with
        :class:`trio.ClosedResourceError`, as Trio's own sockets do when closed under
        their users. Idempotent; a later ``aclose`` finds it closed."""
        if self._state == "closed":
            return
        self._state = "closed"
        trio.lowlevel.notify_closing(self.socket)
        self.socket.close()

    async def aclose(self) -> None:
        """Send ``close_notify`` (when the stream is whole and the socket takes it at
        once) and close the socket; does not wait for the peer's. Idempotent."""
        if self._state == "closed":
            await trio.lowlevel.checkpoint()
            return
        sock, whole = self.socket, self._state == "open" and self._sending is None
        self._state = "closed"
        try:
            if whole:
                # SSLWantReadError: our close_notify went out, the peer's is not read.
                with contextlib.suppress(ssl.SSLError, OSError, ValueError):
                    sock.unwrap()
        finally:
            trio.lowlevel.notify_closing(sock)
            sock.close()
        await trio.lowlevel.checkpoint()
