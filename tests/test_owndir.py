"""Symphony makes private (0700) only a directory that is plausibly its own.

A trial gave ``--state-dir`` a directory of mode 1777 holding someone else's file: it
was made 0700 (every other user locked out of it) and Symphony's files were put beside
the other one. These directories are real ones under ``tmp_path``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from symphony.owndir import MARKER, NotOurDirectory, claim_private_dir, why_not_ours
from symphony.pki import ensure_private_dir
from symphony.statedir import hold_state_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def directory(path: Path, mode: int, *names: str) -> Path:
    """``path`` made with ``mode``, holding an empty file or directory (``name/``) each."""
    path.mkdir()
    for name in names:
        if name.endswith("/"):
            (path / name).mkdir()
        else:
            (path / name).write_text("theirs\n")
    os.chmod(path, mode)
    return path


def refused(path: Path, why: str) -> None:
    """``path`` is refused for ``why``, and left exactly as it was."""
    before = (mode(path), sorted(os.listdir(path)))
    with pytest.raises(NotOurDirectory) as caught:
        ensure_private_dir(path)
    assert str(caught.value) == (
        f"refusing to make {path} private: {why}; use a directory of its own, "
        f"e.g. {path / 'symphony'}"
    )
    assert (mode(path), sorted(os.listdir(path))) == before


def test_a_missing_directory_is_made_private_and_marked(tmp_path: Path) -> None:
    made = claim_private_dir(tmp_path / "a" / "state")
    assert mode(made) == 0o700
    assert os.listdir(made) == [MARKER]
    assert mode(made / MARKER) == 0o600


def test_an_empty_directory_is_adopted_and_tightened(tmp_path: Path) -> None:
    empty = directory(tmp_path / "state", 0o775)  # mkdir under umask 002
    claim_private_dir(empty)
    assert mode(empty) == 0o700
    assert os.listdir(empty) == [MARKER]


def test_a_sticky_directory_is_refused_untouched(tmp_path: Path) -> None:
    shared = directory(tmp_path / "shared", 0o1777, "other.txt")
    refused(shared, "it is shared with every user (mode 1777)")
    refused(directory(tmp_path / "empty", 0o1777), "it is shared with every user (mode 1777)")


def test_a_directory_every_user_may_write_in_is_refused(tmp_path: Path) -> None:
    refused(directory(tmp_path / "open", 0o777), "it is shared with every user (mode 777)")


def test_a_directory_holding_other_files_is_refused(tmp_path: Path) -> None:
    project = directory(tmp_path / "project", 0o2775, "notes.txt", "jobs/")
    refused(project, "it holds files that are not Symphony's (notes.txt)")
    many = directory(tmp_path / "many", 0o755, "a", "b", "c", "d")
    refused(many, "it holds files that are not Symphony's (a, b, c, ...)")


def test_a_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root may give one away; anyone else finds one at the root
        other = directory(tmp_path / "theirs", 0o755)
        os.chown(other, 65534, -1)
    else:
        other = Path("/")
    why = why_not_ours(other)
    assert why is not None and why.startswith("it belongs to another user (")
    refused(other, why)


def test_a_state_dir_of_an_older_release_is_adopted(tmp_path: Path) -> None:
    # No marker yet: known by Symphony's own files, whatever lies beside them.
    conductor = directory(tmp_path / "c", 0o755, "symphony.db", "api-token", "certs/", "x")
    node = directory(tmp_path / "n", 0o755, "cache/", "jobs/")  # before its lock file
    for old in (conductor, node):
        claim_private_dir(old)
        assert mode(old) == 0o700
        assert (old / MARKER).is_file()


def test_a_marked_directory_stays_ours(tmp_path: Path) -> None:
    state = claim_private_dir(tmp_path / "state")
    (state / "notes.txt").write_text("mine\n")
    os.chmod(state, 0o750)
    claim_private_dir(state)
    assert mode(state) == 0o700


def test_a_file_is_not_made_a_directory(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text("name: x\n")
    with pytest.raises(FileExistsError, match="it is a file, not a directory"):
        claim_private_dir(tmp_path / "job.yaml")


def test_a_state_dir_refusal_names_the_role_and_the_flag(tmp_path: Path) -> None:
    shared = directory(tmp_path / "shared", 0o1777, "other.txt")
    with pytest.raises(NotOurDirectory) as caught, hold_state_dir(shared, "node"):
        pass
    assert str(caught.value) == (
        f"cannot use {shared} as the node's state directory: it is shared with every "
        f"user (mode 1777); use a directory of its own, e.g. {shared / 'symphony'} "
        "(--state-dir DIR)"
    )
    assert os.listdir(shared) == ["other.txt"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a directory away")
def test_a_private_marked_directory_of_another_owner_is_used_as_it_is(tmp_path: Path) -> None:
    # On NFS (all_squash), sshfs or CIFS, or after sudo, the directory Symphony made
    # shows another owner on every later start: it is used, and needs no chmod.
    state = claim_private_dir(tmp_path / "state")
    (state / "symphony.db").write_text("ours\n")
    os.chown(state, 65534, -1)
    assert why_not_ours(state) is None
    claim_private_dir(state)
    assert (mode(state), state.stat().st_uid) == (0o700, 65534)
    # One that would need a chmod still needs the owner.
    os.chmod(state, 0o750)
    why = why_not_ours(state)
    assert why is not None and why.startswith("it belongs to another user (")
    refused(state, why)


def test_common_tls_names_do_not_make_a_directory_ours(tmp_path: Path) -> None:
    project = directory(tmp_path / "project", 0o755, "README.md", "src/", "server.key")
    refused(project, "it holds files that are not Symphony's (README.md, src)")
    # Alone, they are a Node's identity or `symphony up`'s node keys from before the mark.
    identity = directory(tmp_path / "identity", 0o755, "node.key", "node.pem", "ca.pem")
    claim_private_dir(identity)
    assert mode(identity) == 0o700


def test_os_clutter_is_not_looked_at(tmp_path: Path) -> None:
    clutter = (".DS_Store", "lost+found/", "Thumbs.db", "desktop.ini", ".gitignore")
    cluttered = directory(tmp_path / "state", 0o755, *clutter)
    claim_private_dir(cluttered)
    assert mode(cluttered) == 0o700
    assert (cluttered / MARKER).is_file()
    project = directory(tmp_path / "project", 0o755, ".DS_Store", "notes.txt")
    refused(project, "it holds files that are not Symphony's (notes.txt)")
