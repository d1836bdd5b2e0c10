"""The instance list goes on when the ``/proc`` scan for CPU% and RSS cannot be made.

Every report of the instances (a hello, each heartbeat's usage, an adoption) first
scans ``/proc`` for the jobs' CPU time and memory. Out of file descriptors (for a moment:
a burst of connections, a job's leak counted against the agent), listing ``/proc``
raised EMFILE out of the list: a heartbeat's usage ended the link with it, and a hello
failed. The list is what matters (the Conductor diffs it against its own view); the
numbers are not: now the reports go without them, saying why in the log.
Real processes; the shortage is real too (the test uses up its descriptors a moment).
"""

from __future__ import annotations

import trio

from tests.jobs.fds import no_free_descriptors
from tests.jobs.harness import open_jobs, open_node, spec, start_command, wait_real


async def test_reports_without_descriptors_for_the_proc_scan_still_list_the_instances(
    tmp_path,
) -> None:
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            for name in ("a-0", "b-0"):
                await jobs.start(start_command(name, spec(["sleep", "1000"])))
            await wait_real(
                lambda: all(any(s.state == "running" for s in link.of(n)) for n in ("a-0", "b-0"))
            )
            with no_free_descriptors():
                reports = await node.manager.list_instances()
                usage = await jobs.usage()
            assert sorted((r.instance_id, r.state) for r in reports) == [
                ("a-0", "running"),
                ("b-0", "running"),
            ]
            assert all(r.pid is not None and r.cpu_percent == 0.0 for r in reports)
            assert sorted(u.instance_id for u in usage) == ["a-0", "b-0"]
            # Descriptors back: the numbers are back too.
            again = await node.manager.list_instances()
            assert all(r.rss_bytes > 0 for r in again)
