"""An exec check probes an adopted run as its job runs, after an agent restart too.

A restarted agent adopts its runs before its link is up: the Conductor sends their
secret values again only later, and the environment a run entered (a venv) is not
prepared again. The check's environment used to be made once, when watching began: an
adopted run's check ran without its secrets or its venv, failed, and the healthy job
was killed. Now the environment is made at each probe, a probe waits (skipped, not
failed) while a secret is not held, and the venv entered is found again by its name.
Real agent restart: a ProcessManager goes (its monitor and job stay) and a new one
adopts the run; a real venv.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

import pytest
import trio

from symphony.conductor.deployments.instances import job_spec
from symphony.node.process.supervised import entered
from symphony.node.sources.prepare import SourcePreparer
from symphony.spec import parse_spec
from symphony.wire import InstanceSecrets
from tests.jobs.harness import open_jobs, open_node, start_command, wait_real
from tests.sources.test_envs import make_venv

SECRET = {"TOKEN": "s3cr3t-value"}
# Passes only with the job's secret, inside its venv (its bin first on PATH).
CHECK = (
    '[ "$TOKEN" = s3cr3t-value ] && [ -n "$VIRTUAL_ENV" ] && '
    'case "$PATH" in "$VIRTUAL_ENV/bin:"*) true;; *) false;; esac'
)


async def test_an_adopted_check_waits_for_its_secrets_and_keeps_its_venv(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="symphony.node.process.runwatch")
    make_venv(tmp_path / "envs", "tools")
    state_dir = str(tmp_path / "node")

    def sources() -> SourcePreparer:
        cache = str(tmp_path / "cache")
        return SourcePreparer(
            cache_dir=cache, cache_max_bytes=2**30, envs_dir=str(tmp_path / "envs")
        )

    check = {"type": "exec", "command": ["sh", "-c", CHECK], "period_seconds": 1}
    data = {
        "config": {
            "command": ["sleep", "1000"],
            "env": {"TOKEN": {"secret": "tok"}},
            "env_name": "tools",
        },
        "health_check": {**check, "failure_threshold": 1},
    }
    start = dataclasses.replace(start_command("svc-0", job_spec(parse_spec(data))), secrets=SECRET)
    with trio.fail_after(90):
        async with (
            open_node(state_dir, keep_monitor=True, sources=sources()) as node,
            open_jobs(node) as (jobs, link),
        ):
            await jobs.start(start)
            await wait_real(lambda: any(s.health == "healthy" for s in link.of("svc-0")), 30)
            (pid,) = {s.pid for s in link.of("svc-0") if s.state == "running"}
            # A first start writes no outcome file (the venv is found again by name).
            assert not list(Path(state_dir).rglob("svc-0.outcome"))
        # The agent went (its monitor and job stay); the next one adopts the run.
        async with open_node(state_dir, sources=sources()) as node, open_jobs(node) as (jobs, link):
            await node.manager.adopt()
            await trio.to_thread.run_sync(time.sleep, 3.5)  # 3 periods without its secret
            said = link.of("svc-0")
            assert [s.health for s in said if s.health is not None] == [], said
            assert {s.state for s in said} == {"running"} and os.path.exists(f"/proc/{pid}")
            # Why it is not judged is said once, in the instance's reason and the log
            # (its secret may have been deleted meanwhile: it would wait for ever).
            waiting = "health check waiting for the secret value of TOKEN (secret tok)"
            assert [s.reason for s in said if s.reason == waiting] == [waiting], said
            assert said[-1].reason == waiting
            assert [r.message for r in caplog.records].count(f"instance svc-0: {waiting}") == 1
            jobs.keep_secrets(InstanceSecrets(instance_id="svc-0", secrets=SECRET))
            await wait_real(lambda: any(s.health is not None for s in link.of("svc-0")), 10)
            healths = [s.health for s in link.of("svc-0") if s.health is not None]
            assert healths[0] == "healthy", link.of("svc-0")
            assert link.of("svc-0")[-1].reason is None  # no longer waiting
            assert {s.pid for s in link.of("svc-0")} == {pid}  # the same run throughout


def test_a_secret_named_path_is_never_kept_as_entered() -> None:
    # What entering a venv changed (PATH, VIRTUAL_ENV) is derived again at adoption,
    # and a record of the previous release kept it on disk, unmasked: a spec mapping
    # PATH to a secret must leave it out, at the start and when a record is read back.
    job = {"PATH": "/venv/bin:s3cr3t-path", "VIRTUAL_ENV": "/venv"}
    secret = {"PATH": "path-secret"}
    assert entered({"PATH": "s3cr3t-path"}, job, secret=secret) == {"VIRTUAL_ENV": "/venv"}
    assert entered({}, job) == job  # without it, both
