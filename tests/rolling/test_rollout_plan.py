"""The rolling-update planner, step by step with plain numbers (no clock, no actors)."""

from __future__ import annotations

from dataclasses import replace

from symphony.conductor.deployments.rollout import Member, plan_roll
from symphony.spec import UpdatePolicy

POLICY = UpdatePolicy(min_healthy_seconds=10, healthy_deadline_seconds=60)


def olds(n: int, *, stopping: int = 0) -> list[Member]:
    return [
        Member(f"old{r}", r, created=0.0, healthy_since=0.0, stopping=r < stopping)
        for r in range(n)
    ]


def test_rollout_plan_surges_one_at_a_time_and_stops_old_only_for_healthy_new() -> None:
    step = plan_roll(replicas=4, policy=POLICY, new=[], old=olds(4), now=100)
    assert (step.start, step.stop, step.done) == (1, (), False)
    # One new instance running but not healthy long enough: nothing more, wake at +10 s.
    new = [Member("n0", 0, created=100, healthy_since=101)]
    step = plan_roll(replicas=4, policy=POLICY, new=new, old=olds(4), now=105)
    assert (step.start, step.stop, step.wake_at) == (0, (), 111)
    # Healthy: one old instance stops; the cap (4 + 1) allows no other start yet.
    step = plan_roll(replicas=4, policy=POLICY, new=new, old=olds(4), now=111)
    assert step.stop == ("old3",) and step.start == 0


def test_rollout_plan_never_exceeds_replicas_plus_surge() -> None:
    new = [Member("n0", 0, created=100, healthy_since=100)]
    old = olds(4, stopping=1)  # one old stopping still holds its capacity
    step = plan_roll(replicas=4, policy=POLICY, new=new, old=old, now=200)
    assert step.start == 0
    policy = UpdatePolicy(max_parallel=3, max_surge=2, min_healthy_seconds=0)
    step = plan_roll(replicas=4, policy=policy, new=[], old=olds(4), now=0)
    assert step.start == 2  # max_parallel would allow 3; the surge allows 2


def test_rollout_plan_without_surge_goes_one_down_one_up() -> None:
    policy = UpdatePolicy(max_surge=0, min_healthy_seconds=0)
    step = plan_roll(replicas=3, policy=policy, new=[], old=olds(3), now=0)
    assert (step.start, len(step.stop)) == (0, 1)
    step = plan_roll(replicas=3, policy=policy, new=[], old=olds(3, stopping=1), now=0)
    assert (step.start, step.stop) == (0, ())  # waits for the stop to free the room
    step = plan_roll(replicas=3, policy=policy, new=[], old=olds(3)[1:], now=0)
    assert (step.start, step.stop) == (1, ())


def test_rollout_plan_surge_waiting_for_room_frees_one() -> None:
    new = [Member("n0", 0, created=0, waiting_for_room=True, state="pending")]
    step = plan_roll(replicas=2, policy=POLICY, new=new, old=olds(2), now=1)
    assert len(step.stop) == 1 and step.start == 0
    # ... but only one at a time: never two old instances down for room.
    step = plan_roll(replicas=2, policy=POLICY, new=new, old=olds(2, stopping=1), now=1)
    assert step.stop == ()


def test_rollout_plan_deadline_fails_the_roll() -> None:
    new = [Member("n0", 0, created=0, state="restarting")]
    step = plan_roll(replicas=2, policy=POLICY, new=new, old=olds(2), now=59.9)
    assert step.failure is None and step.wake_at == 60
    step = plan_roll(replicas=2, policy=POLICY, new=new, old=olds(2), now=60)
    assert step.failure is not None and "n0" in step.failure and "60 s" in step.failure
    assert step.stop == () and step.start == 0


def test_rollout_plan_canaries_wait_for_promote() -> None:
    policy = UpdatePolicy(canary=1, min_healthy_seconds=0, max_surge=0)
    step = plan_roll(replicas=3, policy=policy, new=[], old=olds(3), now=0)
    assert (step.start, step.stop) == (1, ())  # beside the old ones, even without surge
    canary = [Member("c0", 0, created=0, healthy_since=0)]
    step = plan_roll(replicas=3, policy=policy, new=canary, old=olds(3), now=1)
    assert (step.start, step.stop, step.done) == (0, (), False)
    assert step.waiting is not None and "promote" in step.waiting
    step = plan_roll(replicas=3, policy=policy, new=canary, old=olds(3), now=1, promoted=True)
    assert step.stop == ("old2",) and step.waiting is None


def test_rollout_plan_canaries_replace_a_superseded_roll_s_canaries() -> None:
    """Old ones beyond ``replicas`` (a superseded roll's canary) stop, the stray one
    first even when an instance of the good version was healthy for a shorter time;
    the new canary starts once it is gone (a stopping one still holds its room)."""
    policy = UpdatePolicy(canary=1, min_healthy_seconds=0)
    good = [Member("old0", 0, created=0, healthy_since=90), *olds(3)[1:]]
    stray = Member("c0", 0, created=0, healthy_since=50, stray=True)
    step = plan_roll(replicas=3, policy=policy, new=[], old=[*good, stray], now=100)
    assert (step.start, step.stop, step.waiting) == (0, ("c0",), None)
    stopping = replace(stray, stopping=True)
    step = plan_roll(replicas=3, policy=policy, new=[], old=[*good, stopping], now=101)
    assert (step.start, step.stop) == (0, ())
    step = plan_roll(replicas=3, policy=policy, new=[], old=good, now=102)
    assert (step.start, step.stop) == (1, ())


def test_rollout_plan_without_canaries_stops_a_stray_before_a_good_instance() -> None:
    """After a promote, an old instance a healthy new one replaces is a superseded
    roll's stray before it is one of the good version (what a revert would keep), even
    when the good one was healthy for a shorter time."""
    policy = UpdatePolicy(min_healthy_seconds=0)
    good = Member("old0", 0, created=0, healthy_since=90)
    stray = Member("c0", 1, created=0, healthy_since=50, stray=True)
    new = [Member("n0", 0, created=95, healthy_since=96)]
    step = plan_roll(replicas=2, policy=policy, new=new, old=[good, stray], now=100)
    assert step.stop == ("c0",)


def test_rollout_plan_is_done_when_only_healthy_new_ones_serve() -> None:
    new = [Member(f"n{r}", r, created=0, healthy_since=0) for r in range(2)]
    step = plan_roll(replicas=2, policy=POLICY, new=new, old=olds(1), now=10)
    assert step.stop == ("old0",) and step.done
    step = plan_roll(replicas=2, policy=POLICY, new=new, old=[], now=10)
    assert step.done and step.start == 0
