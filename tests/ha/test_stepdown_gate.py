"""The step-down gate on Trio's virtual clock: what each request in flight is answered
when the leader steps down, and when (the app behind it is an ASGI app of the test's;
the store is a real one, whose commits tell a change that may have been applied)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.conductor.api.stepdown import GRACE, StepDownGate
from symphony.conductor.store import Store
from symphony.httpd import Message, Scope
from symphony.spec import parse_spec

SPEC = {"node_group": "g", "kind": "exec", "config": {"command": ["true"]}}


class App:
    """Answers each path as the test says: ``/hang`` never, ``/write`` commits to the
    store and hangs, ``/fenced`` is the store's refusal, ``/live`` streams, ``/late``
    answers 201 after a moment, ``/broken`` a 503 of its own (an actor stopped),
    ``/body`` reads its body (which may never come whole)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.calls += 1
        path = scope["path"]
        if path == "/write":
            self.store.create_deployment(parse_spec({**SPEC, "name": "written"}))
        elif path == "/fenced":
            await trio.sleep(0.1)
            await _json(send, 503, {"error": "fenced"}, role=True)
            return
        elif path == "/late":
            await trio.sleep(0.2)
            await _json(send, 201, {"id": "x"})
            return
        elif path == "/broken":
            await trio.sleep(0.1)
            await _json(send, 503, {"error": "unavailable"})
            return
        elif path == "/body":
            while (await receive()).get("more_body"):
                pass
        elif path == "/live":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")],
                }
            )
            await send(
                {"type": "http.response.body", "body": b"event: snapshot\n\n", "more_body": True}
            )
        await trio.sleep_forever()


async def _json(send: Any, status: int, body: Any, *, role: bool = False) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if role:
        headers.append((b"x-symphony-role", b"standby"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})


class Exchange:
    """One request through the gate: what was sent back, and when it ended."""

    def __init__(self, method: str, path: str, *, half_body: bool = False) -> None:
        headers = [(b"content-length", b"100")] if half_body else []
        self.scope = {"type": "http", "method": method, "path": path, "headers": headers}
        self.half_body = half_body  # a part of it comes, the rest never
        self.sent: list[Message] = []
        self.ended_at: float | None = None

    async def run(self, gate: StepDownGate) -> None:
        parts = 0

        async def receive() -> Message:
            nonlocal parts
            parts += 1
            if self.half_body and parts > 1:
                await trio.sleep_forever()
            return {"type": "http.request", "body": b"{", "more_body": self.half_body}

        async def send(message: Message) -> None:
            self.sent.append(message)

        await gate(self.scope, receive, send)
        self.ended_at = trio.current_time()

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


async def test_each_request_in_flight_gets_its_answer_when_the_leader_steps_down(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with Store.open(tmp_path / "s.db") as store:
        app = App(store)
        gate = StepDownGate(commits=lambda: store.commits, app=app)
        flights = {
            name: Exchange(method, path)
            for name, method, path in [
                ("written", "POST", "/write"),
                ("read", "GET", "/hang"),
                ("unwritten", "POST", "/hang"),
                ("fenced", "POST", "/fenced"),
                ("broken", "DELETE", "/broken"),
                ("late", "POST", "/late"),
                ("live", "GET", "/live"),
            ]
        }
        flights["half"] = Exchange("POST", "/body", half_body=True)
        async with trio.open_nursery() as nursery:
            # /write first: what comes after its commit sees nothing written since.
            # (A request in flight meanwhile would get the careful 502: the store's
            # count cannot tell whose write it was.)
            for exchange in flights.values():
                nursery.start_soon(exchange.run, gate)
                await trio.sleep(0.01)
            assert app.calls == len(flights)
            gate.step_down()
            stepped_at = trio.current_time()
            after = Exchange("GET", "/hang")
            await after.run(gate)  # a request that comes now: not let in
            assert app.calls == len(flights) and after.status == 503
            await gate.settle()
            settled_at = trio.current_time()

    assert settled_at - stepped_at == pytest.approx(GRACE)  # /hang never ends: all of it
    for name in ("read", "unwritten"):  # nothing applied: retry, at the next URL
        exchange = flights[name]
        assert exchange.status == 503, name
        assert exchange.headers[b"retry-after"] == b"1"
        assert exchange.headers[b"x-symphony-role"] == b"standby"
        body = json.loads(exchange.body)
        assert body["error"] == "this Conductor is no longer the leader"
        assert "stopped leading" in body["detail"] and "nothing was applied" in body["detail"]
        assert exchange.ended_at == settled_at
    written = flights["written"]  # the store committed while it was in flight
    assert written.status == 502
    assert "may have been applied" in json.loads(written.body)["detail"]
    assert json.loads(flights["fenced"].body) == {"error": "fenced"}  # kept as it was
    broken = flights["broken"]  # its own 503 (an actor stopped): replaced, before the grace
    assert broken.status == 503 and broken.headers[b"x-symphony-role"] == b"standby"
    assert broken.ended_at is not None and broken.ended_at - stepped_at < GRACE
    assert flights["late"].status == 201  # finished within the grace: its own answer
    half = flights["half"]  # half its body came: answered at once, nothing applied
    assert half.status == 503 and half.ended_at == stepped_at
    live = flights["live"]  # ended at once, with an event that says why
    assert live.ended_at == stepped_at
    assert live.body.startswith(b"event: snapshot\n\n")
    assert b"event: closing\ndata: " in live.body and b"stopped leading" in live.body
    assert live.sent[-1]["more_body"] is False


async def test_the_gate_settles_at_once_when_nothing_is_in_flight(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with Store.open(tmp_path / "s.db") as store:
        gate = StepDownGate(commits=lambda: store.commits, app=App(store))
        late = Exchange("POST", "/late")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(late.run, gate)
            await trio.sleep(0.01)
            gate.step_down()
            started = trio.current_time()
            await gate.settle()
            assert trio.current_time() - started < GRACE  # when /late answered
        assert late.status == 201
