"""The YAML form of an experiment: what the experiment folder saves, `launch` reads."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony.engine import ExperimentExists, ExperimentSpec, SymphonyConfig
from symphony.spec import SpecError

RL_YAML = """\
name: rl
processes:
  - name: learner
    cmds: ["python learner.py"]
    binds: [replay-server, parameter-server]
    capacity_requests: {cpu: 100}
  - name: tb
    command: [tensorboard, --logdir, runs]
    exposes: {tensorboard: 6006}
process_groups:
  - name: agents
    processes:
      - {name: agent-0, cmds: ["python agent.py"], connects: [parameter-server]}
"""


@pytest.fixture(autouse=True)
def fresh_config() -> Iterator[None]:
    SymphonyConfig().reset()
    yield
    SymphonyConfig().reset()


def test_a_yaml_file_is_the_dump_dict_form(tmp_path: Path) -> None:
    path = tmp_path / "rl.yaml"
    path.write_text(RL_YAML)
    exp = ExperimentSpec.load_yaml(path)
    exp.validate()
    assert exp.get_process("tb").to_dict()["exposes"] == {"tensorboard": 6006}
    assert exp.get_process_group("agents").get_process("agent-0").to_dict()["connects"] == [
        "parameter-server"
    ]
    again = tmp_path / "again.yaml"
    again.write_text(exp.dump_yaml())
    assert ExperimentSpec.load_yaml(again).dump_dict() == exp.dump_dict()


def test_bad_files_say_what_is_wrong(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        ExperimentSpec.load_yaml(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="holds a mapping"):
        ExperimentSpec.load_yaml(listing)
    typo = tmp_path / "typo.yaml"
    typo.write_text(RL_YAML.replace("capacity_requests", "capacity_request"))
    with pytest.raises(SpecError, match="did you mean 'capacity_requests'"):
        ExperimentSpec.load_yaml(typo).validate()
    shape = tmp_path / "shape.yaml"
    shape.write_text("name: x\nprocess_groups: [g]\n")
    with pytest.raises(SpecError, match=r"process_groups\[0\]: must be an object"):
        ExperimentSpec.load_yaml(shape)


def test_experiment_files_are_read_as_strictly_as_config_files(tmp_path: Path) -> None:
    """One YAML loader for every file: a plain ``safe_load`` once kept the last of two
    equal keys and recursed once per level of nesting."""
    twice = tmp_path / "twice.yaml"
    twice.write_text(RL_YAML + "name: other\n")
    with pytest.raises(ValueError, match=r"twice.yaml: line 14, column 1: duplicate key 'name'"):
        ExperimentSpec.load_yaml(twice)
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: rl\nprocesses: " + "[" * 50_000 + "\n")
    with pytest.raises(ValueError, match=r"deep.yaml: line 2, column 43: nested more than 32"):
        ExperimentSpec.load_yaml(deep)


def test_the_experiment_folder_saves_yaml_and_refuses_to_overwrite(tmp_path: Path) -> None:
    SymphonyConfig().set_experiment_folder(tmp_path / "saved")
    exp = ExperimentSpec.load_yaml(_write(tmp_path, RL_YAML))
    path = SymphonyConfig().save("rl", exp.dump_dict(), force=False)
    assert path == tmp_path / "saved" / "rl" / "experiment.yaml"
    assert ExperimentSpec.load_yaml(path).dump_dict() == exp.dump_dict()
    with pytest.raises(ExperimentExists, match="force=True"):
        SymphonyConfig().save("rl", exp.dump_dict(), force=False)
    SymphonyConfig().save("rl", exp.dump_dict(), force=True)


def test_symphony_launch_dry_run_reads_a_saved_spec(tmp_path: Path) -> None:
    path = _write(tmp_path, RL_YAML)
    env = {**os.environ, "SYMPHONY_URL": "http://127.0.0.1:9"}  # never contacted
    result = subprocess.run(
        [sys.executable, "-m", "symphony.cli", "launch", str(path), "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("name: rl\n") and "nothing was launched" in result.stdout


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path
