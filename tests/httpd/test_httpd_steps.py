"""What a request costs the server in Trio task steps (each one a trip through the
scheduler): a kept-alive connection's next request already received is read at once;
an answer is written directly, what the kernel does not take at once the trio way."""

from __future__ import annotations

from collections import Counter
from typing import Any

import trio
import trio.lowlevel

from symphony.httpd import Message, Scope

from .helpers import responses, serving


class StepCounter(trio.abc.Instrument):
    """How many steps each task has run."""

    def __init__(self) -> None:
        self.steps: Counter[trio.lowlevel.Task] = Counter()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task] += 1


async def test_httpd_next_request_already_in_is_read_without_a_yield() -> None:
    counter = StepCounter()
    first_began, second_sent = trio.Event(), trio.Event()
    seen: dict[str, int] = {}

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        message: Message = await receive()
        assert not message.get("more_body")
        task = trio.lowlevel.current_task()
        if scope["path"] == "/2":
            seen["second began"] = counter.steps[task]
        else:
            first_began.set()
            await second_sent.wait()  # the next request is in the socket meanwhile
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})
        if scope["path"] == "/1":
            seen["first answered"] = counter.steps[task]

    async with serving(app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            trio.lowlevel.add_instrument(counter)
            try:
                await stream.send_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
                await first_began.wait()
                await stream.send_all(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
                second_sent.set()
                raw = b""
                while raw.count(b"\r\n\r\nok") < 2:
                    raw += await stream.receive_some(65536)
            finally:
                trio.lowlevel.remove_instrument(counter)
    assert [r[2] for r in responses(raw)] == [b"ok", b"ok"]
    # The first answer's send was the last yield: the second request, already in the
    # socket, is read and handed to the app in the same step.
    assert seen["second began"] == seen["first answered"]


async def test_httpd_response_larger_than_the_socket_takes_at_once_arrives_whole() -> None:
    body = bytes(range(256)) * (32 * 1024)  # 8 MiB: more than the kernel takes at once

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await receive()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async with serving(app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            chunks = []
            while chunk := await stream.receive_some(65536):
                chunks.append(chunk)
    [(status, _, got)] = responses(b"".join(chunks))
    assert status == 200 and got == body
