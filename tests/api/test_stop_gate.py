"""The gate on Trio's virtual clock when its Conductor stops cleanly (``gate.stop()``):
the requests in flight keep their app (the actors still run) for the grace, a body
still coming included; the streams end at once; the rest are answered at the grace's
end. The app behind it is an ASGI app of the test's; the store is a real one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.conductor.api.stepdown import STOP_GRACE, StepDownGate
from symphony.conductor.store import Store
from symphony.httpd import Message

from ..ha.test_stepdown_gate import App, Exchange, _json


class BodyApp(App):
    """As :class:`App`, and ``/create`` reads its whole body, then answers 201."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] != "/create":
            await super().__call__(scope, receive, send)
            return
        self.calls += 1
        while (await receive()).get("more_body"):
            pass
        await _json(send, 201, {"id": "made"})


class LateBody(Exchange):
    """A request whose body comes in two parts, the second ``delay`` seconds later."""

    def __init__(self, path: str, delay: float) -> None:
        super().__init__("POST", path)
        self.scope["headers"] = [(b"content-length", b"2")]
        self.delay = delay

    async def run(self, gate: StepDownGate) -> None:
        parts = 0

        async def receive() -> Message:
            nonlocal parts
            parts += 1
            if parts > 1:
                await trio.sleep(self.delay)
            return {"type": "http.request", "body": b"{}"[parts - 1 :][:1], "more_body": parts < 2}

        async def send(message: Message) -> None:
            self.sent.append(message)

        await gate(self.scope, receive, send)
        self.ended_at = trio.current_time()


async def test_a_stopping_gate_lets_requests_finish_then_answers_the_rest(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with Store.open(tmp_path / "s.db") as store:
        app = BodyApp(store)
        gate = StepDownGate(commits=lambda: store.commits, app=app)
        flights: dict[str, Exchange] = {
            "read": Exchange("GET", "/hang"),
            "late": Exchange("POST", "/late"),
            "live": Exchange("GET", "/live"),
            "slow body": LateBody("/create", STOP_GRACE / 2),
            "half": Exchange("POST", "/body", half_body=True),
            "broken": Exchange("DELETE", "/broken"),
        }
        async with trio.open_nursery() as nursery:
            for exchange in flights.values():
                nursery.start_soon(exchange.run, gate)
                await trio.sleep(0.01)
            gate.stop()
            stopped_at = trio.current_time()
            after = Exchange("POST", "/late")
            await after.run(gate)  # a request that comes now: not let in
            await gate.settle(STOP_GRACE)
            settled_at = trio.current_time()

    assert settled_at - stopped_at == pytest.approx(STOP_GRACE)  # /hang: all of it
    assert after.status == 503 and after.ended_at == stopped_at
    assert after.headers[b"x-symphony-role"] == b"stopping"
    assert after.headers[b"retry-after"] == b"1"
    live = flights["live"]  # ended at once, with an event that says why
    assert live.ended_at == stopped_at
    assert b"event: closing\ndata: " in live.body and b"is stopping" in live.body
    assert flights["late"].status == 201  # finished within the grace: its own answer
    slow = flights["slow body"]  # its body's rest came within the grace: applied
    assert slow.status == 201 and json.loads(slow.body) == {"id": "made"}
    broken = flights["broken"]  # the app's own 503 (the actors still run): kept
    assert broken.status == 503 and b"x-symphony-role" not in broken.headers
    assert json.loads(broken.body) == {"error": "unavailable"}
    for name in ("read", "half"):  # unfinished at the grace's end: nothing applied
        exchange = flights[name]
        assert exchange.status == 503, name
        assert exchange.ended_at == settled_at
        body = json.loads(exchange.body)
        assert body["error"] == "this Conductor is stopping"
        assert "nothing was applied" in body["detail"]


class StreamLater(App):
    """``/follow`` begins its stream only after a moment (it finds its node first)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await trio.sleep(0.1)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"x-symphony-instance", b"i")],
            }
        )
        await send({"type": "http.response.body", "body": b"a line\n", "more_body": True})
        await trio.sleep_forever()


class ServerSend(Exchange):
    """As the HTTP server sends: nothing goes out once the request's scope is cancelled
    (its write checks for a cancellation first)."""

    async def run(self, gate: StepDownGate) -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            await trio.lowlevel.checkpoint_if_cancelled()
            self.sent.append(message)

        await gate(self.scope, receive, send)
        self.ended_at = trio.current_time()


@pytest.mark.parametrize("change", ["stop", "step_down"])
async def test_a_stream_begun_while_the_gate_closes_gets_its_head_and_last_line(
    tmp_path: Path, autojump_clock: trio.abc.Clock, change: str
) -> None:
    with Store.open(tmp_path / "s.db") as store:
        gate = StepDownGate(commits=lambda: store.commits, app=StreamLater(store))
        follow = ServerSend("GET", "/deployments/d/logs")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(follow.run, gate)
            await trio.sleep(0.01)
            getattr(gate, change)()
            await gate.settle(STOP_GRACE)
    assert follow.status == 200
    assert follow.body.startswith(b"[symphony] this Conductor"), follow.sent
    assert follow.ended_at == pytest.approx(0.1, abs=0.02)
