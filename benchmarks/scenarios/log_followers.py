"""Log followers that never read: memory stays bounded and the node's link stays prompt.

One job writes numbered 1,000-byte lines at a steady rate (10 MB/s in the full run). Many
HTTP clients open ``GET /deployments/{id}/logs?follow=true`` on it and never read (their
receive buffers are tiny, so the kernel does not read for them either). While they hang
there, the scenario samples the resident memory of the node agent and of the Conductor,
the age of the node's last heartbeat, times one start of another deployment (create ->
running) and lets one more follower read as fast as it can for 3 s: none of them may
suffer from the stalled followers. It also checks that the job kept its own pace (its
logger writes the files, whatever the followers do).

Targets (issue "Sound core 2 of 3"): agent and Conductor RSS each under 150 MiB with 50
followers on a 10 MB/s job.
"""

from __future__ import annotations

import glob
import socket
import sys
import time
from typing import Any

import psutil
import trio

from ._context import Context
from ._figures import Figure, one, stats
from ._symphony import symphony_harness

NAME = "log_followers"
JOB = "log-flood"
MIB = 1 << 20
TARGET_MIB = 150.0

WRITER = """
import sys, time
rate = float(sys.argv[1])
out, line, i, start = sys.stdout.buffer, b"x" * 988, 0, time.monotonic()
while True:
    for _ in range(100):
        out.write(b"%010d %s\\n" % (i, line))
        i += 1
    out.flush()
    time.sleep(max(0.0, start + i * 1000 / rate - time.monotonic()))
"""


async def _stalled_follower(port: int, name: str) -> trio.socket.SocketType:
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", port))
    request = f"GET /deployments/{name}/logs?follow=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    await sock.send(request.encode())
    return sock


def _newest_line(state_dir: str) -> int:
    """The number of the job's newest line (from the end of its live log file)."""
    for live in glob.glob(f"{state_dir}/jobs/logs/*/stdout.log"):
        with open(live, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4000))
            lines = [line for line in f.read().split(b"\n") if line[:10].isdigit()]
        if lines:
            return int(lines[-1][:10])
    return 0


async def run(ctx: Context) -> list[Figure]:
    followers = ctx.size(10, 50)
    rate = ctx.size(2, 10) * 1_000_000
    duration = ctx.size(4, 30)
    async with symphony_harness(ctx, NAME, nodes=1) as (h, cluster):
        api = h.api
        spec = api.spec(JOB, [sys.executable, "-c", WRITER, str(rate)])
        response = await api.http.post("/deployments", json=spec)
        assert response.status_code == 201, response.text
        await api.settle(JOB)
        agent = psutil.Process(cluster.nodes["node-0"].pid)
        conductor = psutil.Process(cluster.conductor.pid)  # type: ignore[union-attr]
        state_dir = str(cluster.root / "node-0")
        idle = {"agent": agent.memory_info().rss, "conductor": conductor.memory_info().rss}
        socks = [await _stalled_follower(cluster.http_port, JOB) for _ in range(followers)]
        try:
            agent_rss, conductor_rss, heartbeat_age = [], [], []
            first_line, began = _newest_line(state_dir), time.monotonic()
            start_s = None
            reader_rate, reader_drops = 0.0, 0
            while time.monotonic() - began < duration:
                await trio.sleep(0.5)
                agent_rss.append(agent.memory_info().rss / MIB)
                conductor_rss.append(conductor.memory_info().rss / MIB)
                (node,) = await api.nodes()
                heartbeat_age.append(time.time() - node["last_heartbeat"])
                if start_s is None and time.monotonic() - began > duration / 2:
                    start_s = await _timed_start(api)
                    reader_rate, reader_drops = await _reading_follower(api, 3.0)
            written = (_newest_line(state_dir) - first_line) * 1000
            job_rate = written / (time.monotonic() - began)
        finally:
            for sock in socks:
                sock.close()
    peak_agent, peak_conductor = max(agent_rss), max(conductor_rss)
    context = f"{followers} stalled followers, job at {rate / 1e6:g} MB/s"
    return [
        Figure(
            NAME,
            f"node agent RSS ({context})",
            "MiB",
            stats(agent_rss),
            limit=one(idle["agent"] / MIB),
            limit_label="agent idle before the followers",
            target=f"max < {TARGET_MIB:g} MiB",
            met=peak_agent < TARGET_MIB,
            extra={"max": peak_agent},
        ),
        Figure(
            NAME,
            f"Conductor RSS ({context})",
            "MiB",
            stats(conductor_rss),
            limit=one(idle["conductor"] / MIB),
            limit_label="Conductor idle before the followers",
            target=f"max < {TARGET_MIB:g} MiB",
            met=peak_conductor < TARGET_MIB,
            extra={"max": peak_conductor},
        ),
        Figure(
            NAME,
            "node heartbeat age during the flood",
            "s",
            stats(heartbeat_age),
            target=f"max < {3 * cluster.heartbeat:g} s (3 heartbeats)",
            met=max(heartbeat_age) < 3 * cluster.heartbeat,
        ),
        Figure(
            NAME,
            "start of another deployment during the flood (create -> running)",
            "ms",
            one((start_s or 0.0) * 1000),
        ),
        Figure(
            NAME,
            "a reading follower beside them: lines received",
            "MB/s",
            one(reader_rate / 1e6),
            better="higher",
            target=f">= 90% of {rate / 1e6:g} MB/s",
            met=reader_rate >= 0.9 * rate,
            extra={"dropped_markers": reader_drops},
        ),
        Figure(
            NAME,
            "job's own write rate with stalled followers",
            "MB/s",
            one(job_rate / 1e6),
            better="higher",
            target=f">= 90% of {rate / 1e6:g} MB/s",
            met=job_rate >= 0.9 * rate,
        ),
    ]


async def _reading_follower(api: Any, seconds: float) -> tuple[float, int]:
    """Follow the job and read as fast as possible for ``seconds``: bytes/s of whole
    numbered lines received, and how many ``[symphony] ... dropped`` notes came."""
    received = drops = 0
    params = {"follow": "true", "tail": 0}
    async with api.http.stream("GET", f"/deployments/{JOB}/logs", params=params) as response:
        began = time.monotonic()
        with trio.move_on_after(seconds):
            async for line in response.aiter_lines():
                if line.startswith("[symphony]"):
                    drops += 1
                elif line[:10].isdigit():
                    received += len(line) + 1
    return received / (time.monotonic() - began), drops


async def _timed_start(api: Any) -> float:
    start = time.perf_counter()
    await api.create("log-followers-other", ["sleep", "600"])
    await api.settle("log-followers-other")
    return time.perf_counter() - start
