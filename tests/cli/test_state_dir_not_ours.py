"""A state directory that may be someone else's is refused in one line, and left alone.

A trial ran ``symphony node --state-dir D`` on a directory of mode 1777 holding another
user's file: it was tightened to 0700 (the other user locked out of it) and ``cache/``,
``jobs/`` and the lock file were put beside their file. Now each service says what to
do instead, names the flag or setting, and changes nothing there. A directory that
cannot be made (a read-only or virtual file system) is worded the same way, not as a
bare ``[Errno 2] No such file or directory``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .test_cli_newcomer import last_line, run

NODE = ("node", "--node-id", "n1", "--conductor", "127.0.0.1:1")
CONDUCTOR = ("conductor", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--relay-port", "0")
NODE_FLAG = "--state-dir DIR, or node.state_dir in a config file"


def shared_dir(path: Path) -> Path:
    """A /tmp-like directory (mode 1777) that already holds another user's file."""
    path.mkdir()
    (path / "other.txt").write_text("theirs\n")
    os.chmod(path, 0o1777)
    return path


def left_alone(path: Path, *names: str) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o1777
    assert sorted(os.listdir(path)) == sorted(names)


def test_node_refuses_a_shared_state_dir(tmp_path: Path) -> None:
    shared = shared_dir(tmp_path / "shared")
    line = last_line(run(tmp_path, *NODE, "--state-dir", "shared"), 1)
    assert line == (
        f"symphony: error: cannot use {shared} as the node's state directory: it is shared "
        f"with every user (mode 1777); use a directory of its own, e.g. {shared}/symphony "
        f"({NODE_FLAG})"
    )
    left_alone(shared, "other.txt")


def test_up_refuses_a_project_dir_holding_other_files(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir(mode=0o755)
    (project / "notes.txt").write_text("ours, not Symphony's\n")
    line = last_line(run(tmp_path, "up", "--port", "0", "--state-dir", "project"), 1)
    assert line == (
        f"symphony: error: cannot use {project} as the conductor's state directory: it "
        "holds files that are not Symphony's (notes.txt); use a directory of its own, "
        f"e.g. {project}/symphony (--state-dir DIR)"
    )
    assert os.listdir(project) == ["notes.txt"]
    assert stat.S_IMODE(project.stat().st_mode) == 0o755


def test_conductor_refuses_a_shared_cert_dir(tmp_path: Path) -> None:
    shared = shared_dir(tmp_path / "shared")
    result = run(tmp_path, *CONDUCTOR, "--state-dir", "storage", "--cert-path", "shared")
    assert last_line(result, 1) == (
        f"symphony: error: cannot use {shared} as the conductor's certificate directory: it "
        f"is shared with every user (mode 1777); use a directory of its own, e.g. "
        f"{shared}/symphony (--cert-path DIR, or conductor.tls.cert_path in a config file)"
    )
    left_alone(shared, "other.txt")


def test_a_state_dir_that_cannot_be_made_is_refused_in_words(tmp_path: Path) -> None:
    line = last_line(run(tmp_path, *NODE, "--state-dir", "/proc/sys/sub"), 1)
    assert line == (
        "symphony: error: cannot use /proc/sys/sub as the node's state directory: cannot "
        f"create it (No such file or directory); give another one ({NODE_FLAG})"
    )
    line = last_line(run(tmp_path, *CONDUCTOR, "--state-dir", "/proc/sys/sub"), 1)
    assert line.endswith(
        "cannot create it (No such file or directory); give another one "
        "(--state-dir DIR, or conductor.state_dir in a config file)"
    )
    line = last_line(run(tmp_path, "up", "--port", "0", "--state-dir", "/proc/sys/sub"), 1)
    assert line == (
        "symphony: error: cannot use /proc/sys/sub as the conductor's state directory: "
        "cannot create it (No such file or directory); give another one (--state-dir DIR)"
    )
