"""200 jobs on one node: started, reported, stopped, nothing left behind."""

from __future__ import annotations

import trio

from tests.jobs.harness import gone, monitor_request, open_node, spec, wait_real

JOBS = 200


async def test_scale_200_jobs_start_report_and_stop_cleanly(tmp_path) -> None:
    async with open_node(str(tmp_path / "node")) as node:
        before = monitor_request(node.state_dir, {"op": "stats"})["rss_bytes"]
        async with trio.open_nursery() as nursery:
            for i in range(JOBS):
                nursery.start_soon(node.start, f"job-{i}", spec(["sleep", "1000"]))
        for i in range(JOBS):
            await node.wait_for(f"job-{i}", "running")
        reports = await node.manager.list_instances()
        assert len(reports) == JOBS
        assert all(r.state == "running" and r.rss_bytes > 0 for r in reports)
        pids = [r.pid for r in reports]
        assert len(set(pids)) == JOBS
        stats = monitor_request(node.state_dir, {"op": "stats"})
        assert stats["runs"] == JOBS
        per_job = (stats["rss_bytes"] - before) / JOBS
        assert per_job < 1024 * 1024, f"monitor grew {per_job / 1024:.0f} KiB per job"
        async with trio.open_nursery() as nursery:
            for i in range(JOBS):
                nursery.start_soon(node.manager.stop_instance, f"job-{i}")
        assert await node.manager.list_instances() == []
        await wait_real(lambda: all(gone(pid) for pid in pids))  # reaped: no zombies
        assert monitor_request(node.state_dir, {"op": "stats"})["runs"] == 0
