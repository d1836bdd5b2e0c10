"""symphony.client against hostile servers: answers without end, answers that drip,
listings that go round.

Each server here is a raw socket on 127.0.0.1 in a thread, so it can do what no
HTTP library would: stream a body for ever, send its head a byte at a time, answer
the same ``next_cursor`` again and again. Each one stops on its own after a while, so
that a client without bounds fails these tests instead of hanging them.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import symphony.client._common as common
from symphony.client import ApiError, AsyncClient, Client, ConductorUnreachable

Behaviour = Callable[[socket.socket, str], None]

#: How much of an endless body a server sends before giving up (a client without a
#: bound reads it all, then fails on the JSON: not the error these tests want).
ENDLESS = 8 * 1024 * 1024
#: The client's bound in these tests: small, so that the tests are quick.
LIMIT = 256 * 1024


def _head(conn: socket.socket, extra: str = "") -> None:
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}\r\n".encode())


def endless(conn: socket.socket, path: str) -> None:
    """A JSON body that never closes its list (until ENDLESS bytes)."""
    _head(conn, "Connection: close\r\n")
    conn.sendall(b'{"nodes": [')
    item = b'{"id": "n", "state": "ready"},' * 1000
    for _ in range(ENDLESS // len(item)):
        conn.sendall(item)


def huge_length(conn: socket.socket, path: str) -> None:
    """A head that announces a terabyte (and a body that never comes)."""
    _head(conn, f"Content-Length: {10**12}\r\n")
    time.sleep(5)


def drip_head(conn: socket.socket, path: str) -> None:
    """A head sent one byte every 50 ms: each wait is short, the whole is not."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for byte in b"X-Slow: " + b"a" * 200:
        conn.sendall(bytes([byte]))
        time.sleep(0.05)


def drip_body(conn: socket.socket, path: str) -> None:
    """A prompt head, then a body one byte every 50 ms."""
    body = b'{"status": "ok", "padding": "' + b"a" * 200 + b'"}'
    _head(conn, f"Content-Length: {len(body)}\r\n")
    for byte in body:
        conn.sendall(bytes([byte]))
        time.sleep(0.05)


class Pages:
    """``GET /deployments`` answered with cursors from ``cursors(n)`` (the n-th page),
    and with the last page once ``after`` pages were served."""

    def __init__(self, cursors: Callable[[int], str], after: int = 50, items: int = 0) -> None:
        self.cursors = cursors
        self.after = after
        self.items = items  # deployments per page (each about 100 bytes)
        self.served = 0

    def __call__(self, conn: socket.socket, path: str) -> None:
        self.served += 1
        cursor = None if self.served > self.after else self.cursors(self.served)
        items = [{"id": f"d{self.served}-{i}", "name": "x" * 80} for i in range(self.items)]
        body = json.dumps({"deployments": items, "next_cursor": cursor}).encode()
        _head(conn, f"Content-Length: {len(body)}\r\nConnection: close\r\n")
        conn.sendall(body)


def _serve(listener: socket.socket, behaviour: Behaviour) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # the listener was closed: the test is over
        threading.Thread(target=_answer, args=(conn, behaviour), daemon=True).start()


def _answer(conn: socket.socket, behaviour: Behaviour) -> None:
    with conn:
        request = b""
        while b"\r\n\r\n" not in request:
            data = conn.recv(4096)
            if not data:
                return
            request += data
        with contextlib.suppress(OSError):  # the client hung up: what it should do
            behaviour(conn, request.split(b" ")[1].decode())


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], str]]:
    listeners: list[socket.socket] = []

    def start(behaviour: Behaviour) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)
        threading.Thread(target=_serve, args=(listener, behaviour), daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener in listeners:
        listener.close()


def _client(url: str, timeout: float = 30.0) -> Client:
    client = Client(url, token="t", timeout=timeout)
    client.max_answer = LIMIT
    return client


def _async_client(url: str, timeout: float = 30.0) -> AsyncClient:
    client = AsyncClient(url, token="t", timeout=timeout)
    client.max_answer = LIMIT
    return client


# ---- answers without end -------------------------------------------------------------------
@pytest.mark.parametrize("behaviour", [endless, huge_length])
def test_client_answer_over_the_limit_is_an_api_error(
    serve: Callable[[Behaviour], str], behaviour: Behaviour
) -> None:
    client = _client(serve(behaviour))
    with pytest.raises(ApiError, match="answer too large") as caught:
        client.nodes()
    assert caught.value.status == 200


@pytest.mark.parametrize("behaviour", [endless, huge_length])
async def test_client_async_answer_over_the_limit_is_an_api_error(
    serve: Callable[[Behaviour], str], behaviour: Behaviour
) -> None:
    async with _async_client(serve(behaviour)) as client:
        with pytest.raises(ApiError, match="answer too large"):
            await client.nodes()


# ---- answers that drip ---------------------------------------------------------------------
@pytest.mark.parametrize("behaviour", [drip_head, drip_body])
def test_client_timeout_bounds_the_whole_request(
    serve: Callable[[Behaviour], str], behaviour: Behaviour
) -> None:
    client = _client(serve(behaviour), timeout=0.5)
    began = time.monotonic()
    with pytest.raises(ConductorUnreachable, match="timed out"):
        client.health()
    assert time.monotonic() - began < 4.0  # the server drips for 10 s


@pytest.mark.parametrize("behaviour", [drip_head, drip_body])
async def test_client_async_timeout_bounds_the_whole_request(
    serve: Callable[[Behaviour], str], behaviour: Behaviour
) -> None:
    async with _async_client(serve(behaviour), timeout=0.5) as client:
        began = time.monotonic()
        with pytest.raises(ConductorUnreachable, match="timed out"):
            await client.health()
        assert time.monotonic() - began < 4.0


# ---- listings that go round ----------------------------------------------------------------
ROUND = {
    "same": lambda n: "c1",
    "cycle": lambda n: f"c{n % 3}",
}


@pytest.mark.parametrize("kind", ROUND)
def test_client_listing_whose_cursor_comes_back_is_an_error(
    serve: Callable[[Behaviour], str], kind: str
) -> None:
    client = _client(serve(Pages(ROUND[kind])))
    with pytest.raises(ApiError, match="goes round"):
        client.list_deployments()


@pytest.mark.parametrize("kind", ROUND)
async def test_client_async_listing_whose_cursor_comes_back_is_an_error(
    serve: Callable[[Behaviour], str], kind: str
) -> None:
    async with _async_client(serve(Pages(ROUND[kind]))) as client:
        with pytest.raises(ApiError, match="goes round"):
            await client.list_deployments()


def test_client_listing_ends_within_its_pages(
    serve: Callable[[Behaviour], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "MAX_PAGES", 5)
    pages = Pages(lambda n: f"c{n}", after=20)
    client = _client(serve(pages))
    with pytest.raises(ApiError, match="more than 5 pages"):
        client.list_deployments()
    assert pages.served == 5


async def test_client_async_listing_ends_within_its_pages(
    serve: Callable[[Behaviour], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "MAX_PAGES", 5)
    async with _async_client(serve(Pages(lambda n: f"c{n}", after=20))) as client:
        with pytest.raises(ApiError, match="more than 5 pages"):
            await client.list_deployments()


def test_client_listing_ends_within_its_bytes(serve: Callable[[Behaviour], str]) -> None:
    # Pages of 1,000 deployments (about 100 KiB), each under the client's bound, and a
    # new cursor every time: kept whole, the listing would grow to 50 pages' worth.
    pages = Pages(lambda n: f"c{n}", after=50, items=1000)
    client = _client(serve(pages))
    with pytest.raises(ApiError, match=f"a listing of more than {LIMIT} bytes"):
        client.list_deployments()
    assert pages.served <= 4


async def test_client_async_listing_ends_within_its_bytes(
    serve: Callable[[Behaviour], str],
) -> None:
    pages = Pages(lambda n: f"c{n}", after=50, items=1000)
    async with _async_client(serve(pages)) as client:
        with pytest.raises(ApiError, match=f"a listing of more than {LIMIT} bytes"):
            await client.list_deployments()
    assert pages.served <= 4


def test_client_listing_of_new_cursors_reads_every_page(
    serve: Callable[[Behaviour], str],
) -> None:
    pages = Pages(lambda n: f"c{n}", after=12)
    assert _client(serve(pages)).list_deployments() == []
    assert pages.served == 13


# ---- a followed log line without end ---------------------------------------------------------
LONG = common.MAX_LINE * 5 // 2


def long_line(conn: socket.socket, path: str) -> None:
    """A followed log whose first line is 2.5 times the longest piece a client holds."""
    _head(conn, "Connection: close\r\n")
    conn.sendall(b"a" * LONG + b"\nend\n")


def test_client_followed_line_comes_in_pieces(serve: Callable[[Behaviour], str]) -> None:
    lines = list(_client(serve(long_line)).follow_logs("web"))
    assert [len(line) for line in lines] == [
        common.MAX_LINE,
        common.MAX_LINE,
        LONG % common.MAX_LINE,
        3,
    ]
    assert lines[-1] == "end"


async def test_client_async_followed_line_comes_in_pieces(
    serve: Callable[[Behaviour], str],
) -> None:
    async with _async_client(serve(long_line)) as client:
        lines = [line async for line in client.follow_logs("web")]
    assert [len(line) for line in lines] == [
        common.MAX_LINE,
        common.MAX_LINE,
        LONG % common.MAX_LINE,
        3,
    ]
    assert lines[-1] == "end"


# ---- a Conductor that cannot be reached, then the next -------------------------------------
def healthy(conn: socket.socket, path: str) -> None:
    """A prompt, whole answer."""
    body = b'{"status": "ok"}'
    _head(conn, f"Content-Length: {len(body)}\r\nConnection: close\r\n")
    conn.sendall(body)


@pytest.fixture
def switched_off() -> Iterator[str]:
    """A Conductor whose connects hang, as one switched off behind a firewall that drops
    them: a listener whose queue of connections is full and never accepted, so the
    kernel drops each new SYN (the connect waits, never refused)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    address = listener.getsockname()
    filler = socket.create_connection(address, timeout=1)  # the one place in the queue
    yield f"http://127.0.0.1:{address[1]}"
    filler.close()
    listener.close()


def test_client_moves_on_from_a_conductor_that_uses_its_whole_timeout(
    serve: Callable[[Behaviour], str], switched_off: str
) -> None:
    # Each URL gets its own timeout: one Conductor that cannot be reached in time must
    # not use up the next one's too.
    client = _client(f"{switched_off},{serve(healthy)}", timeout=0.5)
    assert client.health() == {"status": "ok"}
    assert client.url != switched_off


async def test_client_async_moves_on_from_a_conductor_that_uses_its_whole_timeout(
    serve: Callable[[Behaviour], str], switched_off: str
) -> None:
    async with _async_client(f"{switched_off},{serve(healthy)}", timeout=0.5) as client:
        assert await client.health() == {"status": "ok"}
        assert client.url != switched_off


# ---- a log tail the Conductor waits for ----------------------------------------------------
def slow_tail(conn: socket.socket, path: str) -> None:
    """A log tail answered after a wait longer than the client's ordinary timeout, as a
    Conductor waits for the node to send it."""
    time.sleep(1.0)
    body = b"line 1\nline 2\n"
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )


def test_client_log_tail_waits_longer_than_the_conductor() -> None:
    # Else the client gives up before the Conductor's own clear 504.
    from symphony.conductor.api.routes_logs import TAIL_TIMEOUT

    assert common.LOGS_TIMEOUT >= TAIL_TIMEOUT + 30


def test_client_log_tail_is_given_the_time_the_conductor_takes(
    serve: Callable[[Behaviour], str],
) -> None:
    client = _client(serve(slow_tail), timeout=0.5)
    assert client.logs("web") == "line 1\nline 2\n"


async def test_client_async_log_tail_is_given_the_time_the_conductor_takes(
    serve: Callable[[Behaviour], str],
) -> None:
    async with _async_client(serve(slow_tail), timeout=0.5) as client:
        assert await client.logs("web") == "line 1\nline 2\n"


# ---- a change the Conductor takes its time over --------------------------------------------
def test_client_waits_longer_than_the_conductor_gives_a_change() -> None:
    # A create, a PATCH or a restart is given 30 s by the Conductor before its 504, a
    # batch 60 s, a delete 120 s: a client that gives up at the same moment says only
    # "timed out" where the Conductor would have said what happened.
    from symphony.conductor.api.routes_batch import BATCH_TIMEOUT
    from symphony.conductor.api.routes_deployments import DELETE_TIMEOUT

    assert common.TIMEOUT >= 30 + 10
    assert common.BATCH_TIMEOUT >= BATCH_TIMEOUT + 10
    assert common.DELETE_TIMEOUT >= DELETE_TIMEOUT + 10


def slow_batch(conn: socket.socket, path: str) -> None:
    """A batch of creates answered after a wait longer than the client's ordinary
    timeout, as a Conductor's batch takes longer than one create."""
    time.sleep(1.0)
    body = b'{"deployments": [{"id": "d1"}]}'
    _head(conn, f"Content-Length: {len(body)}\r\nConnection: close\r\n")
    conn.sendall(body)


def test_client_batch_is_given_the_time_the_conductor_takes(
    serve: Callable[[Behaviour], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "BATCH_TIMEOUT", 5.0)
    client = _client(serve(slow_batch), timeout=0.5)
    assert client.create_deployments([{"name": "a"}]) == [{"id": "d1"}]


async def test_client_async_batch_is_given_the_time_the_conductor_takes(
    serve: Callable[[Behaviour], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "BATCH_TIMEOUT", 5.0)
    async with _async_client(serve(slow_batch), timeout=0.5) as client:
        assert await client.create_deployments([{"name": "a"}]) == [{"id": "d1"}]


# ---- a TLS handshake after a slow connect --------------------------------------------------
def silent(conn: socket.socket, path: str) -> None:
    """Never reached: the client's TLS hello is no HTTP head, so it is never answered."""


def test_client_tls_handshake_gets_what_the_connect_left(
    serve: Callable[[Behaviour], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The network is a boundary we cannot slow here: a connect that takes 1.5 s is
    # made by waiting before the real one. The server accepts and never answers the
    # client's TLS hello, so the handshake waits for whatever time it is given.
    real = socket.socket.connect

    def slow_connect(self: socket.socket, address: object) -> None:
        time.sleep(1.5)
        real(self, address)

    monkeypatch.setattr(socket.socket, "connect", slow_connect)
    url = serve(silent).replace("http://", "https://")
    client = _client(url, timeout=2.0)
    began = time.monotonic()
    with pytest.raises(ConductorUnreachable, match="timed out"):
        client.health()
    # Within its 2 s, not 1.5 s of connect and 2 s more to shake hands (3.5 s).
    assert time.monotonic() - began < 2.75
