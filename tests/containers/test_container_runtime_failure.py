"""A container run that the runtime may have failed (exit code 125-127) says why: the
runtime's last words from the run's stderr, bounded, valid UTF-8, secrets masked.

End to end, the runtime is a fake ``podman`` written here, first on the node's PATH:
podman is a boundary Symphony does not own (and cannot run a container in every test
sandbox), and this fake does only what the case needs: it answers ``version``, has
every image, and fails ``run`` as podman does (``Error: ...`` on stderr, exit 125),
its stderr holding bytes that are not UTF-8, an escape sequence and the job's secret
value. Everything of the node is real: the manager, the monitor, the job's logger.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import trio

from symphony.node.container.failure import MAX_REASON, TAIL_BYTES, runtime_failure
from symphony.wire import InstanceStatus
from tests.jobs.harness import open_jobs, open_node, start_command, wait_real

from .test_container_jobs import container

SECRET = "s3cr3t-token-value"
FAKE_PODMAN = r"""#!/usr/bin/env python3
import os, sys
verb = sys.argv[1] if len(sys.argv) > 1 else ""
if verb == "version":
    print("Version: 0.0-fake")
elif verb == "ps":
    print("[]")
elif verb == "run":
    err = sys.stderr.buffer
    err.write(b'time="..." level=warning msg="an earlier line, long gone"\n' * 200)
    err.write(b"not UTF-8: \xff\xfe, an escape: \x1b[31mred\x1b[0m\n")
    token = os.environ.get("TOKEN", "(no token)")
    err.write(f"Error: the registry refused the token {token}\n".encode())
    sys.exit(125)
"""  # anything else ("image exists", "rm"): exit 0


def _fake_podman(tmp: Path) -> dict[str, str]:
    """The node's environment, with the fake first on its PATH."""
    bin_dir = tmp / "fakebin"
    bin_dir.mkdir()
    podman = bin_dir / "podman"
    podman.write_text(FAKE_PODMAN)
    podman.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', os.defpath)}"}


async def test_a_run_the_runtime_failed_says_why_in_its_reason(tmp_path: Path) -> None:
    job = container(
        command=["true"], env={"TOKEN": {"secret": "tok"}}, restart_policy={"type": "never"}
    )
    start = dataclasses.replace(start_command("box-0", job), secrets={"TOKEN": SECRET})
    with trio.fail_after(60):
        async with (
            open_node(str(tmp_path / "node"), env=_fake_podman(tmp_path)) as node,
            open_jobs(node) as (jobs, link),
        ):
            await jobs.start(start)
            await wait_real(lambda: any(s.state == "exited" for s in link.of("box-0")))
    exited: InstanceStatus = next(s for s in link.of("box-0") if s.state == "exited")
    assert exited.exit_code == 125 and exited.reason is not None
    reason = exited.reason
    assert reason.startswith("podman: ") and len(reason) <= len("podman: ") + MAX_REASON
    assert reason.endswith(" / Error: the registry refused the token ***"), reason
    assert "not UTF-8: \ufffd\ufffd, an escape:  [31mred [0m" in reason  # no control byte
    assert SECRET not in reason
    assert reason.count("an earlier line") == 1  # the last lines only


def test_codes_a_container_may_exit_with_are_not_put_on_the_runtime(tmp_path: Path) -> None:
    """126 and 127 are also what a shell inside the container exits with when it finds
    no command: the lines are then the job's own, and the reason does not say the
    runtime spoke them. 125 is the runtime's alone."""
    log = tmp_path / "stderr.log"
    log.write_text("sh: frobnicate: not found\n")
    started = time.time()
    assert runtime_failure("podman", 127, str(log), since=started) == (
        "last stderr: sh: frobnicate: not found"
    )
    assert runtime_failure("podman", 126, str(log), since=started) == (
        "last stderr: sh: frobnicate: not found"
    )
    assert runtime_failure("podman", 125, str(log), since=started) == (
        "podman: sh: frobnicate: not found"
    )


def test_a_secret_cut_in_two_by_the_bound_is_masked(tmp_path: Path) -> None:
    """The reason keeps the last MAX_REASON characters: a secret value straddling that
    cut is masked first, so no part of it is left (masked after the cut, its end would
    no longer match the value, and would show)."""
    log = tmp_path / "stderr.log"
    after = MAX_REASON - 1 - len(SECRET) // 2  # the cut falls in the secret's middle
    log.write_text(f"Error: token {SECRET}{'x' * after}\n")
    reason = runtime_failure("podman", 125, str(log), since=time.time(), secrets=[SECRET])
    assert reason is not None and reason.endswith("x" * after)
    assert SECRET[len(SECRET) // 2 :] not in reason, reason


def test_the_reason_is_bounded_and_only_of_this_run(tmp_path: Path) -> None:
    """A log of one enormous line gives a reason of bounded size, its end; a log not
    written since the run started (the runtime said nothing) gives none: its lines are
    an earlier run's. Exit codes that are the container's own give none either."""
    log = tmp_path / "stderr.log"
    log.write_bytes(b"x" * (TAIL_BYTES * 10) + b" Error: the end\n")
    started = time.time()
    reason = runtime_failure("docker", 125, str(log), since=started)
    assert reason is not None and len(reason) <= len("docker: ") + MAX_REASON
    assert reason.endswith("x Error: the end")
    assert runtime_failure("docker", 1, str(log), since=started) is None
    assert runtime_failure("docker", None, str(log), since=started) is None
    assert runtime_failure("docker", 127, str(log), since=started + 60) is None
    assert runtime_failure("docker", 127, str(tmp_path / "missing.log"), since=0) is None
