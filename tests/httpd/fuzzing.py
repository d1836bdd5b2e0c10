"""Hostile requests built from fragments, a server in a thread of its own, and a strict
reading of what it answered (for tests/httpd/test_httpd_fuzz.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import h11
import trio
from hypothesis import strategies as st

from symphony.httpd import Scope, ServerSettings, serve

# -- the app: echo, a streamed answer, a WebSocket that echoes --------------------------


#: How long the app waits for a body, or a WebSocket's next message (Quart bounds it too).
APP_WAIT = 5.0


async def fuzz_app(scope: Scope, receive: Any, send: Any) -> None:
    """Never fails: every 5xx or logged error is the server's own."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        if not scope["path"].startswith("/ws"):
            await send({"type": "websocket.close"})
            return
        await send({"type": "websocket.accept"})
        with trio.move_on_after(APP_WAIT):
            while (message := await receive())["type"] == "websocket.receive":
                await send({**message, "type": "websocket.send"})
        await send({"type": "websocket.close"})
    elif scope["path"].startswith("/stream"):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        body = b""
        with trio.move_on_after(APP_WAIT) as waited:
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
        if waited.cancelled_caught:
            headers = [(b"content-length", b"0"), (b"connection", b"close")]
            await send({"type": "http.response.start", "status": 408, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        text = f"{scope['method']} {scope['path']} ".encode() + body
        headers = [(b"content-length", str(len(text)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": text})


# -- the server in a thread: one per test, hypothesis's examples run beside it -----------


class Captured(logging.Handler):
    """The ``symphony.httpd`` logger's records at WARNING and above, and tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING or record.exc_info:
            self.records.append(record)

    def take(self) -> list[str]:
        out = [f"{r.getMessage()}\n{self.format(r)}" for r in self.records]
        self.records.clear()
        return out


@contextmanager
def server_thread(**settings: float) -> Iterator[tuple[int, Captured]]:
    """The real server on 127.0.0.1 in a thread's own Trio run; its port and its log."""
    captured = Captured()
    logger = logging.getLogger("symphony.httpd")
    logger.addHandler(captured)
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = trio.Event()
        box["stop"], box["token"] = stop, trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(
                    serve,
                    fuzz_app,
                    host="127.0.0.1",
                    port=0,
                    shutdown_trigger=stop.wait,
                    settings=ServerSettings(**settings),  # type: ignore[arg-type]
                )
            )
            box["port"] = int(urls[0].rsplit(":", 1)[1])
            ready.set()

    def run() -> None:
        try:
            trio.run(main)
        except BaseException as error:  # the test reports it
            box["error"] = error
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="httpd-under-fuzz", daemon=True)
    thread.start()
    try:
        ready.wait(10)
        assert "port" in box, box.get("error")
        yield box["port"], captured
    finally:
        if "token" in box:
            trio.from_thread.run_sync(box["stop"].set, trio_token=box["token"])
        thread.join(10)
        logger.removeHandler(captured)
    assert not thread.is_alive(), "the server did not stop"
    assert "error" not in box, box["error"]


# -- reading the answers strictly ---------------------------------------------------------


def parse_answers(raw: bytes) -> tuple[list[int], bytes]:
    """The statuses of the whole responses in ``raw`` (100s included) and what is left.

    A ``101`` ends the reading: WebSocket frames follow it.
    """
    statuses: list[int] = []
    while raw:
        if raw.startswith(b"HTTP/1.1 101 "):
            statuses.append(101)
            return statuses, b""
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method=b"GET", target=b"/", headers=[(b"host", b"x")]))
        conn.send(h11.EndOfMessage())
        conn.receive_data(raw)
        try:
            while True:
                event = conn.next_event()
                if isinstance(event, h11.InformationalResponse | h11.Response):
                    statuses.append(event.status_code)
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif event is h11.NEED_DATA:
                    conn.receive_data(b"")  # the server closed: a body read to EOF ends
                elif not isinstance(event, h11.Data):
                    return statuses, raw
        except h11.RemoteProtocolError:
            return statuses, raw
        raw = conn.trailing_data[0]
    return statuses, b""


# -- hostile requests from fragments ------------------------------------------------------

WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE"]
METHODS += [b"get", b"G ET", b"GE\x00T", b"", b"X" * 300, "PÖST".encode(), b"GET\t", b"\xff"]
TARGETS = [b"/", b"/echo", b"/stream", b"/ws", b"/ws?x=%FF", b"*", b"http://x/abs", b""]
TARGETS += [b"/%FF", b"/%C3%28", b"/%ED%A0%80", b"/%", b"/%zz", b"/a%00b", b"/a\x00b"]
TARGETS += ["/é".encode(), b"/\xff\xfe", b"/a b", b"/" + b"a" * 17_000, b"/?q=%FF", b"//x"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/0.9", b"http/1.1", b"HTTP/1.1 ", b""]
LENGTHS = [b"0", b"5", b"-1", b"abc", b"1e3", b"99999999999999999999", b" 5", b"5, 5", b"+5"]
LENGTHS += [b"0x5", b"", b"5\x00", b"1000000"]
ENCODINGS = [b"chunked", b"gzip", b"chunked, chunked", b"identity", b"gzip, chunked"]
ENCODINGS += [b" chunked", b"CHUNKED", b"chunked\x00", b"chunked;x=1"]
#: Values of a WebSocket upgrade's own headers, for an upgrade that otherwise stands.
WS_HEADERS = (
    [(b"Sec-WebSocket-Key", v) for v in (WS_KEY, b"", b"x", b"\xff\xfe", b"a" * 300)]
    + [(b"Sec-WebSocket-Version", v) for v in (b"13", b"8", b"", b"13, 8", b"\x00")]
    + [(b"Sec-WebSocket-Protocol", v) for v in (b"a, b", b",,,", b"\xff", b"a,\xc3\xa9")]
    + [
        (b"Sec-WebSocket-Extensions", v)
        for v in (
            b"permessage-deflate",
            b"permessage-deflate; client_max_window_bits",
            b"permessage-deflate; client_max_window_bits=99",
            b"permessage-deflate; server_max_window_bits=abc",
            b"permessage-deflate; server_no_context_takeover=1, x-unknown",
            b";;;",
            b"\xff",
            b"permessage-deflate; x=\xff",
        )
    ]
)
HEADERS = (
    [(b"Content-Length", v) for v in LENGTHS]
    + [(b"Transfer-Encoding", v) for v in ENCODINGS]
    + [(b"Expect", v) for v in (b"100-continue", b"100-CONTINUE", b"200-ok", b"")]
    + [(b"Connection", v) for v in (b"close", b"keep-alive", b"upgrade", b"Upgrade, close")]
    + [(b"Upgrade", v) for v in (b"websocket", b"WebSocket", b"h2c", b"websocket, h2c")]
    + WS_HEADERS
    + [(b"Host", v) for v in (b"x", b"", b"a b", b"\xff", b"x:99999999")]
    + [(b"X-Bin", v) for v in (b"\xff\xfe", b"a\x00b", b"\x7f", b"caf\xc3\xa9", b"a" * 17_000)]
    + [(b"X-Fold", b"a\r\n b"), (b"X-Fold", b"a\n\tb"), (b" Lead", b"x"), (b"Bad Name", b"v")]
    + [(b"", b"v"), (b"X:Y", b"v"), (b"\xff", b"v"), (b"Content-Length ", b"5")]
)
CHUNK_SIZES = [b"5", b"0", b"zz", b"-1", b"ffffffffffffffffffff", b"5;ext=1", b"5;\x00"]
CHUNK_SIZES += [b"5 ", b" 5", b"5;e=\xff", b"", b"5;" + b"e" * 20_000]


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    """A chunked body from good and bad chunk heads, ended or not."""
    out = b""
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    for _ in range(draw(st.integers(0, 3))):
        data = draw(st.binary(max_size=8))
        out += draw(st.sampled_from([*CHUNK_SIZES, f"{len(data):x}".encode()])) + eol + data + eol
    if draw(st.booleans()):
        out += b"0" + eol + draw(st.sampled_from([b"", b"X-Trailer: v\r\n", b"bad\r\n"])) + eol
    return out


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """WebSocket frames from a client, good and bad: any opcode and RSV bits, masked or
    not, lengths in all three forms (some lying), fragments, close codes, bad UTF-8."""
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        head = draw(st.sampled_from([0x81, 0x82, 0x89, 0x8A, 0x88, 0x01, 0x00, 0x80]))
        head |= draw(st.sampled_from([0, 0, 0, 0x40, 0x30]))  # RSV1: "compressed"
        head |= draw(st.sampled_from([0, 0, 0, 0x03, 0x0F])) if head & 0x0F == 0 else 0
        payload = draw(
            st.one_of(
                st.binary(max_size=40),
                st.sampled_from([b"\x03\xe8", b"\x03\xe8bye", b"\x00", b"\x0f\xa0", b"\xff\xfe"]),
            )
        )
        size = draw(st.sampled_from([len(payload)] * 4 + [len(payload) + 3, 0, 126, 127]))
        if size < 126:
            length = bytes([size])
        elif size == 126:
            length = bytes([126]) + len(payload).to_bytes(2, "big")
        else:
            claimed = draw(st.sampled_from([len(payload), 1 << 40, 1 << 63]))
            length = bytes([127]) + claimed.to_bytes(8, "big")
        mask = draw(st.sampled_from([b"\x00\x00\x00\x00", b"abcd", b""]))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if mask else payload
        out += bytes([head, length[0] | (0x80 if mask else 0)]) + length[1:] + mask + masked
    return out + draw(st.binary(max_size=draw(st.sampled_from([0, 0, 0, 16]))))


def mostly(good: list[bytes], bad: list[bytes]) -> st.SearchStrategy[bytes]:
    """A good fragment four times in five: the deeper paths need a head that parses."""
    return st.sampled_from(good * (4 * len(bad) // len(good) + 1) + bad)


WS_UPGRADE = [
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Key", WS_KEY),
    (b"Sec-WebSocket-Version", b"13"),
]


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """One request from fragments: line, headers (most often a Host), framing, a body."""
    framing = draw(
        st.sampled_from(["none", "length", "short", "long", "chunked", "both", "websocket"])
    )
    upgrade = framing == "websocket"
    eol = draw(mostly([b"\r\n"], [b"\n", b"\r", b"\r\r\n"]))
    usual = [b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"CONNECT"]
    method = draw(mostly([b"GET"] if upgrade else usual, METHODS))
    target = draw(mostly([b"/ws"] if upgrade else [b"/echo", b"/stream", b"/"], TARGETS))
    line = b" ".join([method, target, draw(mostly([b"HTTP/1.1"], VERSIONS))])
    body = draw(st.one_of(st.just(b""), st.binary(max_size=64), chunked_bodies()))
    extra = draw(st.sampled_from([0, 0, 1, 2, 4]))
    headers = draw(st.lists(st.sampled_from(HEADERS), max_size=extra))
    if framing in ("length", "both"):
        headers.append((b"Content-Length", str(len(body)).encode()))
    elif framing in ("short", "long"):  # the body is longer, or shorter, than announced
        wrong = len(body) + draw(st.integers(1, 100_000)) * (1 if framing == "long" else -1)
        headers.append((b"Content-Length", str(max(wrong, 0)).encode()))
    if framing in ("chunked", "both"):
        headers.append((b"Transfer-Encoding", b"chunked"))
    if upgrade:  # its own headers first: a second one of a name is not looked at
        headers = [*draw(st.lists(st.sampled_from(WS_HEADERS), max_size=2)), *WS_UPGRADE]
        body = draw(frames())
    else:
        headers = draw(st.permutations(headers))
    if draw(st.sampled_from([True] * 4 + [False])):
        headers.insert(draw(st.integers(0, len(headers))), (b"Host", b"x"))
    head = line + eol + b"".join(n + b": " + v + eol for n, v in headers) + eol
    return head + body


#: What a client sends: random bytes, or up to three requests pipelined.
payloads = st.one_of(
    st.binary(min_size=1, max_size=256),
    st.lists(requests(), min_size=1, max_size=3).map(b"".join),
)
