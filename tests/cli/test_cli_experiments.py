"""The seed's experiment commands against a real ``symphony up``: launch (YAML and
Python), ls, p, logs with its lookup rule, se, vi, d and db."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from symphony.cli.process import process_rows, uptime

from .test_up_e2e import cli, symphony_up, wait_for

RL_YAML = """\
name: rl
processes:
  - name: learner
    cmds: ["echo learner serves on $SYMPH_BOARD_PORT", "sleep 600"]
    binds: [parameter-server]
    exposes: [board]
process_groups:
  - name: agents
    processes:
      - name: agent-0
        cmds: ["echo agent-0 finds $SYMPH_PARAMETER_SERVER_ADDR", "sleep 600"]
        connects: [parameter-server]
"""
OTHER_PY = """\
from symphony.engine import Cluster


def declare(cluster: Cluster):
    exp = cluster.new_experiment("other")
    exp.new_process("solo", command=["sleep", "600"])
    return exp
"""
BAD_YAML = """\
name: bad
processes:
  - {name: a, cmds: ["sleep 1"], connects: [nowhere]}
"""

# Each process fits the local node (100 cpu per core), the group of both on one node not.
PAIR_YAML = """\
name: pair
process_groups:
  - name: both
    processes:
      - {name: one, cmds: ["sleep 600"], capacity_requests: {cpu: %(cpu)d}}
      - {name: two, cmds: ["sleep 600"], capacity_requests: {cpu: %(cpu)d}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cwd = tmp_path_factory.mktemp("experiments")
    (cwd / "rl.yaml").write_text(RL_YAML)
    (cwd / "other.py").write_text(OTHER_PY)
    (cwd / "bad.yaml").write_text(BAD_YAML)
    with symphony_up(cwd):
        yield cwd


def sym(cwd: Path, *args: str, ok: bool = True, answer: str = "") -> CompletedProcess[str]:
    """``symphony ARGS`` in ``cwd``, with its own current-experiment file."""
    return cli(cwd, *args, ok=ok, answer=answer, XDG_CONFIG_HOME=str(cwd / "config"))


def all_running(cwd: Path) -> str | None:
    out = sym(cwd, "p").stdout
    rows = out.splitlines()[1:]
    return out if rows and all("running: " in row for row in rows) else None


def test_launch_watch_and_delete_an_experiment(project: Path) -> None:
    dry = sym(project, "launch", "rl.yaml", "--dry-run").stdout
    assert "name: rl" in dry and "nothing was launched" in dry
    assert sym(project, "ls").stdout == ""

    bad = sym(project, "launch", "bad.yaml", ok=False)
    assert bad.returncode == 1 and "'nowhere'" in bad.stderr
    assert sym(project, "ls").stdout == ""

    out = sym(project, "launch", "rl.yaml").stdout
    assert out.startswith("experiment rl launched: 2 processes (learner, agent-0)")
    assert sym(project, "list-experiments").stdout == "rl\n"
    assert "rl" in (project / ".symphony" / "current-experiment.json").read_text()
    again = sym(project, "launch", "rl.yaml", ok=False)
    assert again.returncode == 1 and "force" in again.stderr
    sym(project, "launch", "rl.yaml", "--force")

    table = wait_for("every process running", lambda: all_running(project), timeout=30)
    header, *rows = table.splitlines()
    assert header.split() == ["Group", "Name", "Ready", "Restarts", "State"]
    assert rows[0].split()[:5] == ["-", "learner", "1", "0", "running:"]
    assert rows[1].split()[:3] == ["agents", "agent-0", "1"]
    # A process neither rolls nor restarts alone: refused before anything is printed,
    # saying how the experiment's processes are restarted.
    for how in ([], ["--all-at-once"]):
        refused = sym(project, "restart", "rl.learner", *how, ok=False)
        assert refused.returncode == 1 and refused.stdout == "", refused.stdout
        assert "experiment rl" in refused.stderr and "--all-at-once" not in refused.stderr
        assert "PATCH /experiments/rl" in refused.stderr, refused.stderr

    # logs: a process of the current experiment, by name or group/name, or with EXP.
    wait_for(
        "agent-0's line",
        lambda: "agent-0 finds 127.0.0.1:" in sym(project, "logs", "agent-0").stdout,
    )
    assert "agent-0 finds" in sym(project, "logs", "agents/agent-0", "rl").stdout
    # visit: a one-time link to the service through the Conductor (not the node's address).
    url = sym(project, "vi", "board", "--url-only").stdout.strip()
    assert url.startswith("http://127.0.0.1:") and "/x/rl/board/?symphony-visit=" in url
    assert "serves on" in sym(project, "logs", "learner").stdout

    # A deployment of the same name: the command says so instead of guessing.
    sym(project, "deploy", "--name", "agent-0", "--", "sh", "-c", "echo the deployment; sleep 600")
    both = sym(project, "logs", "agent-0", ok=False)
    assert (
        both.returncode == 1 and "both a process of experiment rl and a deployment" in both.stderr
    )
    wait_for(
        "the deployment's line",
        lambda: "the deployment" in sym(project, "logs", "--deployment", "agent-0").stdout,
    )
    assert "agent-0 finds" in sym(project, "logs", "agent-0", "rl").stdout
    sym(project, "rm", "agent-0")

    # A Python file declares the next one; launching makes it current, se switches back.
    assert "experiment other launched" in sym(project, "launch", "other.py").stdout
    assert sym(project, "se").stdout.strip() == "other"
    assert "solo" in sym(project, "p").stdout
    assert sym(project, "switch-experiment", "r").stdout.strip() == "current experiment: rl"
    assert "learner" in sym(project, "process").stdout

    # delete asks (a unique prefix is enough); delete-batch takes regular expressions.
    kept = sym(project, "d", "r", ok=False, answer="n\n")
    assert kept.returncode == 1 and "nothing deleted" in kept.stdout
    assert "experiment rl deleted" in sym(project, "delete", "r", answer="y\n").stdout
    assert "experiment other deleted" in sym(project, "db", "^oth", "-f").stdout
    assert sym(project, "ls").stdout == ""
    gone = sym(project, "p", ok=False)
    assert "no experiment runs" in gone.stderr


def test_launch_warns_when_no_set_of_nodes_could_take_the_experiment(project: Path) -> None:
    import os

    cpu = 100 * (os.cpu_count() or 1)
    (project / "pair.yaml").write_text(PAIR_YAML % {"cpu": cpu // 2 + 1})
    launched = sym(project, "launch", "pair.yaml")
    assert launched.stdout.startswith("experiment pair launched: 2 processes (one, two)")
    assert launched.stderr.splitlines() == [
        f"symphony: warning: experiment pair cannot be placed: group both (2 processes, cpu "
        f"{2 * (cpu // 2 + 1)}) does not fit: no ready node has cpu >= {2 * (cpu // 2 + 1)} "
        f"free; 1 node, best has {cpu} (it waits until nodes that can take it all join)"
    ]
    sym(project, "d", "pair", "-f")
    # Half each: it fits, and nothing is said.
    (project / "pair.yaml").write_text(PAIR_YAML % {"cpu": cpu // 2})
    fits = sym(project, "launch", "pair.yaml")
    assert fits.stdout.startswith("experiment pair launched") and fits.stderr == ""
    sym(project, "d", "pair", "-f")


def test_logs_of_a_plain_deployment_still_work_without_experiments(project: Path) -> None:
    sym(project, "deploy", "--name", "plain", "--", "sh", "-c", "echo plain output; sleep 600")
    wait_for("its line", lambda: "plain output" in sym(project, "logs", "plain").stdout)
    # By time: --since takes a duration or an RFC 3339 time, -t prints each line's.
    stamped = sym(project, "logs", "plain", "--since", "1h30m", "-t").stdout
    at, line = stamped.rstrip("\n").split(" ", 1)
    assert line == "plain output" and at.endswith("Z") and "T" in at
    assert sym(project, "logs", "plain", "--since", at).stdout == "plain output\n"
    assert sym(project, "logs", "plain", "--since", "2099-01-01T00:00:00Z").stdout == ""
    bad = sym(project, "logs", "plain", "--since", "soon", ok=False)
    assert bad.returncode == 1 and "since must be a duration" in bad.stderr
    sym(project, "rm", "plain")


def test_process_rows_show_the_seeds_state_column() -> None:
    processes = [
        {
            "name": "agent-0",
            "group": None,
            "deployment": "rl.agent-0",
            "state": "running",
            "restarts": 0,
        },
        {
            "name": "eval-0",
            "group": "g",
            "deployment": "rl.eval-0",
            "state": "pending",
            "restarts": 2,
            "reason": "no ready node",
        },
    ]
    rows = process_rows(processes, {"rl.agent-0": 1000.0}, now=1000.0 + 23.2 * 3600)
    assert rows == [
        [None, "agent-0", 1, 0, "running: 23.2h"],
        ["g", "eval-0", 0, 2, "pending: no ready node"],
    ]
    assert uptime(42) == "42s"


MYPROJECT = """\
import sys

from symphony.commandline import SymphonyParser
from symphony.engine import Cluster, SymphonyConfig


class MyProjectParser(SymphonyParser):
    def create_cluster(self):
        return Cluster.new("symphony")

    def setup(self):
        super().setup()
        SymphonyConfig().set_username("sarah")
        parser = self.add_subparser("create", help="launch our experiment")
        parser.add_argument("--agents", type=int, default=2)

    def action_create(self, args):
        exp = self.cluster.new_experiment("foo")
        exp.new_process("learner", cmds=["echo learning", "sleep 600"]).binds("ps")
        group = exp.new_process_group("agents")
        for i in range(args.agents):
            group.new_process(f"agent-{i}", cmds=["sleep 600"]).connects("ps")
        self.cluster.launch(exp)
        print("created", exp.name)


if __name__ == "__main__":
    MyProjectParser().main()
"""


def project_cli(cwd: Path, *args: str, ok: bool = True) -> CompletedProcess[str]:
    """``python myproject.py ARGS`` in ``cwd``."""
    program = (sys.executable, "myproject.py")
    return cli(cwd, *args, ok=ok, program=program, XDG_CONFIG_HOME=str(cwd / "config"))


def test_a_project_parser_launches_and_has_every_monitoring_command(project: Path) -> None:
    (project / "myproject.py").write_text(MYPROJECT)
    assert project_cli(project, "create", "--agents", "3").stdout == "created sarah-foo\n"
    assert project_cli(project, "ls").stdout == "sarah-foo\n"

    def running() -> str | None:
        out = project_cli(project, "p").stdout
        rows = out.splitlines()[1:]
        return out if len(rows) == 4 and all("running: " in r for r in rows) else None

    wait_for("sarah-foo running", running, timeout=30)
    wait_for("learner's line", lambda: "learning" in project_cli(project, "logs", "learner").stdout)
    unknown = project_cli(project, "logs", "nobody", ok=False)
    assert unknown.returncode == 1 and unknown.stderr.startswith("myproject.py: error:")
    assert "deleted" in project_cli(project, "d", "sarah", "-f").stdout
    assert project_cli(project, "ls").stdout == ""
