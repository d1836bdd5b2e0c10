"""``node.gpus``: a node's GPU devices, declared or found by NVML, and the rules around them."""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony.config import ConfigError, NodeConfig, load_config

NODE = 'mode: node\nnode:\n  node_id: n1\n  conductor_addr: "h:1"\n'

# (lines added to a node section, key path that must be named, words the message must contain)
MALFORMED = [
    ("  gpus: 0,1\n", "node.gpus", "list"),
    ("  gpus: 2\n", "node.gpus", "list"),
    ("  gpus: {a: 0}\n", "node.gpus", "list"),
    ("  gpus: [0, 0]\n", "node.gpus", "lists device '0' twice"),
    ("  gpus: [1, '1']\n", "node.gpus", "lists device '1' twice"),
    ("  gpus: [0, true]\n", "node.gpus[1]", "got true"),
    ("  gpus: [-1]\n", "node.gpus[0]", "got -1"),
    ("  gpus: [1.5]\n", "node.gpus[0]", "device index"),
    ("  gpus: ['0,1']\n", "node.gpus[0]", "no commas"),
    ("  gpus: ['GPU a']\n", "node.gpus[0]", "no commas or spaces"),
    ("  gpus: ['']\n", "node.gpus[0]", "device id"),
    ("  gpus: [null]\n", "node.gpus[0]", "got null"),
    ("  gpus: [[0]]\n", "node.gpus[0]", "got a list"),
    # Words that mean every device (or none) to the container runtime's GPU hook: a job
    # given such a "device" would see them all, never shared as promised.
    ("  gpus: [all]\n", "node.gpus[0]", "every device"),
    ("  gpus: [0, None]\n", "node.gpus[1]", "every device"),
    ("  gpus: [void]\n", "node.gpus[0]", "every device"),
    ("  gpus: [0, 1]\n  capacities_total: {gpu: 2}\n", "node.capacities_total.gpu", "node.gpus"),
    # The count alone is refused too: the capacity is the devices, found or declared.
    ("  capacities_total: {gpu: 2, A: 1}\n", "node.capacities_total.gpu", "devices"),
]


@pytest.mark.parametrize(("lines", "path", "words"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_config_gpus_malformed_names_the_key(
    tmp_path: Path, lines: str, path: str, words: str
) -> None:
    file = tmp_path / "node.yaml"
    file.write_text(NODE + lines)
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    messages = [msg for where, msg in caught.value.problems if where == path]
    assert messages and words in messages[0], caught.value.problems


def test_config_gpus_declared_list_keeps_ids_as_text(tmp_path: Path) -> None:
    file = tmp_path / "node.yaml"
    file.write_text(NODE + "  gpus: [0, 3, GPU-8f1c2a9e, MIG-1/2]\n")
    node = load_config(file).node
    assert node is not None and node.gpus == ("0", "3", "GPU-8f1c2a9e", "MIG-1/2")


def test_config_gpus_absent_means_discover_and_empty_means_none(tmp_path: Path) -> None:
    file = tmp_path / "node.yaml"
    file.write_text(NODE)
    node = load_config(file).node
    assert node is not None and node.gpus is None  # NVML decides
    assert NodeConfig(node_id="n", gpus=[]).gpus == ()  # declared: no GPUs, no NVML


def test_config_gpus_dataclass_refuses_what_the_file_refuses() -> None:
    with pytest.raises(ConfigError) as caught:
        NodeConfig(node_id="n", gpus=[0, "0"])
    assert caught.value.problems[0][0] == "gpus"
    with pytest.raises(ConfigError) as caught:
        NodeConfig(node_id="n", gpus=[0], capacities_total={"gpu": 1})
    assert caught.value.problems[0][0] == "capacities_total.gpu"
    assert NodeConfig(node_id="n", gpus=(0, 1)).gpus == ("0", "1")
    assert NodeConfig(node_id="n", capacities_total={"GPU": 1}).capacities_total == {"GPU": 1}


def test_config_gpus_docs_examples_load(tmp_path: Path) -> None:
    """The node file and the spec of the GPU section of docs/jobs.md are valid as written."""
    import json
    import re

    from symphony.spec import parse_spec

    page = (Path(__file__).resolve().parent.parent / "docs" / "jobs.md").read_text()
    section = page.split("## GPU devices", 1)[1].split("\n## ", 1)[0]
    (yaml_block,) = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    (json_block,) = re.findall(r"```json\n(.*?)```", section, re.DOTALL)
    file = tmp_path / "node.yaml"
    file.write_text(yaml_block)
    node = load_config(file).node
    assert node is not None and node.gpus == ("0", "1", "2", "3")
    spec = parse_spec(json.loads(json_block))
    assert spec.capacity_requests == {"gpu": 2}


def test_config_gpus_flags_replace_the_file_list(tmp_path: Path) -> None:
    from symphony.cli import build_parser
    from symphony.cli.service import node_config
    from symphony.cli.up import up_config

    file = tmp_path / "node.yaml"
    file.write_text(NODE + "  gpus: [0, 1, 2]\n")
    flags = ["node", "--config", str(file), "--gpu", "3", "--gpu", "GPU-x"]
    node = node_config(build_parser().parse_args(flags)).node
    assert node is not None and node.gpus == ("3", "GPU-x")
    assert node_config(build_parser().parse_args(["node", "--config", str(file)])).node.gpus == (
        "0",
        "1",
        "2",
    )
    assert up_config(build_parser().parse_args(["up", "--gpu", "0"])).gpus == ("0",)
    assert up_config(build_parser().parse_args(["up"])).gpus is None
