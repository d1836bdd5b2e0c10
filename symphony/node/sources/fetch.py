"""Downloading one archive to a file: http(s) or file://, size-capped, digest computed.

The caller names the file; it is written as the bytes arrive and the sha256 is computed
on the way, so a 1 GB archive never sits in memory. More than ``max_bytes`` (announced
by the server or actually received) stops the download: the cache could not keep it.
``on_progress(done, total)`` is called as bytes arrive (``total`` None when unknown).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
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


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) URLs only (urllib would also follow one to ftp:)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> Any:  # fmt: skip
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise FetchError(f"redirected to {newurl[:100]!r}: only http(s) is followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


async def _http(url: str, path: str, max_bytes: int, on_progress: Progress) -> str:
    # urllib in a worker thread: several times faster than an async client in Python for
    # large bodies. Cancellation sets ``stop``; the thread sees it at the next chunk.
    stop = threading.Event()

    def report(done: int, total: int | None) -> None:
        trio.from_thread.run_sync(on_progress, done, total)

    try:
        return await trio.to_thread.run_sync(
            _http_blocking, url, path, max_bytes, report, stop, abandon_on_cancel=True
        )
    finally:
        stop.set()


def _http_blocking(
    url: str, path: str, max_bytes: int, report: Progress, stop: threading.Event
) -> str:
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "symphony-node"})
    try:
        with _OPENER.open(request, timeout=READ_TIMEOUT) as response, open(path, "wb") as out:
            declared = response.headers.get("Content-Length")
            total = int(declared) if declared and declared.isdigit() else None
            if total is not None and total > max_bytes:
                raise _too_big(max_bytes)
            done, reported = 0, 0.0
            while chunk := response.read(_CHUNK):
                if stop.is_set():
                    raise FetchError("download cancelled")
                done += len(chunk)
                if done > max_bytes:
                    raise _too_big(max_bytes)
                digest.update(chunk)
                out.write(chunk)
                if time.monotonic() - reported >= 0.5:
                    reported = time.monotonic()
                    report(done, total)
    except urllib.error.HTTPError as error:
        raise FetchError(f"GET {url[:200]} answered {error.code}") from None
    except urllib.error.URLError as error:
        raise FetchError(f"GET {url[:200]} failed: {error.reason}") from None
    except (OSError, http.client.HTTPException) as error:
        raise FetchError(f"GET {url[:200]} failed: {error or type(error).__name__}") from None
    return digest.hexdigest()
