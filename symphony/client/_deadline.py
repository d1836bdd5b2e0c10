"""One deadline for a whole blocking request, and answers read within a size.

``http.client`` gives a socket one timeout per wait: a server that drips its head a
byte at a time keeps each wait short and the request going for ever. Here the socket
is wrapped so that every wait (connect, each send, each read of the head and the body)
gets what is left of one deadline, and an answer is read in chunks, counted, and
refused once it is larger than the client takes.
"""

from __future__ import annotations

import http.client
import io
import socket
import time
from typing import Any

from . import _common as c

#: Bytes read from an answer at a time (the answer is counted as it comes).
CHUNK = 64 * 1024


class Deadline:
    """A moment, ``seconds`` from now, by which a request must be done."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left, or :class:`TimeoutError` once none are (a timeout of zero
        would make a socket non-blocking, not fail it)."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        return left


class DeadlineSocket:
    """A connected socket (plain or TLS) whose every wait ends by one deadline.

    ``deadline`` may be set to None later: a followed log stream waits as long as its
    job is quiet. Everything else is the wrapped socket's own.
    """

    def __init__(self, sock: socket.socket, deadline: Deadline | None) -> None:
        self._sock = sock
        self.deadline = deadline

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def _arm(self) -> None:
        self._sock.settimeout(None if self.deadline is None else self.deadline.left())

    def recv_into(self, buffer: Any, *args: Any) -> int:
        self._arm()
        return self._sock.recv_into(buffer, *args)

    def recv(self, size: int, *args: Any) -> bytes:
        self._arm()
        return self._sock.recv(size, *args)

    def sendall(self, data: Any) -> None:
        # One send at a time, each armed anew: a TLS socket's sendall would give every
        # piece the whole timeout again.
        view = memoryview(data).cast("B")
        while view:
            self._arm()
            view = view[self._sock.send(view) :]

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        """What ``http.client`` reads an answer from: its reads come back through
        :meth:`recv_into`, so through the deadline."""
        if mode != "rb":
            raise ValueError(f"only 'rb' is read through a deadline, not {mode!r}")
        # Counted on the wrapped socket as its own makefile does: closing the connection
        # (it does once an answer says "Connection: close") leaves the socket open
        # until the answer's reader is closed too.
        self._sock._io_refs += 1  # type: ignore[attr-defined]
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:
        self._sock._decref_socketios()  # type: ignore[attr-defined]


def connect(conn: http.client.HTTPConnection, deadline: Deadline) -> None:
    """Connect (and, over TLS, shake hands) within what is left of ``deadline``, then
    put every later wait of ``conn`` under it."""

    def tcp(address: tuple[str, int], timeout: Any, source: Any = None) -> socket.socket:
        # As socket.create_connection, but each address tried gets what is left (not
        # the whole timeout again), and so does the TLS handshake that comes next.
        host, port = address
        error: OSError = OSError(f"no address for {host!r}")
        for family, kind, proto, _, where in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(deadline.left())
                if source:
                    sock.bind(source)
                sock.connect(where)
                # ``HTTPSConnection`` shakes hands on this socket next, with its timeout
                # as it is.
                sock.settimeout(deadline.left())
            except OSError as exc:  # TimeoutError too: the deadline passed
                sock.close()
                error = exc
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        raise error

    conn._create_connection = tcp  # type: ignore[attr-defined]
    conn.connect()
    conn.sock = DeadlineSocket(conn.sock, deadline)


def release(conn: http.client.HTTPConnection) -> None:
    """Lift the deadline from ``conn``: a followed stream waits for lines unbounded."""
    if isinstance(conn.sock, DeadlineSocket):
        conn.sock.deadline = None


def read_answer(response: http.client.HTTPResponse, limit: int) -> bytes:
    """The whole body of ``response``, or the :class:`ApiError` of one over ``limit``
    bytes (told by its Content-Length at once, else when it gets there)."""
    if response.length is not None and response.length > limit:
        raise c.too_large(response.status, limit)
    parts: list[bytes] = []
    size = 0
    while chunk := response.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise c.too_large(response.status, limit)
        parts.append(chunk)
    return b"".join(parts)
