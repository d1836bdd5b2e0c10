"""A lean HTTP/1.1 keep-alive client for load generation: the server is measured, not us.

httpx costs the benchmark process about as much CPU per request as a fast server spends
answering it; on a 2-core machine the load generator would then take the core the server
needs and cap every server at the same rate. This client writes a prepared request and
reads the status line, the headers and a ``Content-Length`` body, nothing more (no
chunked bodies, no redirects, no TLS): enough for ``POST`` of JSON to either
orchestrator's API on loopback. Both sides of a figure are driven by it.

    async with await RawHttp.connect("http://127.0.0.1:8000") as http:
        status, body = await http.request("POST", "/deployments", b'{"name": "a"}')
"""

from __future__ import annotations

from types import TracebackType
from urllib.parse import urlsplit

import trio


class RawHttp:
    """One keep-alive connection; requests on it go one after another."""

    def __init__(self, stream: trio.SocketStream, host: str) -> None:
        self._stream = stream
        self._host = host
        self._buffer = bytearray()

    @classmethod
    async def connect(cls, url: str) -> RawHttp:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"need http://HOST:PORT, not {url!r}")
        stream = await trio.open_tcp_stream(parts.hostname, parts.port)
        return cls(stream, f"{parts.hostname}:{parts.port}")

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """Send one request with a JSON body; the response's status and body."""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        await self._stream.send_all(head.encode() + body)
        header = await self._until(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "transfer-encoding":
                raise RuntimeError(f"{method} {path}: a {value.strip()} body is not supported")
        while len(self._buffer) < length:
            await self._fill()
        data = bytes(self._buffer[:length])
        del self._buffer[:length]
        return status, data

    async def _until(self, marker: bytes) -> bytes:
        while (end := self._buffer.find(marker)) < 0:
            await self._fill()
        head = bytes(self._buffer[:end])
        del self._buffer[: end + len(marker)]
        return head

    async def _fill(self) -> None:
        chunk = await self._stream.receive_some(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        self._buffer += chunk

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> RawHttp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
