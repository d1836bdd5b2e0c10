"""Downloading one archive to a file: http(s) or file://, size-capped, digest computed.

The caller names the file; it is written as the bytes arrive and the sha256 is computed
on the way, so a 1 GB archive never sits in memory. More than ``max_bytes`` (announced
by the server or actually received) stops the download: the cache could not keep it.
``on_progress(done, total)`` is called as bytes arrive (``total`` None when unknown).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import trio

from symphony.errors import SymphonyError

Progress = Callable[[int, int | None], None]
#: A server that sends nothing for this long has failed.
READ_TIMEOUT = 60.0
_CHUNK = 1 << 20


class FetchError(SymphonyError):
    """The archive could not be fetched; the message is the reason shown to the user."""


def _too_big(max_bytes: int) -> FetchError:
    return FetchError(f"the archive is larger than the node's cache ({max_bytes} bytes)")


async def fetch(url: str, path: str, *, max_bytes: int, on_progress: Progress) -> str:
    """Write what ``url`` names into ``path``; return its sha256 (hex)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return await trio.to_thread.run_sync(_copy_file, unquote(parts.path), path, max_bytes)
    if parts.scheme in ("http", "https"):
        return await _http(url, path, max_bytes, on_progress)
    raise FetchError(f"cannot fetch {url[:100]!r}: unsupported scheme")


def _copy_file(source: str, path: str, max_bytes: int) -> str:
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as src, open(path, "wb") as out:
            size = os.fstat(src.fileno()).st_size
            if size > max_bytes:
                raise _too_big(max_bytes)
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except OSError as error:
        raise FetchError(f"cannot read {source}: {error.strerror or error}") from None
    return digest.hexdigest()


async def _http(url: str, path: str, max_bytes: int, on_progress: Progress) -> str:
    # urllib in a worker thread: several times faster than an async client in Python for
    # large bodies. Cancellation sets ``stop``; the thread sees it at the next chunk.
    from .httpget import http_blocking  # urllib and http.client: only for a download

    stop = threading.Event()

    def report(done: int, total: int | None) -> None:
        trio.from_thread.run_sync(on_progress, done, total)

    try:
        return await trio.to_thread.run_sync(
            http_blocking, url, path, max_bytes, report, stop, abandon_on_cancel=True
        )
    finally:
        stop.set()
