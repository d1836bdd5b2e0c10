"""A download answered with an error closes its connection at once.

urllib's HTTPError holds the answer (and its socket) for the error's reader; dropped
unread, it stayed open until the garbage collector found it, in whichever test that
happened (a ResourceWarning, an error under this suite's warning filter).
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from symphony.node.sources.fetch import FetchError
from symphony.node.sources.httpget import http_blocking

from .helpers import http_server


def test_a_download_answered_404_keeps_no_connection_open(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with http_server(site) as server:
        port = urlsplit(server.url).port
        try:
            http_blocking(
                f"{server.url}/missing.zip",
                str(tmp_path / "out"),
                1 << 20,
                lambda done, total: None,
                threading.Event(),
            )
        except FetchError as error:
            kept = error  # the error lives on, as one carried through a task does
        open_to_server = [
            c
            for c in psutil.Process().net_connections(kind="tcp")
            if c.raddr and c.raddr.port == port
        ]
        assert "answered 404" in str(kept)
        assert open_to_server == []
