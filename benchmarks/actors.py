"""Actor runtime costs beside the raw Trio primitives underneath them.

- tell throughput: messages/s from one task into an actor, vs the same count through a
  bare memory channel of the same size (the limit).
- ask round trip: p50/p99 of ask -> reply, vs a bare two-Event round trip between tasks.
- restart cost: crash -> restarted actor answering (backoff 0), vs starting a bare task.

Targets (issue "Foundation"): tell >= 50% of the raw channel; ask p50 <= 3x raw.
Run: ``python -m benchmarks.actors [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Any

import trio

from symphony.actors import Actor, ActorCrashed, Backoff, ChildSpec, Supervisor, spawn

from ._report import print_table, summary, write_json

MAILBOX = 64


class Sink(Actor):
    """Counts messages; answers asks with the count; "crash" raises."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.done = trio.Event()
        self.expected = -1

    async def receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("crash requested")
        self.count += 1
        if self.count == self.expected:
            self.done.set()
        return self.count


async def raw_channel_throughput(n: int) -> float:
    send, receive = trio.open_memory_channel[Any](MAILBOX)
    start = time.perf_counter()

    async def consume() -> None:
        for _ in range(n):
            await receive.receive()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        for i in range(n):
            await send.send(i)
    return n / (time.perf_counter() - start)


async def tell_throughput(n: int) -> float:
    sink = Sink()
    sink.expected = n
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, sink, mailbox_size=MAILBOX)
        start = time.perf_counter()
        for i in range(n):
            await ref.tell(i)
        await sink.done.wait()
        elapsed = time.perf_counter() - start
        await ref.stop()
    return n / elapsed


async def raw_event_rtt(n: int) -> list[float]:
    samples: list[float] = []
    request, reply = trio.Event(), trio.Event()

    async def responder() -> None:
        nonlocal request
        for _ in range(n):
            await request.wait()
            request = trio.Event()
            reply.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(responder)
        for _ in range(n):
            start = time.perf_counter()
            request.set()
            await reply.wait()
            samples.append(time.perf_counter() - start)
            reply = trio.Event()
    return samples


async def ask_rtt(n: int) -> list[float]:
    samples: list[float] = []
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Sink())
        for _ in range(n):
            start = time.perf_counter()
            await ref.ask(1)
            samples.append(time.perf_counter() - start)
        await ref.stop()
    return samples


async def raw_task_start(n: int) -> list[float]:
    samples: list[float] = []

    async def task(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            start = time.perf_counter()
            await nursery.start(task)
            samples.append(time.perf_counter() - start)
    return samples


async def restart_cost(n: int) -> list[float]:
    samples: list[float] = []
    spec = ChildSpec(name="sink", factory=Sink, backoff=Backoff(initial=0.0, jitter=0.0))
    supervisor = Supervisor([spec], max_restarts=n + 1, max_seconds=1e9)
    async with trio.open_nursery() as nursery:
        await spawn(nursery, supervisor)
        ref = supervisor.child("sink")
        for _ in range(n):
            start = time.perf_counter()
            with contextlib.suppress(ActorCrashed):
                await ref.ask("crash")
            await ref.ask(1)  # answered by the restarted actor
            samples.append(time.perf_counter() - start)
        await supervisor.ref.stop()
    return samples


def _quiet_supervisor_logs() -> None:
    import logging

    logging.getLogger("symphony.actors").setLevel(logging.CRITICAL)


async def main_async(quick: bool) -> dict[str, Any]:
    n_tell = 20_000 if quick else 200_000
    n_ask = 2_000 if quick else 20_000
    n_restart = 200 if quick else 2_000
    repeats = 3 if quick else 5
    raw_tp = [await raw_channel_throughput(n_tell) for _ in range(repeats)]
    tell_tp = [await tell_throughput(n_tell) for _ in range(repeats)]
    raw_rtt = await raw_event_rtt(n_ask)
    ask = await ask_rtt(n_ask)
    raw_start = await raw_task_start(n_restart)
    restart = await restart_cost(n_restart)
    return {
        "tell_msgs_per_s": summary(tell_tp),
        "raw_channel_msgs_per_s": summary(raw_tp),
        "ask_rtt_s": summary(ask),
        "raw_event_rtt_s": summary(raw_rtt),
        "restart_s": summary(restart),
        "raw_task_start_s": summary(raw_start),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized run")
    args = parser.parse_args(argv)
    _quiet_supervisor_logs()
    r = trio.run(main_async, args.quick)
    tell_ratio = r["tell_msgs_per_s"]["median"] / r["raw_channel_msgs_per_s"]["median"]
    ask_ratio = r["ask_rtt_s"]["median"] / r["raw_event_rtt_s"]["median"]
    restart_ratio = r["restart_s"]["median"] / r["raw_task_start_s"]["median"]
    us = 1e6
    rows = [
        [
            "tell throughput (msg/s)",
            r["tell_msgs_per_s"]["median"],
            r["raw_channel_msgs_per_s"]["median"],
            f"{tell_ratio:.2f}x",
            ">= 0.50x",
            "met" if tell_ratio >= 0.5 else "NOT met",
        ],
        [
            "ask RTT p50 (µs)",
            r["ask_rtt_s"]["median"] * us,
            r["raw_event_rtt_s"]["median"] * us,
            f"{ask_ratio:.2f}x",
            "<= 3x",
            "met" if ask_ratio <= 3 else "NOT met",
        ],
        [
            "ask RTT p99 (µs)",
            r["ask_rtt_s"]["p99"] * us,
            r["raw_event_rtt_s"]["p99"] * us,
            "",
            "",
            "",
        ],
        [
            "restart, crash -> answer p50 (µs)",
            r["restart_s"]["median"] * us,
            r["raw_task_start_s"]["median"] * us,
            f"{restart_ratio:.1f}x",
            "",
            "",
        ],
    ]
    print_table(
        "Actor runtime vs raw Trio",
        ["figure", "symphony.actors", "raw trio", "ratio", "target", "status"],
        rows,
    )
    r["targets"] = {
        "tell_ratio": tell_ratio,
        "ask_ratio": ask_ratio,
        "tell_met": tell_ratio >= 0.5,
        "ask_met": ask_ratio <= 3,
    }
    path = write_json("actors", r)
    print(f"\nwritten: {path}")
    return r


if __name__ == "__main__":
    main()
