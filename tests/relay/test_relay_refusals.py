"""A node relays only its own experiments' ports; a tunnel only for a name its process
connects to. Everything else is refused with a reason."""

from __future__ import annotations

import ssl
from dataclasses import replace
from pathlib import Path

from symphony.conductor.relay.services import RelayError, tunnel_target
from symphony.conductor.store import Store
from symphony.node.process import StartRequest
from symphony.node.relay import NodeRelay, RelayDial, served_ports
from symphony.spec import parse_experiment
from symphony.wire import OpenStream, job_spec_from_dict


def requests() -> list[StartRequest]:
    _, processes = parse_experiment(
        {
            "name": "rl",
            "processes": [
                {"name": "learner", "command": ["true"], "binds": ["replay"]},
                {"name": "board", "command": ["true"], "exposes": {"tb": 6006}},
            ],
        }
    )
    out = []
    for index, spec in enumerate(processes):
        job = job_spec_from_dict(spec.to_dict())
        env = {"SYMPH_REPLAY_PORT": "20007", "SYMPH_REPLAY_HOST": "10.0.0.7"}
        job = replace(job, config=replace(job.config, env=env))  # as the Conductor sends it
        out.append(StartRequest(instance_id=f"i{index}", spec=job, deployment_id="d", replica=0))
    return out


def test_node_relay_serves_only_ports_its_experiments_bind_or_expose() -> None:
    assert served_ports(requests()) == {20007: ("i0", "10.0.0.7"), 6006: ("i1", "127.0.0.1")}
    relay = NodeRelay(
        RelayDial(host="127.0.0.1", port=1, ssl_context=ssl.create_default_context()), requests
    )
    ask = lambda port, instance: OpenStream(stream_id="s", instance_id=instance, port=port)  # noqa: E731
    assert relay.refusal(ask(20007, "i0")) is None
    assert relay.refusal(ask(6006, "i1")) is None
    assert "not bound or exposed" in (relay.refusal(ask(22, "i0")) or "")
    assert "belongs to instance i1" in (relay.refusal(ask(6006, "i0")) or "")


def test_tunnel_only_for_a_name_the_process_connects_to(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db")
    try:
        try:
            tunnel_target(store, "n1", "i_nothing", "replay")
        except RelayError as error:
            assert error.status == 404 and "no instance" in str(error)
        else:
            raise AssertionError("a tunnel for an unknown instance was not refused")
    finally:
        store.close()
