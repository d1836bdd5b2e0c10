"""The gate and WebSockets (port-forwards, a service's own) on Trio's virtual clock: a
step-down or stop ends each at once with a close code and the reason, one not yet
accepted gets the gate's 503, and one asked for afterwards is refused the same way."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from symphony.conductor.api.stepdown import (
    CLOSE_STEPPED_DOWN,
    CLOSE_STOPPING,
    STOPPED,
    STOPPING_WHY,
    StepDownGate,
)
from symphony.httpd import Message, Scope


async def tunnels(scope: Scope, receive: Any, send: Any) -> None:
    """``/open`` accepts and relays forever; ``/slow`` never gets to accept."""
    assert (await receive())["type"] == "websocket.connect"
    if scope["path"] == "/open":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "bytes": b"hello"})
    await trio.sleep_forever()


class Socket:
    def __init__(self, path: str) -> None:
        self.scope = {"type": "websocket", "path": path, "headers": []}
        self.sent: list[Message] = []
        self.ended_at: float | None = None

    async def run(self, gate: StepDownGate) -> None:
        async def receive() -> Message:
            if not self.sent:
                return {"type": "websocket.connect"}
            await trio.sleep_forever()
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            self.sent.append(message)

        await gate(self.scope, receive, send)
        self.ended_at = trio.current_time()


@pytest.mark.parametrize("stop", [False, True], ids=["step-down", "stop"])
async def test_the_gate_ends_websockets_with_a_code_and_its_reason(
    stop: bool, autojump_clock: trio.abc.Clock
) -> None:
    gate = StepDownGate(commits=lambda: 0, app=tunnels)
    sockets = [Socket("/open"), Socket("/slow"), Socket("/open")]
    async with trio.open_nursery() as nursery:
        for socket in sockets:
            nursery.start_soon(socket.run, gate)
        await trio.sleep(10)  # they would run forever
        assert all(s.ended_at is None for s in sockets)
        ended_at = trio.current_time()
        gate.stop() if stop else gate.step_down()
    opened, slow, _ = sockets
    for socket in (opened, sockets[2]):
        assert socket.ended_at == ended_at  # at once, before any grace
        assert [m["type"] for m in socket.sent] == [
            "websocket.accept",
            "websocket.send",
            "websocket.close",
        ]
        close = socket.sent[-1]
        assert close["code"] == (CLOSE_STOPPING if stop else CLOSE_STEPPED_DOWN)
        assert close["reason"] == (STOPPING_WHY if stop else STOPPED)
        assert len(close["reason"].encode()) <= 123  # what a close frame can carry
    role = b"stopping" if stop else b"standby"
    later = Socket("/open")
    await later.run(gate)
    for refused in (slow, later):
        start, body = refused.sent
        assert start["type"] == "websocket.http.response.start"
        assert start["status"] == 503
        assert dict(start["headers"])[b"x-symphony-role"] == role
        assert body["type"] == "websocket.http.response.body"
        assert b"nothing was applied" in body["body"]
