"""A refused spec says what is wrong in our own words, the same in the API and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import trio

from .helpers import cluster

BAD = """\
config:
  command: [sleep, '1']
replicas: -1
replica: 2
restart_policy:
  type: on_failure
"""
WORDS = [
    {"path": "replicas", "message": "must be at least 0 (got -1)"},
    {
        "path": "restart_policy.type",
        "message": "must be one of 'always', 'on-failure', 'never' (got \"on_failure\"); "
        "did you mean 'on-failure'?",
    },
    {"path": "replica", "message": "unknown field 'replica'; did you mean 'replicas'?"},
]


async def test_api_invalid_spec_answers_422_with_our_words(tmp_path: Path) -> None:
    body = {"config": {"command": ["sleep", "1"]}, "replicas": -1, "replica": 2,
            "restart_policy": {"type": "on_failure"}}  # fmt: skip
    async with cluster(tmp_path, node=False) as c:
        answer = await c.http.post("/deployments", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid spec"
    assert sorted(answer.json()["detail"], key=str) == sorted(WORDS, key=str)


async def test_cli_deploy_prints_the_spec_errors_in_our_words(tmp_path: Path) -> None:
    spec_file = tmp_path / "job.yaml"
    spec_file.write_text(BAD)
    async with cluster(tmp_path, node=False) as c:
        env = {**os.environ, "SYMPHONY_URL": c.info.http_url}
        env["SYMPHONY_TOKEN"] = c.info.api_token or ""
        argv = [sys.executable, "-m", "symphony.cli", "deploy", "-f", str(spec_file)]
        done = await trio.to_thread.run_sync(
            lambda: subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        )
    assert done.returncode == 1, done
    (line,) = done.stderr.splitlines()
    assert line.startswith("symphony: error: invalid spec: ")
    for word in WORDS:
        assert f"{word['path']}: {word['message']}" in line
    assert "Input should" not in line


async def test_api_bad_query_parameter_and_body_use_the_same_words(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        spec = {"name": "web", "config": {"command": ["true"]}}
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        answer = await c.http.get("/deployments/web/events", params={"limit": "0"})
        assert answer.status_code == 400
        assert answer.json()["detail"] == 'limit: must be at least 1 (got "0")'
        answer = await c.http.get("/deployments/web/logs", params={"stream": "stdrr"})
        assert answer.json()["detail"] == (
            "stream: must be one of 'stdout', 'stderr' (got \"stdrr\"); did you mean 'stderr'?"
        )
        answer = await c.http.post("/tokens", json={"ttl": 60})
        assert answer.status_code == 422
        assert answer.json()["detail"] == [
            {"path": "ttl", "message": "unknown field 'ttl'; did you mean 'ttl_seconds'?"}
        ]
