"""Version games in a hello: refused before the Conductor believes anything of it.

A node whose versions do not meet ours (only a future one, a range above ours, an
empty range) is answered ``HelloRejected`` saying why. It used to be registered as
ready first (and the version checked after): for a moment it was a node like any
other, so a pending instance could be placed on it (then lost with its link) and it
stayed listed. Now it is never registered. A version of the wrong type (text, a float,
a bool, none, zero, negative) closes the link as a protocol error, as before. Through
all of it another node's link stays up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.wire import ConnectionClosed, HelloRejected, ProtocolError

from .cluster import get_nodes, node_state, shared_cert_node, start_conductor, start_node, wait_for
from .hostile import frame, hostile_link, send_raw

REFUSED = {
    "only a future version": {"protocol_version": 10**6},
    "the largest msgpack integer": {"protocol_version": 2**64 - 1},
    "a range above ours": {"protocol_version": 99, "min_protocol_version": 6},
    "an empty range": {"protocol_version": 3, "min_protocol_version": 5},
}
MALFORMED = {
    "zero": {"protocol_version": 0},
    "negative": {"protocol_version": -7},
    "text": {"protocol_version": "5"},
    "a float": {"protocol_version": 5.0},
    "a bool": {"protocol_version": True},
    "none": {"protocol_version": None},
    "missing": {},
    "a minimum of text": {"protocol_version": 5, "min_protocol_version": "1"},
}
WEB = {
    "name": "web",
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "config": {"command": ["sleep", "600"]},
}


async def _answer(info: Any, fields: dict[str, Any]) -> tuple[str, int]:
    """What the Conductor answers a hello of ``fields``, and how the link closes."""
    hello = {
        "t": "hello",
        "node_id": "mallory",
        "groups": ["gpu-1"],
        "capacities_total": {"Analytic1": 10},
        **fields,
    }
    async with hostile_link(info, hello=None) as conn:
        await send_raw(conn, frame(hello))
        answer = "nothing"
        with trio.fail_after(5):
            while True:
                try:
                    message = await conn.receive()
                except ConnectionClosed as closed:
                    return answer, closed.code
                except ProtocolError:
                    continue
                answer = type(message).__name__
                if isinstance(message, HelloRejected):
                    assert "version" in message.reason, message.reason


async def test_a_hello_without_a_common_version_is_refused_before_it_is_believed(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await start_node(
            nursery, shared_cert_node(info, "bystander", tmp_path / "n", groups=("other",))
        )
        assert await wait_for(lambda: node_state(info, "bystander")) == "ready"
        headers = {"Authorization": f"Bearer {info.api_token}"}
        async with httpx.AsyncClient(base_url=info.http_url, headers=headers) as api:
            assert (await api.post("/deployments", json=WEB, timeout=10)).status_code == 201
            for name, fields in REFUSED.items():
                answer, code = await _answer(info, fields)
                assert answer == "HelloRejected" and code in (1001, 1008), (name, answer, code)
            for name, fields in MALFORMED.items():
                assert await _answer(info, fields) == ("nothing", 1002), name
            await trio.sleep(0.5)  # a placement on the refused node would be made by now
            nodes = {n["node_id"]: n["state"] for n in await get_nodes(info)}
            assert nodes == {"bystander": "ready"}
            web = (await api.get("/deployments/web", timeout=10)).json()
            assert [i["state"] for i in web["instances"]] == ["pending"]
            events = (await api.get("/deployments/web/events", timeout=10)).json()
            assert not [e for e in events["events"] if "mallory" in str(e)], events
        nursery.cancel_scope.cancel()
