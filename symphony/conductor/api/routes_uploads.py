"""``POST /uploads``: an archive for ``config.image: "upload:<sha256>"``.

The body is the archive itself (``Content-Type: application/octet-stream``), at most
:data:`~symphony.conductor.uploads.MAX_UPLOAD` bytes (the only route with a limit above
the API's 1 MiB). The answer names it::

    {"sha256": "9f86d0...", "size": 1048576, "image": "upload:9f86d0..."}

``symphony deploy --upload DIR`` packs a directory, uploads it and deploys the spec with
that ``image`` and ``sha256``. See :mod:`symphony.conductor.uploads`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from quart import Blueprint, request
from quart_trio.wrappers import TrioRequest

from symphony.archivekind import HEAD_BYTES, archive_kind

from ..uploads import MAX_UPLOAD, PREFIX, UploadTooLarge
from .app import context
from .errors import HttpError

uploads = Blueprint("uploads", __name__)
UPLOAD_PATH = "/uploads"
#: Media types an upload may be sent as. None of them is one a web page may send
#: cross-site without asking first (a CORS preflight, never granted).
UPLOAD_TYPES = frozenset({"application/octet-stream", "application/gzip", "application/zip"})


class UploadingRequest(TrioRequest):
    """The app's request class: ``POST /uploads`` and requests to a service under ``/x/``
    may carry up to ``MAX_UPLOAD`` bytes, every other request at most the API's own
    limit (decided before a byte is read)."""

    def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any) -> None:
        if (method == "POST" and path == UPLOAD_PATH) or path.startswith("/x/"):
            kwargs["max_content_length"] = MAX_UPLOAD
        super().__init__(method, scheme, path, *args, **kwargs)


@uploads.post(UPLOAD_PATH)
async def upload() -> tuple[dict[str, Any], int]:
    store = context().uploads
    if store is None:
        raise HttpError(503, "unavailable", "this Conductor keeps no uploads")

    try:
        sha, size = await store.save(_archive(request.body))
    except UploadTooLarge as error:
        raise HttpError(413, "too large", str(error)) from None
    if size == 0:
        raise HttpError(400, "malformed request", "an upload needs a body: the archive")
    return {"sha256": sha, "size": size, "image": PREFIX + sha}, 201


async def _archive(body: Any) -> AsyncGenerator[bytes, None]:
    """The body's chunks, once its first bytes say it is an archive a node unpacks: any
    other upload would only fail later, at each instance's start, taking the disk
    meanwhile. Refused (422) before a byte is stored."""
    head = b""
    chunks = aiter(body)
    async for chunk in chunks:
        head += chunk
        if len(head) >= HEAD_BYTES:
            break
    if head and archive_kind(head[:HEAD_BYTES]) is None:
        detail = "an upload is a zip, tar, tar.gz or tar.zst archive; this is none of them"
        raise HttpError(422, "not an archive", detail)
    if head:
        yield head
    async for chunk in chunks:
        yield chunk
