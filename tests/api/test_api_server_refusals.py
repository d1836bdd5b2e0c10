"""What the HTTP server refuses before the app sees it is JSON like the API's errors,
answered at once; a request framed two ways, or with a body too large to read, closes."""

from __future__ import annotations

import json
from pathlib import Path

import h11
import trio

from .helpers import Cluster, cluster


async def _ask(c: Cluster, head: bytes, closes: bool) -> tuple[h11.Response, bytes, bool]:
    """Send ``head`` (``{auth}`` replaced by the token's header) on a socket of its own;
    the answer, its body, and whether the server closed right after it (``closes``: what
    is expected)."""
    url = c.http.base_url
    auth = c.http.headers.get("Authorization")
    head = head.replace(b"{host}", f"{url.host}:{url.port}".encode())
    head = head.replace(b"{auth}", f"Authorization: {auth}\r\n".encode() if auth else b"")
    client = h11.Connection(h11.CLIENT)
    method = head.split(b" ", 1)[0]
    client.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    stream = await trio.open_tcp_stream(url.host, url.port)
    async with stream:
        await stream.send_all(head)
        response, body = None, b""
        # Well below the waits the server had (5 s kept alive, 10 s waiting for a body).
        with trio.fail_after(3):
            while True:
                event = client.next_event()
                if event is h11.NEED_DATA:
                    client.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
        # Whether the server closed: an expected close is waited for up to 3 s (a busy
        # machine may be slow to close, yet well before a kept-alive connection's idle
        # close at 5 s); one expected to stay open is looked at for 0.5 s (a false
        # "open" cannot come of a short look).
        closed = False
        with trio.move_on_after(3 if closes else 0.5):
            closed = await stream.receive_some(1) == b""
    assert response is not None
    return response, body, closed


REQUEST = b"GET %s HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"
POST = b"POST /deployments HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\n"


#: (what, request, status, whether the connection closes after the answer)
CASES = [
    ("path not UTF-8 once decoded", REQUEST % b"/deployments/%ff", 400, True),
    ("usage path not UTF-8", REQUEST % b"/nodes/%ff/usage-history", 400, True),
    ("experiment not UTF-8", REQUEST % b"/experiments/%ff", 400, True),
    ("negative length", POST + b"Content-Length: -1\r\n\r\n", 400, True),
    ("long URL", REQUEST % (b"/" + b"a" * 20_000), 431, True),
    (
        "many headers",
        b"GET / HTTP/1.1\r\nHost: {host}\r\n" + b"X-A: b\r\n" * 3000 + b"\r\n",
        431,
        True,
    ),
    # Refused by its declared length, unread: closed at once, not after 10 s.
    ("huge length", POST + b"Content-Length: 99999999999999999999\r\n\r\n", 413, True),
    # Both framings: RFC 9112 6.3, maybe smuggling; answered at once and closed.
    (
        "length and chunks",
        POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        True,
    ),
    # Dot segments the client left: no experiment is named so (was a 308, in HTML).
    ("dot segments", REQUEST % b"/x/../deployments", 404, False),
    ("escaped dot segments", REQUEST % b"/x/%2e%2e/deployments", 404, False),
    # The router's redirect (merged slashes) is JSON too.
    ("double slash", REQUEST % b"/deployments//ok", 308, False),
]


async def test_api_server_refusals_are_json_at_once(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        for what, head, status, closes in CASES:
            response, body, closed = await _ask(c, head, closes)
            assert response.status_code == status, (what, response, body)
            headers = dict(response.headers)
            assert headers[b"content-type"] == b"application/json", what
            answer = json.loads(body)
            assert set(answer) == {"error", "detail"} and answer["detail"], (what, answer)
            assert closed is closes, what
            if status == 308:
                assert headers[b"location"].endswith(b"/deployments/ok")
        assert (await c.http.get("/deployments")).status_code == 200  # all else unharmed
