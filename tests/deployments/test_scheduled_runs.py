"""Scheduled deployments against a real node: runs fired by the cron and the wall clock,
exit codes kept in the history, Kubernetes CronJob concurrency, scheduled restarts."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from ..timetable_helpers import WallClock
from .schedcluster import SchedCluster, sched_cluster

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()


def scheduled(name: str, script: str, cron: str = "* * * * *", **schedule: Any) -> dict[str, Any]:
    return {
        "name": name,
        "config": {"command": ["sh", "-c", script]},
        "restart_policy": {"type": "never"},
        "schedule": {"cron": cron, **schedule},
    }


async def create(c: SchedCluster, spec: dict[str, Any]) -> dict[str, Any]:
    response = await c.http.post("/deployments", json=spec)
    assert response.status_code == 201, response.text
    return response.json()


def finished(answer: dict[str, Any], count: int = 1) -> bool:
    done = [r for r in answer["runs"] if r["state"] != "running"]
    return len(done) >= count


async def test_scheduled_runs_fire_from_cron_and_keep_exit_codes(tmp_path: Path) -> None:
    clock = WallClock(datetime(2026, 6, 1, 11, 59, tzinfo=UTC))
    async with sched_cluster(tmp_path, clock) as c:
        bad = await create(c, {**scheduled("bad", "exit 3"), "replicas": 2})
        good = await create(c, scheduled("good", "exit 0"))
        assert bad["instances"] == [] and good["instances"] == []  # nothing before a run
        assert bad["state"] == "pending"
        assert bad["pending_reason"] == "waiting for its first scheduled run (* * * * *, UTC)"
        # The wall clock jumps to 11:59:58: noon's cron time comes in two real seconds.
        clock.jump(NOON - 2 - clock())
        c.poke()
        runs = await c.until("/deployments/bad/runs", finished)
        assert runs["schedule"]["cron"] == "* * * * *"
        assert runs["last_fire_at"] == NOON
        assert runs["next_run_at"] == NOON + 60
        (run,) = runs["runs"]
        assert (run["number"], run["state"], run["scheduled_at"]) == (1, "failed", NOON)
        assert not run["catch_up"]
        assert sorted((i["replica"], i["exit_code"]) for i in run["instances"]) == [(0, 3), (1, 3)]
        good_runs = await c.until("/deployments/good/runs", finished)
        assert [r["state"] for r in good_runs["runs"]] == ["succeeded"]
        events = await c.get("/deployments/bad/events")
        kinds = [e["kind"] for e in events["events"]]
        assert "run-started" in kinds and "run-failed" in kinds


async def test_scheduled_run_applies_on_failure_within_the_run(tmp_path: Path) -> None:
    marker = tmp_path / "failed-once"
    script = f"test -e {marker} && exit 0; touch {marker}; exit 1"
    async with sched_cluster(tmp_path, WallClock(datetime(2026, 6, 1, 11, 0, tzinfo=UTC))) as c:
        spec = scheduled("retry", script, history=3)
        spec["restart_policy"] = {"type": "on-failure", "backoff_seconds": 0.1}
        await create(c, spec)
        await c.fire("retry", NOON)
        runs = await c.until("/deployments/retry/runs", finished)
        assert runs["runs"][0]["state"] == "succeeded"
        assert runs["runs"][0]["instances"][0]["exit_code"] == 0
        deployment = await c.get("/deployments/retry")
        assert deployment["instances"][0]["restarts"] == 1


async def test_scheduled_concurrency_forbid_allow_replace(tmp_path: Path) -> None:
    async with sched_cluster(tmp_path, WallClock(datetime(2026, 6, 1, 11, 0, tzinfo=UTC))) as c:
        for policy in ("forbid", "allow", "replace"):
            await create(c, scheduled(policy, "sleep 300", concurrency=policy))
            await c.fire(policy, NOON)
        for policy in ("forbid", "allow", "replace"):
            await c.until(f"/deployments/{policy}", lambda d: running(d) == 1)
            await c.fire(policy, NOON + 60)

        # forbid: the second time is skipped while run 1 goes on.
        forbid = await c.until(
            "/deployments/forbid/events",
            lambda a: any(e["kind"] == "run-skipped" for e in a["events"]),
        )
        assert [r["number"] for r in (await c.get("/deployments/forbid/runs"))["runs"]] == [1]
        assert forbid
        # allow: both runs go on, each with its own replica.
        allow = await c.until("/deployments/allow", lambda d: running(d) == 2)
        assert sorted(i["replica"] for i in allow["instances"]) == [0, 1]
        runs = (await c.get("/deployments/allow/runs"))["runs"]
        assert [(r["number"], r["state"]) for r in runs] == [(2, "running"), (1, "running")]
        # replace: run 1 is stopped and marked replaced; run 2 runs.
        replaced = await c.until(
            "/deployments/replace",
            lambda d: running(d) == 1 and any(i["state"] == "stopped" for i in d["instances"]),
        )
        assert len([i for i in replaced["instances"] if i["state"] == "stopped"]) == 1
        runs = (await c.get("/deployments/replace/runs"))["runs"]
        assert [(r["number"], r["state"]) for r in runs] == [(2, "running"), (1, "replaced")]

        # Stopping the deployment ends the run going on as "stopped".
        assert (
            await c.http.patch("/deployments/allow", json={"desired_state": "stopped"})
        ).is_success
        stopped = await c.until("/deployments/allow/runs", lambda a: finished(a, 2))
        assert {r["state"] for r in stopped["runs"]} == {"stopped"}


def running(deployment: dict[str, Any]) -> int:
    return sum(1 for i in deployment["instances"] if i["state"] == "running")


async def test_scheduled_history_keeps_the_newest_runs(tmp_path: Path) -> None:
    async with sched_cluster(tmp_path, WallClock(datetime(2026, 6, 1, 11, 0, tzinfo=UTC))) as c:
        await create(c, scheduled("short", "exit 0", history=2))
        for number in range(1, 5):
            await c.fire("short", NOON + 60 * number)
            await c.until(
                "/deployments/short/runs",
                lambda a, n=number: (
                    finished(a, min(n, 2))
                    and a["runs"][0]["number"] == n
                    and a["runs"][0]["state"] != "running"
                ),
            )
        runs = (await c.get("/deployments/short/runs"))["runs"]
        assert [(r["number"], r["state"]) for r in runs] == [(4, "succeeded"), (3, "succeeded")]


async def test_restart_schedule_all_at_once_restarts_every_instance(tmp_path: Path) -> None:
    async with sched_cluster(tmp_path, WallClock(datetime(2026, 6, 1, 11, 0, tzinfo=UTC))) as c:
        spec = {
            "name": "service",
            "replicas": 2,
            "config": {"command": ["sleep", "300"]},
            # All at once, as before rolling restarts (the default now: tests/rolling).
            "restart_schedule": {
                "cron": "0 4 * * *",
                "timezone": "Europe/Berlin",
                "strategy": "all-at-once",
            },
        }
        await create(c, spec)
        before = await c.until("/deployments/service", lambda d: running(d) == 2)
        old = {i["id"] for i in before["instances"]}
        await c.fire("service", NOON, restart=True)

        def renewed(d: dict[str, Any]) -> bool:
            live = [i for i in d["instances"] if i["state"] == "running"]
            return len(live) == 2 and not old & {i["id"] for i in live}

        after = await c.until("/deployments/service", renewed)
        stopped = [i for i in after["instances"] if i["id"] in old]
        assert {i["state"] for i in stopped} == {"stopped"}
        runs = await c.get("/deployments/service/runs")
        assert runs["runs"] == [] and runs["next_restart_at"] is not None
        # Said in the schedule's zone, as ``symphony runs`` shows its times.
        events = await c.get("/deployments/service/events")
        (said,) = [e["message"] for e in events["events"] if e["kind"] == "restart-scheduled"]
        assert said.startswith("scheduled restart for 2026-06-01 14:00 Europe/Berlin:")
        await trio.sleep(0)


async def test_scheduled_runs_in_cli_and_api_errors(tmp_path: Path) -> None:
    async with sched_cluster(tmp_path, WallClock(datetime(2026, 6, 1, 11, 0, tzinfo=UTC))) as c:
        await create(c, {**scheduled("cli", "exit 4", timezone="Europe/Berlin"), "replicas": 2})
        await c.fire("cli", NOON)
        await c.until("/deployments/cli/runs", finished)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SYMPHONY_")},
            "SYMPHONY_URL": str(c.http.base_url).rstrip("/"),
            "SYMPHONY_TOKEN": c.http.headers["Authorization"].removeprefix("Bearer "),
        }
        symphony = str(Path(sys.executable).parent / "symphony")
        result = await trio.to_thread.run_sync(
            functools.partial(
                subprocess.run,
                [symphony, "runs", "cli"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "schedule: * * * * * (Europe/Berlin), concurrency forbid, keeps 10 runs"
        assert lines[2].split()[:2] == ["RUN", "STATE"]
        assert lines[3].split()[:2] == ["1", "failed"] and lines[3].endswith("4 4")
        # Stopped, it lets its times pass: no "next run" that will not come.
        assert (
            await c.http.patch("/deployments/cli", json={"desired_state": "stopped"})
        ).is_success
        answer = await c.get("/deployments/cli/runs")
        assert (answer["desired_state"], answer["next_run_at"]) == ("stopped", None)
        result = await trio.to_thread.run_sync(
            functools.partial(
                subprocess.run, [symphony, "runs", "cli"], env=env, capture_output=True, text=True
            )
        )
        assert result.stdout.splitlines()[1] == (
            "next run: none while it is stopped (its times pass; `symphony start cli` resumes it)"
        )

        # Malformed input: refused with the field's path, never a 500.
        bad_zone = await c.http.post(
            "/deployments", json=scheduled("x", "true", timezone="Mars/Olympus")
        )
        assert bad_zone.status_code == 422
        assert "unknown time zone 'Mars/Olympus'" in bad_zone.text
        assert "schedule.timezone" in bad_zone.text
        bad_cron = await c.http.post(
            "/deployments", json={**scheduled("x", "true"), "schedule": {"cron": "61 * * * *"}}
        )
        assert bad_cron.status_code == 422 and "schedule.cron" in bad_cron.text
        patch = await c.http.patch("/deployments/cli", json={"schedule": {"history": "ten"}})
        assert patch.status_code == 422 and "schedule.history" in patch.text
        missing = await c.http.get("/deployments/nothing-here/runs")
        assert missing.status_code == 404
        hostile = await c.http.get("/deployments/%00%ff../runs")
        assert hostile.status_code in (400, 404)
        plain = await create(c, {"name": "plain", "config": {"command": ["sleep", "30"]}})
        answer = await c.get(f"/deployments/{plain['id']}/runs")
        assert answer["schedule"] is None and answer["runs"] == []


async def test_scheduled_missed_runs_make_one_catch_up_after_a_restart(tmp_path: Path) -> None:
    clock = WallClock(datetime(2026, 6, 1, 11, 59, tzinfo=UTC))
    async with sched_cluster(tmp_path, clock) as c:
        await create(c, scheduled("catchup", "exit 0", cron="*/5 * * * *"))
        clock.jump(NOON - 2 - clock())
        c.poke()
        first = await c.until("/deployments/catchup/runs", finished)
        assert [(r["number"], r["catch_up"]) for r in first["runs"]] == [(1, False)]
    # The Conductor is down for an hour: twelve times of */5 pass unseen.
    clock.jump(3600)
    async with sched_cluster(tmp_path, clock) as c:
        runs = await c.until("/deployments/catchup/runs", lambda a: finished(a, 2))
        assert [(r["number"], r["state"], r["catch_up"]) for r in runs["runs"]] == [
            (2, "succeeded", True),
            (1, "succeeded", False),
        ]
        assert runs["runs"][0]["scheduled_at"] == NOON + 3600
        events = await c.get("/deployments/catchup/events")
        started = [e["message"] for e in events["events"] if e["kind"] == "run-started"]
        assert "catching up (11 earlier time(s) skipped)" in started[-1]
