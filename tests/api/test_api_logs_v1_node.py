"""A node that speaks protocol version 1 (no log windows) still serves logs, bounded.

The node here is a hand-written v1 peer: it says hello with version 1, reports its
instance running, and answers a log request with 3 MiB at once, ignoring the window. The
Conductor must send it no ``log_credit`` (a v1 node would refuse the unknown type and
drop the link), and must bound what it buffers for the reader, saying what it dropped.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import trio

from symphony.wire import (
    LogChunk,
    LogCredit,
    LogRequest,
)

from .helpers import cluster
from .old_node import run_old_node

CHUNK = (b"y" * 1023 + b"\n") * 64  # 64 KiB, 64 lines
FLOOD = 48  # chunks: 3 MiB, far past what the Conductor buffers for one reader


async def _flood(conn: Any, msg: Any) -> None:
    if isinstance(msg, LogRequest):
        for _ in range(FLOOD):  # all at once: a v1 node knows no window
            await conn.send(LogChunk(request_id=msg.request_id, data=CHUNK))


async def test_logs_from_a_version_1_node_get_no_credit_and_stay_bounded(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        seen: list[Any] = []
        node = partial(
            run_old_node, version=1, capacities={"Analytic1": 10}, keep_all=True, answer=_flood
        )
        await c.nursery.start(node, c.info, seen)
        spec = {
            "name": "legacy",
            "node_group": "gpu-1",
            "capacity_requests": {"Analytic1": 1},
            "config": {"command": ["true"]},
        }
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        await c.wait_running("legacy")
        requests = lambda: [m for m in seen if isinstance(m, LogRequest)]  # noqa: E731
        got = b""
        with trio.fail_after(20):
            async with c.http.stream(
                "GET", "/deployments/legacy/logs", params={"follow": "true"}, timeout=None
            ) as response:
                assert response.status_code == 200
                while not requests():  # the request is out; let the flood arrive unread
                    await trio.sleep(0.01)
                await trio.sleep(1.0)
                with trio.CancelScope() as reading:
                    async for data in response.aiter_bytes():
                        got += data
                        if b"lines dropped" in got and len(got) > 512 * 1024:
                            reading.cancel()
        (request,) = requests()
        assert request.window  # asked for a window; a v1 node ignores the field
        assert not [m for m in seen if isinstance(m, LogCredit)]
        # What the Conductor kept for the unread stream was bounded; the rest was counted.
        note = got[got.index(b"[symphony]") :].split(b"\n", 1)[0]
        dropped = int(note.split()[1])
        assert note.endswith(b"lines dropped: reading too slowly")
        assert dropped >= FLOOD * 64 // 2  # more than half of the 3 MiB did not fit
