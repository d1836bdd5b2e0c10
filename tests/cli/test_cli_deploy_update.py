"""``symphony deploy -f FILE --update``: the file again, after an edit, changes the
deployment in place (a new version that rolls out), as ``nomad job run`` or ``kubectl
apply`` would; without ``--update`` a taken name is refused and says so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symphony.client import Client
from symphony.conductor.store import Store
from symphony.spec import parse_stored_spec

from .test_up_e2e import cli, symphony_up, wait_for


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cwd = tmp_path_factory.mktemp("update")
    with symphony_up(cwd):
        yield cwd


def write(cwd: Path, spec: dict[str, Any]) -> str:
    (cwd / "web.json").write_text(json.dumps(spec))
    return "web.json"


def test_deploy_update_rolls_the_edited_file_out(project: Path) -> None:
    api = Client(state_dir=project / ".symphony")
    spec: dict[str, Any] = {
        "name": "web",
        "config": {"command": ["sleep", "600"], "env": {"A": "1", "B": "2"}},
        "update": {"min_healthy_seconds": 0.2},
    }
    # Not there yet: --update creates it.
    made = cli(project, "deploy", "-f", write(project, spec), "--update", "--wait")
    assert "deployment web created" in made.stdout
    # Without --update the taken name is refused, and the error says how to change it.
    again = cli(project, "deploy", "-f", "web.json", ok=False)
    assert again.returncode == 1 and "symphony deploy -f web.json --update" in again.stderr
    # Scaled by hand meanwhile: a file without replicas leaves them be.
    cli(project, "scale", "web", "2", "--wait")
    # The edit: a new command, B removed from env. The same file again changes nothing.
    spec["config"] = {"command": ["sleep", "601"], "env": {"A": "1"}}
    done = cli(project, "deploy", "-f", write(project, spec), "--update", "--wait")
    assert done.stdout.splitlines()[0] == "deployment web updated: version 2 (config changed)"
    found = api.get_deployment("web")
    assert found["spec"]["config"]["command"] == ["sleep", "601"]
    assert found["spec"]["config"]["env"] == {"A": "1"}
    assert found["spec"]["replicas"] == 2
    wait_for(
        "two instances of version 2",
        lambda: (
            sorted(
                i["version"]
                for i in api.get_deployment("web")["instances"]
                if i["state"] == "running"
            )
            == [2, 2]
        ),
        timeout=60,
    )
    same = cli(project, "deploy", "-f", "web.json", "--update")
    assert same.stdout.strip() == "deployment web unchanged (version 2)"
    # A field the file no longer names goes back to its default.
    del spec["update"]
    spec["stop_timeout_seconds"] = 3
    cli(project, "deploy", "-f", write(project, spec), "--update")
    found = api.get_deployment("web")["spec"]
    assert found["update"]["min_healthy_seconds"] == 10 and found["stop_timeout_seconds"] == 3
    bad = cli(project, "deploy", "-f", "web.json", "--update", "--name", "", ok=False)
    assert bad.returncode in (1, 2)
    cli(project, "rm", "web")


def test_deploy_update_keeps_the_commit_a_git_ref_was_pinned_to(
    project: Path, tmp_path: Path
) -> None:
    """Editing only env must not move a git deployment to its branch's new head: the
    file names no commit, the Conductor recorded one; the same file again is unchanged."""
    from ..sources.helpers import bare_repo, commit_more

    api = Client(state_dir=project / ".symphony")
    bare, first = bare_repo(tmp_path)
    spec: dict[str, Any] = {
        "name": "from-git",
        "config": {
            "git": {"repo": f"file://{bare}", "ref": "main"},
            "command": ["sleep", "600"],
            "env": {"A": "1"},
        },
    }
    cli(project, "deploy", "-f", write(project, spec), "--update")
    assert api.get_deployment("from-git")["spec"]["config"]["git"]["commit"] == first
    commit_more(tmp_path, bare, "main.py", "print('two')\n")
    same = cli(project, "deploy", "-f", "web.json", "--update")
    assert same.stdout.strip() == "deployment from-git unchanged (version 1)"
    spec["config"]["env"] = {"A": "2"}
    edited = cli(project, "deploy", "-f", write(project, spec), "--update")
    assert edited.stdout.splitlines()[0] == (
        "deployment from-git updated: version 2 (config changed)"
    )
    found = api.get_deployment("from-git")["spec"]["config"]
    assert found["env"] == {"A": "2"} and found["git"]["commit"] == first
    cli(project, "rm", "from-git")


def test_deploy_update_changes_a_process_of_an_experiment(project: Path) -> None:
    """A process is a deployment named ``<experiment>.<process>``, which the API lets a
    PATCH change (not its ``experiment`` field): ``--update`` with a file naming it sends
    that patch, and the experiment's part of the spec stays as the Conductor set it."""
    api = Client(state_dir=project / ".symphony")
    api.create_experiment(
        {"name": "exp", "processes": [{"name": "worker", "command": ["sleep", "600"]}]}
    )
    spec: dict[str, Any] = {
        "name": "exp.worker",
        "config": {"command": ["sleep", "601"], "env": {"A": "1"}},
    }
    done = cli(project, "deploy", "-f", write(project, spec), "--update")
    first = done.stdout.splitlines()[0]
    assert first == "deployment exp.worker updated: version 2 (config changed)"
    found = api.get_deployment("exp.worker")["spec"]
    assert found["config"]["command"] == ["sleep", "601"] and found["config"]["env"]["A"] == "1"
    assert found["experiment"]["name"] == "exp" and found["experiment"]["process"] == "worker"
    # What the experiment sets is not the file's: refused, the field named, nothing sent.
    spec["replicas"] = 2
    refused = cli(project, "deploy", "-f", write(project, spec), "--update", ok=False)
    assert refused.returncode == 1 and "replicas" in refused.stderr
    assert "symphony p exp" in refused.stderr
    assert api.get_deployment("exp.worker")["spec"]["replicas"] == 1
    del spec["replicas"]
    # Not a process of an experiment that exists: said plainly, nothing created.
    spec["name"] = "nosuch.worker"
    missing = cli(project, "deploy", "-f", write(project, spec), "--update", ok=False)
    assert missing.returncode == 1
    assert "experiment" in missing.stderr and "symphony launch" in missing.stderr
    api.delete_experiment("exp")


def test_deploy_update_takes_a_file_keeping_a_check_stored_under_older_rules(
    tmp_path: Path,
) -> None:
    # An older release stored a check probing every 0.2 s (refused today); the file
    # keeps it and changes only replicas. The Conductor takes that patch: the CLI must
    # not refuse the file first ("must be at least 1 second").
    check = {"type": "exec", "command": ["true"], "period_seconds": 0.2}
    spec: dict[str, Any] = {
        "name": "web",
        "config": {"command": ["sleep", "600"]},
        "health_check": check,
    }
    (tmp_path / ".symphony").mkdir()
    with Store.open(tmp_path / ".symphony" / "symphony.db") as store:
        store.create_deployment(parse_stored_spec(spec))
    with symphony_up(tmp_path):
        done = cli(tmp_path, "deploy", "-f", write(tmp_path, {**spec, "replicas": 2}), "--update")
        assert "(replicas changed)" in done.stdout, done.stdout
        found = Client(state_dir=tmp_path / ".symphony").get_deployment("web")["spec"]
        assert found["replicas"] == 2 and found["health_check"]["period_seconds"] == 0.2
        # A check changed is held to today's rules.
        faster = {**spec, "health_check": {**check, "period_seconds": 0.3}}
        bad = cli(tmp_path, "deploy", "-f", write(tmp_path, faster), "--update", ok=False)
        assert bad.returncode != 0 and "at least 1 second" in bad.stderr, bad.stderr
        # The file's own values are judged, not the ones a lenient reading mends (a
        # max backoff below the backoff was raised to it and sent).
        backoff = {"backoff_seconds": 10, "max_backoff_seconds": 5}
        mended = {**spec, "replicas": 2, "restart_policy": backoff}
        bad = cli(tmp_path, "deploy", "-f", write(tmp_path, mended), "--update", ok=False)
        assert bad.returncode != 0 and "max_backoff_seconds" in bad.stderr, bad.stderr
