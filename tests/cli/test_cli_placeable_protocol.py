"""The deploy warning judges each node by the protocol version ``GET /nodes`` lists for
it (sources and secrets need 4), and an experiment by whether any set of the nodes could
take its whole gang. Pure: nodes and specs as the API shows them."""

from __future__ import annotations

from typing import Any

from symphony.cli import _placeable
from symphony.cli._placeable import experiment_never_placeable_text, never_placeable_text
from symphony.wire.version import RELAY_PROTOCOL_VERSION, SECRETS_PROTOCOL_VERSION


def node(node_id: str, protocol: int | None, **fields: Any) -> dict[str, Any]:
    listed = {
        "node_id": node_id,
        "state": "ready",
        "groups": ["g"],
        "capacities_total": {"cpu": 100},
        "envs": [],
        **fields,
    }
    if protocol is not None:
        listed["protocol_version"] = protocol
    return listed


def deployment(**config: Any) -> dict[str, Any]:
    return {"spec": {"node_group": "g", "config": {"command": ["true"], **config}}}


GIT = {"git": {"url": "https://example.org/x.git"}}
SOURCES = (
    "no ready node in group g has protocol version 4 (needed for config.image, git and "
    "env_name: upgrade the node)"
)


def test_a_job_with_sources_warns_when_every_node_is_older_than_sources() -> None:
    assert never_placeable_text(deployment(**GIT), [node("old", 3)]) == SOURCES
    assert never_placeable_text(deployment(image="upload:ab", sha256="ab"), [node("old", 3)])
    assert never_placeable_text(deployment(**GIT), [node("old", 3), node("new", 5)]) is None
    assert never_placeable_text(deployment(), [node("old", 3)]) is None  # needs no sources
    # A listing without versions (an older Conductor): taken as new enough, as before.
    assert never_placeable_text(deployment(**GIT), [node("n", None)]) is None


def test_a_job_with_secrets_warns_when_the_nodes_that_fit_are_older() -> None:
    secret = deployment(env={"TOKEN": {"secret": "tok"}})
    assert never_placeable_text(secret, [node("old", 3)]) == (
        "needs a node of protocol version 4 or newer (it uses secrets); the nodes that "
        "fit are older: upgrade them"
    )
    assert never_placeable_text(secret, [node("old", 3), node("new", 4)]) is None
    # One new node, but not one that fits: the capacity is what to say.
    big = {"spec": {**secret["spec"], "capacity_requests": {"cpu": 150}}}
    reason = never_placeable_text(
        big, [node("old", 3, capacities_total={"cpu": 200}), node("new", 4)]
    )
    assert reason is not None and reason.startswith("needs a node of protocol version 4")


def test_a_named_environment_is_judged_by_the_nodes_that_know_sources() -> None:
    conda = deployment(env_name="conda-e1")
    assert never_placeable_text(conda, [node("new", 5, envs=["conda-e1"])]) is None
    # An old node that reported the environment still cannot use it.
    reason = never_placeable_text(conda, [node("old", 3, envs=["conda-e1"])])
    assert reason is not None and reason.startswith(SOURCES)


def test_the_protocol_versions_are_the_wires() -> None:
    assert _placeable.SECRETS_PROTOCOL == SECRETS_PROTOCOL_VERSION
    assert _placeable.RELAY_PROTOCOL == RELAY_PROTOCOL_VERSION


def process(name: str, cpu: int, **fields: Any) -> dict[str, Any]:
    return {"name": name, "command": ["sleep", "9"], "capacity_requests": {"cpu": cpu}, **fields}


def experiment(*processes: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "rl", "processes": list(processes), **fields}


TWO = [node("a", 5), node("b", 5)]


def test_an_experiment_warns_when_no_set_of_nodes_takes_its_gang() -> None:
    # Each process fits a node; two fit the two nodes, three do not fit together.
    assert (
        experiment_never_placeable_text(experiment(process("p", 60), process("q", 60)), TWO) is None
    )
    three = experiment(process("p", 60), process("q", 60), process("r", 60))
    assert experiment_never_placeable_text(three, TWO) == (
        "experiment rl: process r (1 process, cpu 60) does not fit: no ready node has "
        "cpu >= 60 free; 2 nodes, best has 40"
    )


def test_an_experiments_process_group_must_fit_one_node() -> None:
    group = {"name": "agents", "processes": [process("a0", 60), process("a1", 60)]}
    reason = experiment_never_placeable_text(experiment(process_groups=[group]), TWO)
    assert reason is not None
    assert reason.startswith("experiment rl: group agents (2 processes, cpu 120) does not fit: ")
    stopped = experiment(process_groups=[group], desired_state="stopped")
    assert experiment_never_placeable_text(stopped, TWO) is None


def test_an_experiment_says_what_its_nodes_lack() -> None:
    typo = experiment(process("p", 1, node_group="gg"))
    assert experiment_never_placeable_text(typo, TWO) == (
        "experiment rl: process p (1 process, cpu 1) does not fit: no node in group gg"
    )
    relay = experiment(process("p", 1), network="relay")
    reason = experiment_never_placeable_text(relay, [node("old", 4)])
    assert reason is not None and "needs a node of protocol version 5 or newer" in reason
    assert experiment_never_placeable_text(relay, [node("new", 5)]) is None
