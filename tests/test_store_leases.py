"""The leadership lease: two Conductors' stores on one database (a SQLite file, or
PostgreSQL), one holder at a time, tokens that only rise, and fencing of a deposed
holder's writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from symphony.conductor.alone import AloneLease, SharedStoreConflict, refuse_beside
from symphony.conductor.leadership import LEASE
from symphony.conductor.store import Fenced, Store
from symphony.spec import parse_spec

SPEC = {"node_group": "g", "kind": "exec", "config": {"command": ["true"]}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pair(store_url: str) -> Iterator[tuple[Store, Store, Clock]]:
    clock = Clock()
    a = Store.open_url(store_url, clock=clock)
    b = Store.open_url(store_url, clock=clock)
    yield a, b, clock
    a.close()
    b.close()


def test_lease_one_holder_at_a_time_until_it_expires(pair: tuple[Store, Store, Clock]) -> None:
    a, b, clock = pair
    first = a.acquire_lease("conductor", "a", seconds=10, url="http://a")
    assert (first.holder, first.token, first.url) == ("a", 1, "http://a")
    seen = b.acquire_lease("conductor", "b", seconds=10, url="http://b")
    assert (seen.holder, seen.token, seen.url) == ("a", 1, "http://a")  # b is a standby
    clock.now += 9
    renewed = a.acquire_lease("conductor", "a", seconds=10, url="http://a", renew=1)
    assert (renewed.holder, renewed.token, renewed.expires_at) == ("a", 1, clock.now + 10)
    clock.now += 9.9
    assert b.acquire_lease("conductor", "b", seconds=10).holder == "a"
    clock.now += 0.2  # a did not renew: its lease ran out
    taken = b.acquire_lease("conductor", "b", seconds=10, url="http://b")
    assert (taken.holder, taken.token) == ("b", 2)
    assert a.get_lease("conductor") == taken
    # a's renewal of its old term fails: the lease changed hands.
    assert a.acquire_lease("conductor", "a", seconds=10, renew=1).holder == "b"


def test_lease_token_rises_on_every_change_of_hands(pair: tuple[Store, Store, Clock]) -> None:
    a, b, clock = pair
    tokens = []
    for holder in ["a", "b", "a", "a", "b"]:
        store = a if holder == "a" else b
        lease = store.acquire_lease("conductor", holder, seconds=1)
        assert lease.holder == holder
        tokens.append(lease.token)
        clock.now += 2
    assert tokens == [1, 2, 3, 4, 5]  # even "a" again after expiry starts a new term


def test_lease_released_is_free_at_once(pair: tuple[Store, Store, Clock]) -> None:
    a, b, _ = pair
    lease = a.acquire_lease("conductor", "a", seconds=10)
    assert a.release_lease(lease)
    assert b.acquire_lease("conductor", "b", seconds=10).holder == "b"
    assert not a.release_lease(lease)  # not a's any more: nothing changes
    assert b.get_lease("conductor").holder == "b"  # type: ignore[union-attr]


def test_fenced_writes_of_a_deposed_leader_are_refused(pair: tuple[Store, Store, Clock]) -> None:
    a, b, clock = pair
    lease = a.acquire_lease("conductor", "a", seconds=10)
    a.fence_writes("conductor", "a", lease.token)
    kept = a.create_deployment(parse_spec({**SPEC, "name": "kept"}))
    clock.now += 11  # a paused past its lease (SIGSTOP); b takes over
    b.fence_writes("conductor", "b", b.acquire_lease("conductor", "b", seconds=10).token)
    with pytest.raises(Fenced, match="no longer the leader"):
        a.create_deployment(parse_spec({**SPEC, "name": "lost"}))
    with pytest.raises(Fenced):
        a.delete_deployment(kept.id)
    assert [d.name for d in b.list_deployments()] == ["kept"]  # nothing of a's landed
    b.create_deployment(parse_spec({**SPEC, "name": "new"}))  # the new leader writes


def test_standby_store_fenced_before_it_holds_the_lease(pair: tuple[Store, Store, Clock]) -> None:
    a, b, _ = pair
    a.fence_writes("conductor", "a", a.acquire_lease("conductor", "a", seconds=10).token)
    assert b.acquire_lease("conductor", "b", seconds=10).holder == "a"
    b.fence_writes("conductor", "b")  # a standby: every write of b is refused
    with pytest.raises(Fenced):
        b.create_deployment(parse_spec({**SPEC, "name": "x"}))
    b.stop_fencing()
    b.create_deployment(parse_spec({**SPEC, "name": "x"}))


def test_lease_same_holder_takes_its_old_term_over_at_once(
    pair: tuple[Store, Store, Clock],
) -> None:
    a, b, _ = pair
    old = a.acquire_lease("conductor", "a", seconds=10)
    a.close()  # "a" restarts (its state directory's lock proves the old run is gone)
    again = b.acquire_lease("conductor", "a", seconds=10)
    assert (again.holder, again.token) == ("a", old.token + 1)  # no wait for the expiry


def test_lease_renewals_leave_the_commit_count_alone(pair: tuple[Store, Store, Clock]) -> None:
    a, _, _ = pair
    lease = a.acquire_lease("conductor", "a", seconds=10)
    a.fence_writes("conductor", "a", lease.token)
    before = a.commits
    for _ in range(3):  # readers' caches keyed on commits stay valid
        a.acquire_lease("conductor", "a", seconds=10, renew=lease.token)
    assert a.commits == before
    a.create_deployment(parse_spec({**SPEC, "name": "x"}))
    assert a.commits == before + 1


# A lease marked alone (a Conductor without lease_seconds) is refused both ways.


@pytest.fixture
def solo(pair: tuple[Store, Store, Clock]) -> tuple[AloneLease, Store, Store, Clock]:
    """The lease of a Conductor alone (``solo``), taken through the first store."""
    a, b, clock = pair
    alone = AloneLease(a, "solo", wall=clock)
    alone.take()
    return alone, a, b, clock


def test_alone_lease_is_stored_and_refuses_a_leased_conductor(
    solo: tuple[AloneLease, Store, Store, Clock],
) -> None:
    alone, _, b, clock = solo
    seen = b.acquire_lease(LEASE, "leased", seconds=10)
    assert (seen.holder, seen.alone) == ("solo", True)
    with pytest.raises(SharedStoreConflict) as info:
        refuse_beside(seen, "leased", clock(), alone=False)
    message = str(info.value)
    assert "Conductor solo" in message and "without lease_seconds" in message
    assert "lease_seconds on every Conductor" in message and "\n" not in message
    alone.release()  # a clean stop: the other may start at once
    assert b.acquire_lease(LEASE, "leased", seconds=10).holder == "leased"


def test_alone_conductor_refuses_a_store_another_conductor_leads(
    pair: tuple[Store, Store, Clock],
) -> None:
    a, b, clock = pair
    a.acquire_lease(LEASE, "leader", seconds=10, url="http://a:8000")
    with pytest.raises(SharedStoreConflict, match=r"Conductor leader \(API http://a:8000"):
        AloneLease(b, "solo", wall=clock).take()
    assert b.acquire_lease(LEASE, "solo", seconds=30, alone=True).holder == "leader"
    clock.now += 10  # the leader's lease ran out (it is gone): the store is free
    AloneLease(b, "solo", wall=clock).take()


def test_alone_lease_taken_over_fences_its_writes_and_is_lost(
    solo: tuple[AloneLease, Store, Store, Clock],
) -> None:
    alone, a, b, clock = solo
    assert alone.renew()
    clock.now += 31  # paused past its lease: another Conductor took the store
    assert b.acquire_lease(LEASE, "other", seconds=10).holder == "other"
    with pytest.raises(Fenced):
        a.create_deployment(parse_spec(SPEC))
    assert not alone.renew() and alone.taken_by == "other"
    assert "Conductor other took the lease" in str(alone.lost_error())


def test_alone_lease_taken_and_let_go_is_not_kept_by_a_late_renewal(
    solo: tuple[AloneLease, Store, Store, Clock],
) -> None:
    """Another Conductor held the lease while this one was paused, then let it run out:
    the renewal that follows must not quietly keep the new term the store hands out (it
    named this Conductor as the one that took it, and that term was never released, so
    the store stayed closed to every other Conductor for 30 s)."""
    alone, _, b, clock = solo
    clock.now += 31
    other = b.acquire_lease(LEASE, "other", seconds=10)
    assert other.holder == "other"
    clock.now += 11  # and gone without a clean stop
    assert not alone.renew()
    assert alone.taken_by is not None and "another Conductor" in alone.taken_by
    assert b.acquire_lease(LEASE, "next", seconds=10).holder == "next"  # free at once
