"""A node that speaks protocol version 1 (no log windows) still serves logs, bounded.

The node here is a hand-written v1 peer: it says hello with version 1, reports its
instance running, and answers a log request with 3 MiB at once, ignoring the window. The
Conductor must send it no ``log_credit`` (a v1 node would refuse the unknown type and
drop the link), and must bound what it buffers for the reader, saying what it dropped.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Any

import trio

from symphony.pki import client_ssl_context
from symphony.wire import (
    Heartbeat,
    Hello,
    HelloAccepted,
    InstanceStatus,
    LogChunk,
    LogCredit,
    LogRequest,
    StartInstance,
    connect_to_conductor,
)

from .helpers import cluster

CHUNK = (b"y" * 1023 + b"\n") * 64  # 64 KiB, 64 lines
FLOOD = 48  # chunks: 3 MiB, far past what the Conductor buffers for one reader


def _context(info: Any) -> ssl.SSLContext:
    certs = info.cert_dir
    return client_ssl_context(
        certs / "ca.pem", certs / "node-client.pem", certs / "node-client.key"
    )


async def _v1_node(info: Any, seen: list[Any], task_status=trio.TASK_STATUS_IGNORED) -> None:
    async with connect_to_conductor("localhost", info.node_port, _context(info)) as conn:
        hello = Hello(
            protocol_version=1,
            node_id="old",
            groups=("gpu-1",),
            capacities_total={"Analytic1": 10},
            heartbeat_sec=0.5,
        )
        await conn.send(hello)
        accepted = await conn.receive()
        assert isinstance(accepted, HelloAccepted) and accepted.protocol_version == 1
        task_status.started()
        async with trio.open_nursery() as nursery:

            async def beat() -> None:
                for seq in range(10**6):
                    await conn.send(Heartbeat(seq=seq))
                    await trio.sleep(0.3)

            nursery.start_soon(beat)
            while True:
                received = await conn.receive()
                for msg in received if isinstance(received, list) else [received]:
                    seen.append(msg)
                    if isinstance(msg, StartInstance):
                        status = InstanceStatus(
                            instance_id=msg.instance_id,
                            deployment_id=msg.deployment_id,
                            state="running",
                            pid=4242,
                            at=time.time(),
                        )
                        await conn.send(status)
                    elif isinstance(msg, LogRequest):
                        for _ in range(FLOOD):  # all at once: a v1 node knows no window
                            await conn.send(LogChunk(request_id=msg.request_id, data=CHUNK))


async def test_logs_from_a_version_1_node_get_no_credit_and_stay_bounded(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        seen: list[Any] = []
        await c.nursery.start(_v1_node, c.info, seen)
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
