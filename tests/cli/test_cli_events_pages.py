"""``symphony events`` against a real HTTP server whose pages do not move on.

``all_events`` asks for page after page, each ``after`` the last event's id. A server
that answers the same page again (or one that ends before where it began) was asked for
ever, its answers piling up in memory; each server here gives up after a while on its
own, so that a client without the guard fails these tests instead of hanging them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from symphony.cli import logs, main

#: Pages a server answers before it ends the listing itself (an empty page).
GIVE_UP = 40

Ids = Callable[[int, int], list[object]]  # (after, the n-th request) -> the page's ids


class Events:
    """``GET /deployments/web/events``: the page ``ids(after, n)`` names."""

    def __init__(self, ids: Ids) -> None:
        self.ids = ids
        self.asked: list[int] = []

    def page(self, query: str) -> bytes:
        after = int(parse_qs(query).get("after", ["0"])[0])
        self.asked.append(after)
        ids = self.ids(after, len(self.asked)) if len(self.asked) <= GIVE_UP else []
        events = [{"id": i, "kind": "started", "at": 0, "message": "m"} for i in ids]
        return json.dumps({"events": events, "next_after": after}).encode()


@pytest.fixture
def conductor(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Ids], Events]]:
    servers: list[ThreadingHTTPServer] = []
    monkeypatch.setenv("SYMPHONY_TOKEN", "t")

    def start(ids: Ids) -> Events:
        events = Events(ids)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = events.page(urlsplit(self.path).query)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass  # quiet

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        monkeypatch.setenv("SYMPHONY_URL", f"http://127.0.0.1:{server.server_address[1]}")
        return events

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def full_page(first: int) -> list[object]:
    return list(range(first, first + logs.EVENTS_PAGE))


@pytest.mark.parametrize(
    ("ids", "says"),
    [
        (lambda after, n: full_page(1), "after id 1000 end at id 1000: the listing goes round"),
        (lambda after, n: full_page(1 + n % 2), "the events after id 1001 end at id 1000"),
        (lambda after, n: [*full_page(1)[:-1], "x"], "an event without a whole-number id"),
        # A server that ignores ``limit``: pages of any size, each kept.
        (lambda after, n: list(range(after + 1, after + 5001)), "a page of 5000 events"),
    ],
    ids=["same-page", "back-and-forth", "no-id", "page-too-large"],
)  # fmt: skip
def test_events_whose_pages_do_not_move_on_are_refused(
    conductor: Callable[[Ids], Events],
    capsys: pytest.CaptureFixture[str],
    ids: Ids,
    says: str,
) -> None:
    server = conductor(ids)
    assert main(["events", "web"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("symphony: error: unexpected answer: ") and says in err, err
    assert len(server.asked) <= 2


def test_events_that_count_on_for_ever_end_within_the_page_bound(
    conductor: Callable[[Ids], Events],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "MAX_EVENT_PAGES", 5)
    server = conductor(lambda after, n: full_page(after + 1))
    assert main(["events", "web"]) == 1
    assert "more than 5 pages of events (5,000) and no end" in capsys.readouterr().err
    assert server.asked == [0, 1000, 2000, 3000, 4000]


def test_events_read_every_page_of_a_listing_that_moves_on(
    conductor: Callable[[Ids], Events], capsys: pytest.CaptureFixture[str]
) -> None:
    server = conductor(lambda after, n: full_page(after + 1) if n < 3 else [after + 1])
    assert main(["events", "web", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2 * logs.EVENTS_PAGE + 1
    assert server.asked == [0, 1000, 2000]
