"""A newcomer's first mistakes, made with the real ``symphony`` command: each is refused
with one line that says what was meant or what to do, and nothing is created or left
running.

- ``symphony deploy job.yaml`` (``-f`` forgotten) would create a deployment whose every
  instance fails to start a program named ``job.yaml``;
- ``symphony deplyo`` is answered with the command meant, not a list of forty choices;
- a second ``symphony up`` in the same directory is told that one is up there already,
  not that its port is taken;
- a node started before its Conductor has written the certificates waits for them
  (saying so), and one whose files never come is told to start the Conductor first;
- a command run after ``symphony up`` was killed is told so, and where its node's jobs
  (still running) are;
- deploying an edited spec file again is told how to replace or rename it, not only
  to "choose another name";
- a ``--state-dir`` that names a file is refused in words, not ``[Errno 17] File
  exists``;
- ``symphony node stop`` where ``symphony up`` ran (its default is the seed's
  ``storage/node``) names ``.symphony/node``;
- ``symphony ps`` says why an instance restarts (a spawn error), and why a pending
  deployment's last instance ended while its replacement waits, instead of nothing;
- a command run while ``symphony up`` is still starting is told so, not "is it
  running? start one";
- ``symphony runs`` shows a schedule's times in the schedule's zone, as it was written,
  not in the machine's (a nightly 02:30 Berlin job was shown at 01:30 on a UTC machine).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import trio
import trio.testing

from symphony.config import NodeConfig
from symphony.node.service import (
    TLS_FILES_POLL,
    TLS_FILES_WAIT,
    NodeCredentialsError,
    node_credentials,
)
from symphony.pki import ensure_conductor_pki
from symphony.statedir import hold_state_dir

from ..deployments.procs import free_port
from .test_up_e2e import BIN, clean_env, symphony_up, wait_for


def run(cwd: Path, *args: str, **more_env: str) -> subprocess.CompletedProcess[str]:
    """``symphony ARGS`` in ``cwd``, with no Conductor named by the environment."""
    env = {k: v for k, v in clean_env().items() if not k.startswith("SYMPHONY_")} | more_env
    return subprocess.run(
        [str(BIN / "symphony"), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def last_line(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, (result.stdout, result.stderr)
    return result.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "meant"),
    [
        (("deploy", "job.yaml"), "symphony deploy -f job.yaml"),
        (("deploy", "--name", "x", "Job.JSON"), "symphony deploy -f Job.JSON"),
        (("deploy", "-f", "a.yaml", "b.yml"), "symphony deploy -f a.yaml -f b.yml"),
        (("deploy", "my job.yaml", "--wait"), "symphony deploy -f 'my job.yaml'"),
    ],
)
def test_deploy_a_spec_file_without_f_names_the_command_meant(
    tmp_path: Path, argv: tuple[str, ...], meant: str
) -> None:
    # No Conductor runs: the refusal comes before any request would.
    line = last_line(run(tmp_path, *argv), 2)
    assert line.startswith("symphony deploy: error: "), line
    assert f"give it with -f ({meant})" in line, line
    assert line.endswith("a command to run goes after '--'"), line


def test_deploy_a_command_after_dashes_is_taken_as_it_is(tmp_path: Path) -> None:
    # A program may be named anything: after '--' it is not second-guessed, so this
    # gets as far as looking for a Conductor.
    nowhere = ("--conductor", "http://127.0.0.1:9")
    line = last_line(run(tmp_path, "deploy", *nowhere, "--", "job.yaml"), 1)
    assert line.startswith("symphony: error: cannot reach the Conductor"), line
    line = last_line(run(tmp_path, "deploy", *nowhere, "python3", "main.py", "c.yaml"), 1)
    assert line.startswith("symphony: error: cannot reach the Conductor"), line


@pytest.mark.parametrize(
    ("argv", "near"),
    [
        (("deplyo", "-f", "job.yaml"), "deploy"),
        (("pss",), "ps"),
        (("--log-level", "INFO", "lgos", "web"), "logs"),
        (("--config", "c.yaml", "nod"), "node"),
        (("secrets", "ls"), "secret"),
    ],
)
def test_unknown_command_names_the_nearest(
    tmp_path: Path, argv: tuple[str, ...], near: str
) -> None:
    result = run(tmp_path, *argv)
    line = last_line(result, 2)
    word = next(a for a in argv if a.isalpha() and a not in ("INFO",))
    assert line == (
        f"symphony: error: unknown command {word!r}; did you mean {near!r}? "
        "(`symphony --help` lists the commands)"
    )
    assert len(result.stderr.splitlines()) <= 4  # the usage, then that line: no list


@pytest.mark.parametrize("word", ["frobnicate", "status", "list"])
def test_unknown_command_far_from_any_names_none(tmp_path: Path, word: str) -> None:
    # No far-fetched guess: 'status' is not 'start', 'list' is not 'visit'.
    line = last_line(run(tmp_path, word), 2)
    assert line == (
        f"symphony: error: unknown command {word!r} (`symphony --help` lists the commands)"
    )


def test_up_twice_in_one_directory_says_one_is_up_there(tmp_path: Path) -> None:
    with symphony_up(tmp_path) as (first, _banner):
        state = (tmp_path / ".symphony").resolve()
        port = json.loads((state / "conductor.json").read_text())["url"].rsplit(":", 1)[1]
        # The same command again, port included: its port is taken *by that one*.
        line = last_line(run(tmp_path, "up", "--port", port), 1)
        assert line == (
            f"symphony: error: state directory {state} is in use by another conductor "
            f"(pid {first.pid}); stop that one first, or give this one another state directory"
        )
        assert first.poll() is None
    assert first.returncode == 0


def test_node_started_before_its_conductor_waits_for_the_certificates(tmp_path: Path) -> None:
    """The README's two lines, the node's first: it says it waits for the certificates,
    the Conductor started after it writes them, and the node registers."""
    certs = tmp_path / "storage" / "certs"
    listen, http = free_port(), free_port()
    env = {k: v for k, v in clean_env().items() if not k.startswith("SYMPHONY_")}
    node_log = tmp_path / "node.log"
    symphony = str(BIN / "symphony")
    with node_log.open("w") as out:
        node = subprocess.Popen(
            [
                *(symphony, "node", "--node-id", "node-1", "--conductor", f"127.0.0.1:{listen}"),
                *("--ca-file", str(certs / "ca.pem")),
                *("--cert-file", str(certs / "node-client.pem")),
                *("--key-file", str(certs / "node-client.key")),
                *("--state-dir", "storage/node"),
            ],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    conductor: subprocess.Popen[bytes] | None = None
    try:
        wait_for("the node's warning", lambda: "not there yet" in node_log.read_text())
        assert node.poll() is None, node_log.read_text()
        conductor = subprocess.Popen(
            [
                *(symphony, "conductor", "--listen", f"127.0.0.1:{listen}"),
                *("--http", f"127.0.0.1:{http}", "--relay-port", "0", "--state-dir", "storage"),
            ],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(
            "node-1 ready",
            lambda: "ready" in run(tmp_path, "nodes").stdout,
            timeout=30,
            describe=node_log.read_text,
        )
    finally:
        for proc in (node, conductor):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
        run(tmp_path, "node", "stop", "--state-dir", "storage/node")


def shared_cert_config(certs: Path, state_dir: Path) -> NodeConfig:
    """A node that uses the shared node certificate a Conductor writes in ``certs``."""
    return NodeConfig(
        node_id="node-1",
        ca_file=str(certs / "ca.pem"),
        cert_file=str(certs / "node-client.pem"),
        key_file=str(certs / "node-client.key"),
        state_dir=str(state_dir),
    )


async def test_node_tls_files_that_never_come_are_named_after_the_wait(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong path costs the wait (announced at once, once), then the error names the
    files and what writes them."""
    certs = tmp_path / "certs"
    config = shared_cert_config(certs, tmp_path / "node")
    with (
        caplog.at_level(logging.WARNING, logger="symphony.node"),
        pytest.raises(NodeCredentialsError) as refused,
    ):
        await node_credentials(config)
    assert trio.current_time() == pytest.approx(TLS_FILES_WAIT, abs=TLS_FILES_POLL)
    message = str(refused.value)
    assert message.startswith(f"node TLS files not found after 30 s: {certs / 'ca.pem'}, ")
    assert "start it first" in message and "symphony token create" in message, message
    waits = [r.getMessage() for r in caplog.records if "not there yet" in r.getMessage()]
    assert len(waits) == 1 and "waiting up to 30 s" in waits[0], waits


async def test_node_tls_files_written_meanwhile_are_used_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    certs = tmp_path / "certs"
    config = shared_cert_config(certs, tmp_path / "node")
    async with trio.open_nursery() as nursery:

        async def conductor_writes_them() -> None:
            await trio.sleep(3)
            ensure_conductor_pki(certs)

        nursery.start_soon(conductor_writes_them)
        context = await node_credentials(config)
    assert isinstance(context, ssl.SSLContext)
    assert 3 <= trio.current_time() <= 3 + 2 * TLS_FILES_POLL


def test_cli_after_up_was_killed_says_so_and_where_its_jobs_are(tmp_path: Path) -> None:
    state = (tmp_path / ".symphony").resolve()
    node = state / "node"
    try:
        with symphony_up(tmp_path) as (up, _banner):
            ok = run(tmp_path, "deploy", "--name", "t", "--", "sleep", "300")
            assert ok.returncode == 0, ok.stderr
            wait_for("t running", lambda: "running" in run(tmp_path, "ps").stdout)
            up.kill()  # SIGKILL: conductor.json stays, the job goes on under its monitor
            assert up.wait(timeout=30) == -9
        recorded = state / "conductor.json"
        url = json.loads(recorded.read_text())["url"]
        line = last_line(run(tmp_path, "ps"), 1)
        assert line == (
            f"symphony: error: cannot reach the Conductor at {url} (connection refused); "
            f"the Conductor recorded in {recorded} (pid {up.pid}) ended without stopping "
            f"cleanly: start `symphony up` again in {tmp_path.resolve()}; it adopts its "
            f"node's jobs, which still run (or stop them: `symphony node stop --state-dir "
            f"{node}`)"
        )
    finally:
        stopped = run(tmp_path, "node", "stop", "--state-dir", str(node))
    assert stopped.returncode == 0, (stopped.stdout, stopped.stderr)
    assert "stopped t-0-" in stopped.stdout
    # Nothing runs now: the advice shrinks to starting it again.
    line = last_line(run(tmp_path, "ps"), 1)
    assert line.endswith(
        f"ended without stopping cleanly: start `symphony up` again in {tmp_path.resolve()}"
    )


def test_runs_shows_times_in_the_schedules_zone(tmp_path: Path) -> None:
    (tmp_path / "report.yaml").write_text(
        "name: report\n"
        "config: {command: [sleep, '1']}\n"
        "schedule: {cron: '30 2 * * *', timezone: Asia/Kolkata}\n"
    )
    with symphony_up(tmp_path):
        assert run(tmp_path, "deploy", "-f", "report.yaml").returncode == 0
        for machine in ("UTC", "America/New_York"):
            shown = run(tmp_path, "runs", "report", TZ=machine)
            assert shown.returncode == 0, shown.stderr
            lines = shown.stdout.splitlines()
            assert lines[0].startswith("schedule: 30 2 * * * (Asia/Kolkata)"), lines
            assert lines[1].startswith("next run: ") and lines[1].endswith(
                " 02:30:00 Asia/Kolkata"
            ), (machine, lines)


def test_deploy_again_under_a_taken_name_says_how_to_replace_it(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text("name: hello\nconfig: {command: [sleep, '300']}\n")
    with symphony_up(tmp_path):
        assert run(tmp_path, "deploy", "-f", "job.yaml").returncode == 0
        line = last_line(run(tmp_path, "deploy", "-f", "job.yaml"), 1)
        assert line == (
            "symphony: error: name conflict: a deployment named 'hello' exists already: "
            "give this one another name (--name NAME), or remove that one first "
            "(symphony rm hello); to change it in place (a new version, rolled out): "
            "symphony deploy -f job.yaml --update"
        )
        assert run(tmp_path, "rm", "hello").returncode == 0


def test_a_state_dir_that_is_a_file_is_refused_in_words(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text("name: x\n")
    spec = tmp_path / "job.yaml"
    line = last_line(run(tmp_path, "up", "--port", "0", "--state-dir", "job.yaml"), 1)
    assert line == (
        f"symphony: error: cannot use {spec} as the conductor's state directory: it is a "
        "file, not a directory; give another one (--state-dir DIR)"
    )
    line = last_line(run(tmp_path, "up", "--port", "0", "--state-dir", "job.yaml/s"), 1)
    assert line.endswith(f": {spec} is a file, not a directory; give another one (--state-dir DIR)")
    node = ("node", "--node-id", "n1", "--conductor", "127.0.0.1:1", "--state-dir", "job.yaml")
    line = last_line(run(tmp_path, *node), 1)
    assert line == (
        f"symphony: error: cannot use {spec} as the node's state directory: it is a file, "
        "not a directory; give another one (--state-dir DIR, or node.state_dir in a config "
        "file)"
    )
    assert spec.read_text() == "name: x\n"


def test_node_stop_where_up_ran_points_at_its_node(tmp_path: Path) -> None:
    (tmp_path / ".symphony" / "node").mkdir(parents=True)
    line = last_line(run(tmp_path, "node", "stop"), 1)
    assert line == (
        f"symphony: error: nothing to stop: {tmp_path / 'storage' / 'node'} does not exist; "
        "`symphony up` keeps its node in .symphony/node: "
        "symphony node stop --state-dir .symphony/node"
    )
    (tmp_path / ".symphony" / "node").rmdir()
    line = last_line(run(tmp_path, "node", "stop"), 1)
    assert line.endswith("does not exist")  # nothing to point at


def test_ps_says_why_a_job_restarts_or_waits(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    (tmp_path / "broken.yaml").write_text(
        f"name: broken\nconfig: {{command: [sleep, '1'], cwd: {tmp_path / 'nowhere'}}}\n"
    )
    url = f"http://127.0.0.1:{closed}/image.zip"
    (tmp_path / "img.yaml").write_text(f"name: img\nconfig: {{image: '{url}', command: [x]}}\n")

    def reason(name: str) -> str | None:
        rows = [line.split(None, 7) for line in run(tmp_path, "ps").stdout.splitlines()[1:]]
        return next((r[7] for r in rows if r[0] == name and len(r) == 8), None)

    with symphony_up(tmp_path):
        for spec in ("broken.yaml", "img.yaml"):
            assert run(tmp_path, "deploy", "-f", spec).returncode == 0
        missing = f"spawn error: working directory '{tmp_path / 'nowhere'}' does not exist"
        wait_for(
            "broken's reason",
            lambda: (r := reason("broken")) and r.startswith("restarting in ") and missing in r,
            describe=lambda: run(tmp_path, "ps").stdout,
        )
        # The download failed (the job is not restarted; the Conductor places a new
        # instance later): the row says why the last one ended, not "-".
        wait_for(
            "img's reason",
            lambda: (
                reason("img") == f"the last instance ended: source: GET {url} failed: "
                "[Errno 111] Connection refused"
            ),
            describe=lambda: run(tmp_path, "ps").stdout,
        )


def test_cli_while_up_is_still_starting_says_so(tmp_path: Path) -> None:
    # What a starting `symphony up` holds before it serves and records its address: the
    # state directory's lock, and nothing else yet.
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8000)) == 0:
            pytest.skip("something serves 127.0.0.1:8000 here, where the CLI looks")
    state = tmp_path / ".symphony"
    with hold_state_dir(state, "conductor"):
        line = last_line(run(tmp_path, "ps", "--conductor", "http://127.0.0.1:9"), 1)
        assert line.endswith("is it running? start one with `symphony up`, or pass --conductor URL")
        line = last_line(run(tmp_path, "ps"), 1)
        assert line.startswith(
            "symphony: error: cannot reach the Conductor at http://127.0.0.1:8000 ("
        )
        assert line.endswith(
            f"; the Conductor of {state} (pid {os.getpid()}) is still starting: try again "
            "in a moment"
        ), line
