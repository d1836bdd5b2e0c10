"""``symphony deploy -f A -f B``: one batch, every file created or none (naming the file)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_up_e2e import cli, symphony_up


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cwd = tmp_path_factory.mktemp("deploy-many")
    with symphony_up(cwd):
        yield cwd


def names(cwd: Path) -> set[str]:
    return {d["name"] for d in json.loads(cli(cwd, "ps", "--json").stdout)}


def write(cwd: Path, name: str, text: str) -> str:
    (cwd / name).write_text(text)
    return name


def test_deploy_several_files_creates_them_together(project: Path) -> None:
    a = write(project, "a.yaml", "name: many-a\nconfig:\n  command: [sleep, '600']\n")
    b = write(project, "b.json", '{"name": "many-b", "config": {"command": ["sleep", "600"]}}')
    out = cli(project, "deploy", "-f", a, "-f", b, "--replicas", "2").stdout
    assert "deployment many-a created" in out and "deployment many-b created" in out
    by_name = {d["name"]: d for d in json.loads(cli(project, "ps", "--json").stdout)}
    assert by_name["many-a"]["replicas"]["desired"] == 2
    assert by_name["many-b"]["replicas"]["desired"] == 2


def test_deploy_several_files_one_bad_creates_none_and_names_the_file(project: Path) -> None:
    good = write(project, "good.yaml", "name: none-good\nconfig:\n  command: [sleep, '600']\n")
    bad = write(project, "bad.yaml", "name: none-bad\nreplicas: -1\nconfig:\n  command: [x]\n")
    done = cli(project, "deploy", "-f", good, "-f", bad, ok=False)
    assert done.returncode != 0
    assert "nothing created" in done.stderr
    assert "bad.yaml: invalid spec: replicas:" in done.stderr, done.stderr
    assert "good.yaml" not in done.stderr
    assert not {"none-good", "none-bad"} & names(project)


def test_deploy_several_files_refuses_name_and_upload(project: Path) -> None:
    a = write(project, "n1.yaml", "name: n1\nconfig:\n  command: [true]\n")
    done = cli(project, "deploy", "-f", a, "-f", a, "--name", "x", ok=False)
    assert done.returncode == 2
    assert "--name and --upload go with one spec file" in done.stderr
