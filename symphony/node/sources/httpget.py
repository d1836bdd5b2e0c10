"""An http(s) download in a worker thread: :func:`~.fetch.fetch`'s blocking half.

Apart from :mod:`.fetch` because urllib's request machinery and ``http.client`` (about
0.7 MiB a process keeps for good) are imported only when a node first downloads.
"""

from __future__ import annotations

import hashlib
import http.client
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from .fetch import _CHUNK, READ_TIMEOUT, FetchError, Progress, _too_big

__all__ = ["http_blocking"]


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) URLs only (urllib would also follow one to ftp:)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> Any:  # fmt: skip
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise FetchError(f"redirected to {newurl[:100]!r}: only http(s) is followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def http_blocking(
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
        error.close()  # it holds the answer and its socket, unread: not till the collector
        raise FetchError(f"GET {url[:200]} answered {error.code}") from None
    except urllib.error.URLError as error:
        raise FetchError(f"GET {url[:200]} failed: {error.reason}") from None
    except (OSError, http.client.HTTPException) as error:
        raise FetchError(f"GET {url[:200]} failed: {error or type(error).__name__}") from None
    return digest.hexdigest()
