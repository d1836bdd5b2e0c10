"""End to end: ``symphony up`` in a fresh directory, driven only by the ``symphony`` CLI.

A real ``symphony up`` process (Conductor + local Node, real TLS, real SQLite, real jobs)
runs in a temporary directory; every other command runs there too, with no flags and no
environment, so it must find the Conductor and its token through ``./.symphony``. The
test never sleeps for a fixed time: it polls each condition with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from ..ports import port_range

BIN = Path(sys.executable).parent  # console scripts sit beside the interpreter
T = TypeVar("T")

JOB = """\
name: e2e
node_group: local
capacity_requests: {{cpu: 10}}
restart_policy: {{type: always, backoff_seconds: 0.1}}
stop_timeout_seconds: 5
config:
  command: ["python3", "-u", "-c", "{script}"]
  env: {{E2E_MARKER: "{marker}"}}
"""
# Each tick is one write: unbuffered, print('tick', i) writes its parts one by one, and a
# log read between them ends with a line still being written ("tick").
SCRIPT = (
    "import itertools, sys, time\\n"
    "print('hello on stderr', file=sys.stderr, flush=True)\\n"
    "for i in itertools.count():\\n"
    "    sys.stdout.write('tick %d' % i + chr(10))\\n"
    "    time.sleep(0.1)"
)


def clean_env() -> dict[str, str]:
    """Our environment without a Conductor address or token: only ./.symphony may tell."""
    return {k: v for k, v in os.environ.items() if k not in ("SYMPHONY_URL", "SYMPHONY_TOKEN")}


def cli(
    cwd: Path,
    *args: str,
    ok: bool = True,
    answer: str = "",
    program: tuple[str, ...] = (str(BIN / "symphony"),),
    stdin: int | None = None,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """``symphony ARGS`` (or ``program ARGS``) in ``cwd``, ``answer`` on its stdin (or
    ``stdin``, a descriptor, as it is) and ``env`` added to ours."""
    result = subprocess.run(
        [*program, *args],
        cwd=cwd,
        env={**clean_env(), **env},
        **({"input": answer} if stdin is None else {"stdin": stdin}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    if ok:
        assert result.returncode == 0, f"{' '.join([*program, *args])}: {result.stderr}"
    return result


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float = 15.0,
    describe: Callable[[], str] | None = None,
) -> T:
    """Poll ``probe`` until it returns something truthy, or fail saying ``what`` (and
    what ``describe`` shows of the situation)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    situation = f"\n{describe()}" if describe is not None else ""
    raise AssertionError(f"timed out waiting for {what} (last: {last!r}){situation}")


class LineReader:
    """Lines from a child's stdout with a deadline: ``select`` on the raw descriptor, and
    our own buffer (a text wrapper's read-ahead would hide lines from ``select``)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.buffer = b""

    def until(self, done: Callable[[str], bool], timeout: float = 15.0) -> list[str]:
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.fd, selectors.EVENT_READ)
            while True:
                while b"\n" in self.buffer:
                    raw, self.buffer = self.buffer.split(b"\n", 1)
                    lines.append(raw.decode())
                    if done(lines[-1]):
                        return lines
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(timeout=left):
                    break
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                self.buffer += chunk
        raise AssertionError(f"no expected line in time; got {lines!r}")


def instances(cwd: Path) -> list[dict[str, Any]]:
    deployments = json.loads(cli(cwd, "ps", "--json").stdout)
    return [i for d in deployments if d["name"] == "e2e" for i in d["instances"]]


def live(cwd: Path) -> dict[str, Any] | None:
    return next((i for i in instances(cwd) if i["finished_at"] is None), None)


def ps_row(cwd: Path) -> dict[str, str] | None:
    lines = cli(cwd, "ps").stdout.splitlines()
    header = lines[0].split()
    assert header == ["NAME", "INSTANCE", "NODE", "STATE", "RESTARTS", "EXIT", "AGE", "REASON"]
    # REASON is last and may hold spaces: split the rest off the front.
    rows = [dict(zip(header, line.split(None, 7), strict=True)) for line in lines[1:]]
    return next((r for r in rows if r["NAME"] == "e2e"), None)


def marked(marker: str) -> list[psutil.Process]:
    """Processes whose environment carries the job's marker."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("E2E_MARKER") == marker:
                found.append(proc)
    return found


@contextlib.contextmanager
def symphony_up(cwd: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[str]]]:
    """A running ``symphony up --port 0`` in ``cwd`` and its banner; stopped on exit.
    Its node allocates experiments' ports from a range of its own (``--ports``)."""
    # Its logs go to a file: a pipe nobody reads while the test runs could fill up.
    with (cwd / "up.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(BIN / "symphony"), "up", "--port", "0", "--ports", port_range()],
            cwd=cwd,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        banner = LineReader(proc).until(lambda line: line.startswith("Press Ctrl-C"))
        yield proc, banner
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes], list[str]]]:
    with symphony_up(tmp_path) as (proc, banner):
        yield tmp_path, proc, banner


def test_up_e2e_deploy_observe_restart_stop_start_remove(
    up: tuple[Path, subprocess.Popen[bytes], list[str]],
) -> None:
    cwd, proc, banner = up
    text = "\n".join(banner)
    assert "/ui#token=" in text and "symphony deploy" in text
    marker = uuid.uuid4().hex
    (cwd / "job.yaml").write_text(JOB.format(script=SCRIPT, marker=marker))

    out = cli(cwd, "deploy", "-f", "job.yaml").stdout
    assert out.startswith("deployment e2e created")
    row = wait_for(
        "e2e running in ps", lambda: (r := ps_row(cwd)) and r["STATE"] == "running" and r
    )
    assert row["RESTARTS"] == "0" and row["EXIT"] == "-"
    node = json.loads(cli(cwd, "nodes", "--json").stdout)[0]
    assert row["NODE"] == node["node_id"] and "local" in node["groups"]
    assert node["shared_certificate"] is False  # its own certificate, from the CA
    assert node["capacities_total"]["cpu"] == 100 * len(os.sched_getaffinity(0))

    # logs: stdout by default, stderr on request.
    wait_for("ticks in the log", lambda: "tick 2" in cli(cwd, "logs", "e2e").stdout)
    tail = cli(cwd, "logs", "e2e", "--tail", "1").stdout.splitlines()
    assert len(tail) == 1 and tail[0].startswith("tick ")
    assert "hello on stderr" in cli(cwd, "logs", "e2e", "--stderr").stdout

    # follow: lines written after the command started arrive.
    seen = int(tail[0].split()[1])
    follower = subprocess.Popen(
        [str(BIN / "symphony"), "logs", "e2e", "-f", "--tail", "1"],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        # Ctrl-C as from a terminal, even when these tests run as a background job (whose
        # children inherit SIGINT ignored, and Python then leaves it ignored).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        LineReader(follower).until(
            lambda line: line.startswith("tick ") and int(line.split()[1]) > seen + 3
        )
    finally:
        try:
            follower.send_signal(signal.SIGINT)
            follower.wait(timeout=10)
        finally:
            follower.stdout.close()  # type: ignore[union-attr]

    # Kill the job's process: the node restarts it and ps shows why it ended.
    first = wait_for("a pid", lambda: (i := live(cwd)) and i["pid"] and i)
    os.kill(first["pid"], signal.SIGKILL)
    row = wait_for(
        "a restart after SIGKILL",
        lambda: (r := ps_row(cwd)) and r["RESTARTS"] == "1" and r["STATE"] == "running" and r,
    )
    assert row["EXIT"] == "SIGKILL"
    second = wait_for("a new pid", lambda: (i := live(cwd)) and i["pid"] != first["pid"] and i)
    assert second["restarts"] == 1 and second["signal"] in (9, "SIGKILL")
    events = cli(cwd, "events", "e2e").stdout
    assert events.startswith("TIME") and len(events.splitlines()) > 2

    # stop: the process goes, the deployment stays.
    assert "desired stopped" in cli(cwd, "stop", "e2e").stdout
    wait_for("no live process after stop", lambda: not marked(marker))
    wait_for("stopped in ps", lambda: (r := ps_row(cwd)) and r["STATE"] == "stopped")

    # start: a new process.
    assert "desired running" in cli(cwd, "start", "e2e").stdout
    wait_for("running again", lambda: (i := live(cwd)) and i["state"] == "running" and i["pid"])
    assert marked(marker)

    # rm: gone from ps, and nothing of the job is left running.
    assert cli(cwd, "rm", "e2e").stdout.strip() == "deployment e2e removed"
    assert ps_row(cwd) is None
    wait_for("no process with the job's marker", lambda: not marked(marker))
    missing = cli(cwd, "logs", "e2e", ok=False)
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1

    # The Conductor's refusals are one line too: a bad spec names its field, a bad token
    # is refused.
    (cwd / "bad.yaml").write_text("name: bad\nconfig: {command: []}\n")
    bad = cli(cwd, "deploy", "-f", "bad.yaml", ok=False)
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1
    assert "config.command" in bad.stderr
    intruder = subprocess.run(
        [str(BIN / "symphony"), "ps"],
        cwd=cwd,
        env={**clean_env(), "SYMPHONY_TOKEN": "not-the-token"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert intruder.returncode == 1 and len(intruder.stderr.splitlines()) == 1

    # Ctrl-C stops both halves cleanly, and nothing of them stays behind.
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    assert "Traceback" not in (cwd / "up.log").read_text()
    wait_for("no process left under the state dir", lambda: not _under(cwd), timeout=10)


def test_up_e2e_restart_in_the_same_directory_resumes_deployments(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    (tmp_path / "job.yaml").write_text(JOB.format(script=SCRIPT, marker=marker))
    with symphony_up(tmp_path) as (proc, _):
        cli(tmp_path, "deploy", "-f", "job.yaml")
        first = wait_for("running", lambda: (i := live(tmp_path)) and i["pid"] and i)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    assert not marked(marker), "Ctrl-C left the job running"
    with symphony_up(tmp_path):
        # The deployment is back: one live instance, its job runs again, and the
        # Conductor shows it running with the new process's pid.
        wait_for("the job's process again", lambda: len(marked(marker)) == 1)
        pid = marked(marker)[0].pid
        assert first["pid"] != pid

        def shown_running() -> bool:
            instance = live(tmp_path)
            return bool(instance) and instance["state"] == "running" and instance["pid"] == pid

        wait_for("ps shows the new run", shown_running, timeout=15)


def _under(root: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if str(root) in " ".join(p.cmdline()) or p.cwd().startswith(str(root)):
                found.append(p)
    return found
