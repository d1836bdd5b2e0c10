"""The lease's timing on Trio's virtual clock, with real SQLite stores sharing a file:
renewals, the step-down before expiry, the takeover at expiry, and at once after a
fenced write."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from symphony.conductor.leadership import LEASE, Leadership
from symphony.conductor.store import Fenced, Store
from symphony.spec import parse_spec

SPEC = {"node_group": "g", "kind": "exec", "config": {"command": ["true"]}}
WALL0 = 1_700_000_000.0  # the wall clock at virtual time 0


def wall() -> float:
    return WALL0 + trio.current_time()


def open_pair(tmp_path: Path) -> tuple[Leadership, Leadership]:
    stores = [Store.open(tmp_path / "shared.db", clock=wall) for _ in range(2)]
    return (
        Leadership(stores[0], holder="a", seconds=10, wall=wall),
        Leadership(stores[1], holder="b", seconds=10, wall=wall),
    )


async def test_leader_renews_every_third_of_the_lease(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    a, b = open_pair(tmp_path)
    assert a.try_acquire() and not b.try_acquire()
    with trio.move_on_after(60):
        await a.until_change()  # renews all along: never returns
    assert a.is_leader()
    lease = a.store.get_lease(LEASE)
    assert lease is not None and lease.token == 1
    # The last renewal was at most a third of the lease ago.
    assert lease.expires_at - wall() >= 10 - 10 / 3 - 0.01


async def test_leader_that_cannot_renew_steps_down_before_its_lease_expires(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    a, b = open_pair(tmp_path)
    assert a.try_acquire()
    expires = a.store.get_lease(LEASE).expires_at  # type: ignore[union-attr]
    a.store.close()  # the database is gone for a: every renewal fails
    await a.until_change()
    assert not a.is_leader()
    assert trio.current_time() == pytest.approx(7.5, abs=0.01)  # 10 minus a quarter
    assert wall() < expires  # before anyone else could take the lease
    await b.until_change()  # b takes it when it expires
    assert b.is_leader() and wall() == pytest.approx(expires, abs=0.05)


async def test_standby_takes_over_when_the_lease_runs_out(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    a, b = open_pair(tmp_path)
    assert a.try_acquire()  # and then a is killed: it never renews
    assert not b.try_acquire()
    await b.until_change()
    assert b.is_leader() and b.lease is not None and b.lease.token == 2
    assert 10 - 1e-6 <= trio.current_time() <= 10.05  # (the wall clock's float grain)


async def test_fenced_write_makes_the_leader_step_down_at_once(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    a, b = open_pair(tmp_path)
    assert a.try_acquire()
    b.store._conn.execute("UPDATE leases SET expires_at = 0")  # as if a had paused
    assert b.try_acquire()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.until_change)
        await trio.sleep(1)
        with pytest.raises(Fenced):
            a.store.create_deployment(parse_spec({**SPEC, "name": "late"}))
        await trio.sleep(0.1)
        assert not a.is_leader()  # now, not at its next renewal (t = 3.3 s)
    assert b.store.list_deployments() == []


async def test_a_leader_renews_at_once_or_steps_down_after_a_long_start(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    a, b = open_pair(tmp_path)
    assert a.try_acquire()
    await trio.sleep(8)  # a start that outlasted the deadline (7.5 s): not leading now
    assert not a.is_leader()
    assert a.renew_or_step_down() and a.is_leader()  # nobody took it: renewed
    a.store._conn.execute("UPDATE leases SET expires_at = 0")  # as if a had paused
    assert b.try_acquire()
    assert not a.renew_or_step_down() and not a.is_leader()  # another holder: stepped down
    with pytest.raises(Fenced):  # and fenced: no write of a lands
        a.store.create_deployment(parse_spec({**SPEC, "name": "late"}))
    # A store that fails right then (unreachable, say): the leader stands down too.
    c = Leadership(
        Store.open(tmp_path / "shared.db", clock=wall), holder="c", seconds=10, wall=wall
    )
    c.store._conn.execute("UPDATE leases SET expires_at = 0")
    assert c.try_acquire()
    c.store.close()
    assert not c.renew_or_step_down() and not c.is_leader()


async def test_a_leader_past_its_deadline_still_gives_its_lease_up(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    a, b = open_pair(tmp_path)
    assert a.try_acquire() and not b.try_acquire()
    await trio.sleep(8)  # a renewal came late (a long drain, say): past a's deadline
    assert not a.is_leader()
    a.release()  # a clean stop: the lease still carries a's token, so it is given up
    assert b.try_acquire() and b.lease is not None and b.lease.token == 2
    assert trio.current_time() < 10  # b need not wait for the lease to run out
    a.release()  # a's term is over: b's lease is untouched
    assert b.store.get_lease(LEASE) == b.lease


async def test_a_leader_that_stepped_down_past_its_deadline_still_gives_its_lease_up(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    a, b = open_pair(tmp_path)
    assert a.try_acquire() and not b.try_acquire()
    await trio.sleep(8)
    a.step_down()  # as its renewal loop does past the deadline ("not renewed in time")
    a.release()  # a clean stop: the lease still carries a's token, so it is given up
    assert b.try_acquire() and b.lease is not None and b.lease.token == 2
    assert trio.current_time() < 10  # b need not wait for the lease to run out
    a.release()  # a's term is over: b's lease is untouched
    assert b.store.get_lease(LEASE) == b.lease


async def test_a_stopping_leader_renews_until_it_has_drained(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    a, b = open_pair(tmp_path)
    assert a.try_acquire()
    drained = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.keep_until, drained)
        await trio.sleep(25)  # a drain longer than the lease
        assert a.is_leader() and not b.try_acquire()
        drained.set()
    a.release()
    assert b.try_acquire()


async def test_a_stopping_leader_past_its_deadline_renews_at_once_if_it_still_can(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    a, b = open_pair(tmp_path)
    assert a.try_acquire()
    await trio.sleep(8)  # the loop stalled past the deadline (7.5 s) as the stop came
    drained = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.keep_until, drained)
        await trio.sleep(20)
        assert a.is_leader() and not b.try_acquire()  # renewed, and kept since
        drained.set()
    a.store._conn.execute("UPDATE leases SET expires_at = 0")  # as if a had paused
    assert b.try_acquire()
    await a.keep_until(trio.Event())  # another holder now: returns at once, stepped down
    assert not a.is_leader()


async def test_a_standby_takes_a_released_lease_within_a_tenth_of_a_second(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    a, b = open_pair(tmp_path)
    assert a.try_acquire() and not b.try_acquire()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(b.until_change)
        await trio.sleep(2.05)
        a.release()  # a clean stop, 8 s before the lease would run out
        released = trio.current_time()
    assert b.is_leader()
    assert trio.current_time() - released <= 0.11


async def test_a_standby_whose_store_is_gone_logs_an_attempt_a_second(
    tmp_path: Path, autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = open_pair(tmp_path)
    assert a.try_acquire() and not b.try_acquire()
    b.store.close()  # every read and attempt of b fails
    with trio.move_on_after(10):
        await b.until_change()
    attempts = [r for r in caplog.records if "lease attempt failed" in r.getMessage()]
    assert 9 <= len(attempts) <= 11, len(attempts)  # one a second, not ten
