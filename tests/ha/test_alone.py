"""A Conductor without ``lease_seconds`` on a store another Conductor runs on: real
Conductors sharing one SQLite file. Whichever of the two starts second refuses, in one
line naming the first (a split brain otherwise: two leaders, each deaf to the other's
deployments); one that finds its lease taken anyway stops."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from symphony.conductor import ConductorInfo, run_conductor
from symphony.conductor.alone import SharedStoreConflict

from ..link.cluster import conductor_config, start_conductor
from .cluster import (
    api,
    conductor_name,
    share_store,
    start_first,
    start_second,
    wait_leader,
)

#: start_first or start_second of .cluster.
Starter = Callable[..., Awaitable[ConductorInfo]]

SPEC = {"name": "d", "node_group": "g", "kind": "exec", "config": {"command": ["true"]}}


async def refused(tmp_path: Path, name: str, **overrides: object) -> str:
    """Start a Conductor on the store of ``tmp_path / "a"``; returns its refusal."""
    shared = share_store(tmp_path / "a", tmp_path / name)
    config = conductor_config(tmp_path / name, http_auth="none", **shared, **overrides)
    with pytest.raises(SharedStoreConflict) as info:
        with trio.fail_after(30):
            await run_conductor(config)
    return str(info.value)


async def test_a_conductor_without_lease_refuses_a_store_another_leads(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        await start_first(nursery, tmp_path, lease_seconds=5.0)
        message = await refused(tmp_path, "c")  # no lease_seconds
        nursery.cancel_scope.cancel()
    assert f"Conductor {conductor_name(tmp_path / 'a')} (API http://127.0.0.1:" in message
    assert "lease_seconds on every Conductor of a shared store" in message
    assert "\n" not in message


async def test_a_leased_conductor_refuses_a_store_one_without_lease_runs_on(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a" / "symphony.db"
    async with trio.open_nursery() as outer:
        alone = trio.CancelScope()
        stopped = trio.Event()

        async def run_alone(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                with alone:
                    async with trio.open_nursery() as inner:
                        await start_first(inner, tmp_path)  # no lease_seconds
                        task_status.started()
            finally:
                stopped.set()

        await outer.start(run_alone)
        message = await refused(tmp_path, "b", lease_seconds=5.0)
        assert f"Conductor {conductor_name(tmp_path / 'a')}" in message
        assert "without lease_seconds" in message and "every Conductor" in message
        alone.cancel()  # a clean stop gives its lease up: the leased one starts at once
        with trio.fail_after(30):  # its stop done, however busy the machine
            await stopped.wait()
        shared = {
            "cert_path": tmp_path / "a" / "certs",
            "secrets_key_file": tmp_path / "a" / "secrets.key",
        }
        async with trio.open_nursery() as inner:
            await start_conductor(
                inner, tmp_path / "b", http_auth="none", lease_seconds=5.0, **shared
            )
            await wait_leader(tmp_path / "b", db, timeout=5)
            inner.cancel_scope.cancel()


async def test_a_conductor_without_lease_stops_once_its_lease_was_taken(tmp_path: Path) -> None:
    db = tmp_path / "a" / "symphony.db"
    failures: list[BaseException] = []
    async with trio.open_nursery() as nursery:

        async def run_alone(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                async with trio.open_nursery() as inner:
                    info = await start_first(inner, tmp_path)
                    task_status.started(info.http_url)
            except* SharedStoreConflict as group:
                failures.extend(group.exceptions)

        url = await nursery.start(run_alone)
        # Another Conductor took the lease (this one was paused past it, say).
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE leases SET holder = 'intruder', token = token + 1")
        response = await api(url, "POST", "/deployments", json=SPEC)
        assert response.status_code == 503  # its write was refused: nothing applied
        with trio.fail_after(10):
            while not failures:
                await trio.sleep(0.05)
    assert "Conductor intruder took the lease" in str(failures[0])


async def test_leader_and_standby_stop_once_one_without_lease_holds_the_store(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a" / "symphony.db"
    failures: list[BaseException] = []
    async with trio.open_nursery() as nursery:

        async def run(start: Starter, task_status: trio.TaskStatus[None]) -> None:
            try:
                async with trio.open_nursery() as inner:
                    await start(inner, tmp_path, lease_seconds=1.0)
                    task_status.started()
            except* SharedStoreConflict as group:
                failures.extend(group.exceptions)

        await nursery.start(run, start_first)
        await nursery.start(run, start_second)
        await wait_leader(tmp_path / "a", db)
        # One without lease_seconds took the store (in the moment nobody held it, say).
        with sqlite3.connect(db) as conn:
            conn.execute(
                "UPDATE leases SET holder = 'solo', token = token + 1, alone = 1, expires_at = ?",
                (time.time() + 60,),
            )
        with trio.fail_after(15):
            while len(failures) < 2:
                await trio.sleep(0.05)
    assert all("Conductor solo" in str(failure) for failure in failures)
