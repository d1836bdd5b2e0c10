"""``symphony secret set|ls|rm`` and ``symphony restart`` against a real ``symphony up``:
the value comes from stdin or a file (there is no argument for it), ``ls`` shows names
and dates only, and ``restart`` gives a job a secret's new value."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_up_e2e import BIN, clean_env, cli, symphony_up, wait_for


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cwd = tmp_path_factory.mktemp("secret")
    with symphony_up(cwd):
        yield cwd


def secret_set(
    cwd: Path, *args: str, stdin: bytes = b"", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "symphony"), "secret", "set", *args],
        cwd=cwd,
        env={**clean_env(), **env},
        input=stdin.decode(),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_cli_secret_set_ls_rm(project: Path) -> None:
    made = secret_set(project, "cli-tok", stdin=b"from-stdin-value\n")
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == ["secret cli-tok created"]
    (project / "value.txt").write_bytes(b"from-file-value")
    again = secret_set(project, "cli-tok", "--from-file", "value.txt")
    assert again.returncode == 0 and "secret cli-tok updated" in again.stdout
    assert "symphony restart" in again.stdout
    listed = cli(project, "secret", "ls").stdout
    assert listed.splitlines()[0].split() == ["NAME", "CREATED", "UPDATED"]
    assert "cli-tok" in listed and "value" not in listed
    as_json = json.loads(cli(project, "secret", "ls", "--json").stdout)
    assert [s["name"] for s in as_json["secrets"]] == ["cli-tok"]
    # There is no way to pass the value as an argument; an empty one is refused.
    extra = secret_set(project, "cli-tok", "the-value")
    assert extra.returncode == 2 and "never an argument" in extra.stderr
    empty = secret_set(project, "other", stdin=b"")
    assert empty.returncode == 1 and "empty" in empty.stderr
    missing = secret_set(project, "other", "--from-file", "nope.txt")
    assert missing.returncode == 1 and "cannot read nope.txt" in missing.stderr
    bad = secret_set(project, "bad name", stdin=b"abcdefgh")
    assert bad.returncode == 1 and "name" in bad.stderr
    assert cli(project, "secret", "rm", "cli-tok").stdout.strip() == "secret cli-tok removed"
    gone = cli(project, "secret", "rm", "cli-tok", ok=False)
    assert gone.returncode == 1 and "no secret" in gone.stderr


def test_cli_restart_starts_instances_with_the_new_value(project: Path) -> None:
    seen = project / "seen.txt"
    assert secret_set(project, "rtok", stdin=b"value-one").returncode == 0
    spec = {
        "name": "restarted",
        "config": {
            "command": ["sh", "-c", 'printf "%s" "$T" > "$OUT"; exec sleep 600'],
            "env": {"T": {"secret": "rtok"}, "OUT": str(seen)},
        },
        "update": {"min_healthy_seconds": 1},
    }
    (project / "job.json").write_text(json.dumps(spec))
    cli(project, "deploy", "-f", "job.json", "--wait")
    wait_for("the first value", lambda: seen.exists() and seen.read_text() == "value-one")
    assert secret_set(project, "rtok", stdin=b"value-two").returncode == 0
    # A rolling restart: the new instance starts beside the old one (the default
    # max_surge 1), and the old one stops once the new one has been healthy for 1 s.
    done = cli(project, "restart", "restarted", "--wait")
    assert "rolling to version 2" in done.stdout, done.stdout
    assert "rolling restart of version 1" in done.stdout
    assert seen.read_text() == "value-two"  # --wait returned after the roll
    [row] = [d for d in json.loads(cli(project, "ps", "--json").stdout) if d["name"] == "restarted"]
    assert row["version"] == 2 and row.get("rollout") is None
    assert secret_set(project, "rtok", stdin=b"value-three").returncode == 0
    done = cli(project, "restart", "restarted", "--all-at-once", "--wait")
    assert "stopping 1 instance(s)" in done.stdout and "starting again" in done.stdout
    wait_for("the newest value", lambda: seen.read_text() == "value-three")
    cli(project, "stop", "restarted")
    refused = cli(project, "restart", "restarted", ok=False)
    assert refused.returncode == 1 and "is stopped" in refused.stderr, refused.stderr
    cli(project, "rm", "restarted")


def test_cli_restart_all_at_once_runs_a_job_that_ended_again(project: Path) -> None:
    """A job that ran to its end is restarted all at once as promised: it runs again.
    The command used to PATCH it from running to running (its instances had ended, so
    nothing was stopped first), which changes nothing, and still said "starting again"."""
    runs = project / "runs.txt"
    spec = {
        "name": "ended",
        "config": {"command": ["sh", "-c", 'echo run >> "$OUT"'], "env": {"OUT": str(runs)}},
        "restart_policy": {"type": "never"},
    }
    (project / "ended.json").write_text(json.dumps(spec))
    cli(project, "deploy", "-f", "ended.json")
    wait_for("the first run", lambda: runs.exists() and runs.read_text() == "run\n")
    wait_for("its end", lambda: not _live(project, "ended"))
    done = cli(project, "restart", "ended", "--all-at-once")
    assert "stopping 0 instance(s)" in done.stdout and "starting again" in done.stdout
    wait_for("the second run", lambda: runs.read_text() == "run\nrun\n")
    cli(project, "rm", "ended")


def _live(cwd: Path, name: str) -> list[dict[str, object]]:
    """The instances of deployment ``name`` that have not ended."""
    [row] = [d for d in json.loads(cli(cwd, "ps", "--json").stdout) if d["name"] == name]
    return [i for i in row.get("instances") or [] if i.get("finished_at") is None]


def test_cli_secret_and_token_try_every_listed_conductor(project: Path) -> None:
    """With several Conductors in SYMPHONY_URL (a leader and standbys), ``secret`` and
    ``token`` go on past one that cannot be reached, as every other command does; a
    refusal reads as a sentence, not as a Python list."""
    url = json.loads((project / ".symphony" / "conductor.json").read_text())["url"]
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    env = {
        "SYMPHONY_URL": f"http://127.0.0.1:{dead},{url}",
        "SYMPHONY_TOKEN": (project / ".symphony" / "api-token").read_text().strip(),
    }
    made = secret_set(project, "ha-tok", stdin=b"ha-value-1", **env)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == ["secret ha-tok created"]
    assert "ha-tok" in cli(project, "secret", "ls", **env).stdout
    assert cli(project, "secret", "rm", "ha-tok", **env).stdout.strip() == "secret ha-tok removed"
    tokens = json.loads(cli(project, "token", "list", "--json", **env).stdout)
    assert isinstance(tokens["tokens"], list)
    bad = secret_set(project, "bad!name", stdin=b"abcdefgh", **env)
    assert bad.returncode == 1
    assert bad.stderr.startswith("symphony: error: secret name 'bad!name' must start ")
    assert "[{" not in bad.stderr and "'path'" not in bad.stderr
