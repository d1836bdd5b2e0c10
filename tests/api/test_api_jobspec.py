"""One job spec: what the API accepts is what a node runs, for nodes old and new.

The node used to re-validate the spec with rules and defaults of its own: a ``tcp``
health check without ``host`` was accepted by the API, stored as null and refused by
the node (the instance failed at once), and the node accepted a ``jitter`` the API
refuses. Now the validated spec fills every default once and the node runs the typed
job spec it is sent.
"""

from __future__ import annotations

import dataclasses
import socket
import typing
from functools import partial
from pathlib import Path
from typing import Any

import msgpack

from symphony.spec import DeploymentSpec
from symphony.wire import (
    JobSpec,
    StartInstance,
    encode,
)

from . import v2_node_jobspec
from .helpers import PYTHON, cluster
from .old_node import run_old_node

LISTEN = "import socket,sys,time; s=socket.socket(); s.bind(('127.0.0.1',int(sys.argv[1]))); " \
    "s.listen(); time.sleep(600)"  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_api_tcp_health_check_without_host_runs_healthy_on_a_node(tmp_path: Path) -> None:
    port = _free_port()
    spec = {
        "name": "listener",
        "node_group": "gpu-1",
        "config": {"command": [PYTHON, "-c", LISTEN, str(port)]},
        "health_check": {"type": "tcp", "port": port, "period_seconds": 1},
    }
    async with cluster(tmp_path) as c:
        created = await c.http.post("/deployments", json=spec)
        assert created.status_code == 201, created.text
        assert created.json()["spec"]["health_check"]["host"] == "127.0.0.1"  # filled once
        healthy = await c.wait_for(
            "listener", lambda d: d["instances"][0].get("health") == "healthy", timeout=20
        )
        (instance,) = healthy["instances"]
        assert instance["state"] == "running" and instance["restarts"] == 0, instance


async def test_api_refuses_what_would_hurt_a_node_with_a_422_naming_the_field(
    tmp_path: Path,
) -> None:
    # A probe every nanosecond (about 400 processes a second per replica in the agent),
    # and thousands of capacity classes (a 40 KB pending reason in every listing).
    check = {"type": "exec", "command": ["true"], "period_seconds": 1e-9}
    async with cluster(tmp_path, node=False) as c:
        for spec, path in [
            (
                {"config": {"command": ["true"]}, "health_check": check},
                "health_check.period_seconds",
            ),
            (
                {
                    "config": {"command": ["true"]},
                    "capacity_requests": {f"A{i}": 1 for i in range(5000)},
                },
                "capacity_requests",
            ),
        ]:
            refused = await c.http.post("/deployments", json=spec)
            assert refused.status_code == 422, refused.text
            assert path in refused.text and len(refused.text) < 2000, refused.text


async def test_api_refuses_jitter_and_the_node_reads_no_field_the_spec_lacks(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, node=False) as c:
        spec = {"config": {"command": ["true"]}, "restart_policy": {"jitter": 0}}
        refused = await c.http.post("/deployments", json=spec)
        assert refused.status_code == 422
        assert "restart_policy.jitter" in refused.text
    # Every field of the job spec a node runs is a field of the deployment spec, of the
    # same name and place: there is no second vocabulary to drift apart. The one
    # exception is derived, not a second vocabulary: the variables of config.env whose
    # values are secret references (their values travel beside the spec).
    assert _missing(JobSpec, DeploymentSpec) == ["config.secret_env"]


def _missing(job: type, spec: Any, prefix: str = "") -> list[str]:
    missing = []
    hints = typing.get_type_hints(job)
    for field in dataclasses.fields(job):
        path = f"{prefix}{field.name}"
        if field.name not in spec.model_fields:
            missing.append(path)
            continue
        inner = hints[field.name]
        inner = next((a for a in typing.get_args(inner) if a is not type(None)), inner)
        if dataclasses.is_dataclass(inner):
            model = spec.model_fields[field.name].annotation
            model = next((a for a in typing.get_args(model) if a is not type(None)), model)
            missing += _missing(inner, model, f"{path}.")
    return missing


SPECS: list[dict[str, Any]] = [
    {"config": {"command": ["true"]}},
    {
        "config": {"command": ["sh", "-c", "x"], "env": {"A": "1"}, "cwd": "/tmp"},
        "restart_policy": {"type": "always", "backoff_seconds": 2, "max_restarts": 3},
        "health_check": {"type": "tcp", "port": 8080},
        "stop_signal": "INT",
        "stop_timeout_seconds": 3,
        "log_max_bytes": 8192,
        "log_backups": 0,
    },
    {
        "config": {"command": ["true"]},
        "health_check": {"type": "http", "url": "http://127.0.0.1:1/h", "failure_threshold": 2},
    },
    {"config": {"command": ["true"]}, "health_check": {"type": "exec", "command": ["true"]}},
]


async def test_api_version_2_node_gets_a_spec_its_own_parser_accepts(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        seen: list[StartInstance] = []
        node = partial(run_old_node, version=2, capacities={"Analytic1": 10})
        await c.nursery.start(node, c.info, seen)
        for i, spec in enumerate(SPECS):
            body = {"name": f"old-{i}", "node_group": "gpu-1", **spec}
            created = await c.http.post("/deployments", json=body)
            assert created.status_code == 201, created.text
            await c.wait_running(f"old-{i}")
    assert len(seen) == len(SPECS)
    for start in sorted(seen, key=lambda s: s.deployment_name):
        # What went over the wire, as the v2 node's msgpack reader saw it.
        frame = msgpack.unpackb(encode(start), raw=False)
        parsed = v2_node_jobspec.parse_job_spec(frame["spec"])
        job = start.spec
        assert parsed.command == job.config.command and dict(parsed.env) == job.config.env
        assert parsed.restart_policy.type == job.restart_policy.type
        assert parsed.stop_signal is job.signum
        assert parsed.log_max_bytes == job.log_max_bytes
        if job.health_check is not None:
            assert parsed.health_check is not None
            assert parsed.health_check.type == job.health_check.type
            if job.health_check.type == "tcp":
                assert parsed.health_check.host == "127.0.0.1"
