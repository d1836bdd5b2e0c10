"""Reading the process table from ``/proc``: who is whose child, and since when.

Without cgroups the only way to know which processes belong to a job is to look at the
tree: a job's processes are its leader's descendants, plus the orphans that were
re-parented to the node monitor (a child subreaper) after their parent died. A pid alone
is not an identity: the kernel reuses pids, so every pid we keep is paired with its
*start time* (``starttime`` of ``/proc/<pid>/stat``, in clock ticks since boot), and a
pid is trusted only while that start time still matches.

Everything here is plain, blocking and cheap: one scan of ``/proc`` reads one small file
per process (~10 µs each) and is shared by every question asked about that snapshot.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Iterable

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from .lighttuple import NamedTuple

#: The environment variable every job (and, by inheritance, every descendant) carries.
#: It lets the monitor claim orphans whose tracking was missed.
RUN_ID_ENV = "SYMPHONY_RUN_ID"
#: Set by the node monitor on every job it starts: the node's state directory. With the
#: run id it lets a *new* monitor find every process an earlier one started for this
#: node (and only for this node: several nodes may share a machine), wherever it went.
STATE_DIR_ENV = "SYMPHONY_NODE_STATE_DIR"


# Named tuples, not dataclasses, in every module the node monitor imports: the
# dataclasses module loads inspect (with ast, dis, tokenize), about 1.3 MiB that the
# long-lived monitor would keep for nothing.
class ProcInfo(NamedTuple):
    """One line of the process table."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    start_ticks: int
    zombie: bool
    cpu_ticks: int = 0  # user + system time so far, in clock ticks
    rss_pages: int = 0  # resident memory, in pages


def read_proc(pid: int) -> ProcInfo | None:
    """The table entry of ``pid``, or None if it does not exist (or vanished meanwhile)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or ')': split
    # at the last ')' (proc(5)).
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return ProcInfo(
            pid=pid,
            ppid=int(fields[1]),
            pgid=int(fields[2]),
            sid=int(fields[3]),
            start_ticks=int(fields[19]),
            zombie=fields[0] in (b"Z", b"X"),
            cpu_ticks=int(fields[11]) + int(fields[12]),
            rss_pages=int(fields[21]),
        )
    except (IndexError, ValueError):
        return None


def start_ticks(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, or None if it is gone."""
    info = read_proc(pid)
    return None if info is None else info.start_ticks


def is_same_process(pid: int, ticks: int) -> bool:
    """True if ``pid`` is alive (not a zombie) and is the process that started at ``ticks``."""
    info = read_proc(pid)
    return info is not None and not info.zombie and info.start_ticks == ticks


def run_marker(pid: int) -> str | None:
    """The job run id in the environment of ``pid`` (see :data:`RUN_ID_ENV`), if readable."""
    return _markers(pid).get(RUN_ID_ENV)


def _markers(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read()
    except OSError:
        return {}
    found = {}
    for name in (RUN_ID_ENV, STATE_DIR_ENV):
        prefix = name.encode() + b"="
        for entry in environ.split(b"\0"):
            if entry.startswith(prefix):
                found[name] = entry[len(prefix) :].decode(errors="replace")
                break
    return found


def marked_processes(snapshot: Snapshot, state_dir: str) -> dict[str, list[ProcInfo]]:
    """Every live process started for the node of ``state_dir``, by run id.

    That is every process whose environment carries this state dir and a run id (see
    :data:`STATE_DIR_ENV`), whoever its parent now is. Reads one small file per process:
    for rare events (a monitor taking over, a run of an earlier monitor ending).
    """
    found: dict[str, list[ProcInfo]] = {}
    for info in snapshot.by_pid.values():
        if info.zombie or info.pid == os.getpid():
            continue
        markers = _markers(info.pid)
        run_id = markers.get(RUN_ID_ENV)
        if run_id and markers.get(STATE_DIR_ENV) == state_dir:
            found.setdefault(run_id, []).append(info)
    return found


class Snapshot:
    """The whole process table at one moment, indexed by pid and by parent."""

    def __init__(self, infos: Iterable[ProcInfo]) -> None:
        self.by_pid: dict[int, ProcInfo] = {}
        self.children: dict[int, list[int]] = {}
        self._marked: dict[int, dict[str, list[int]]] = {}
        for info in infos:
            self.by_pid[info.pid] = info
            self.children.setdefault(info.ppid, []).append(info.pid)

    @classmethod
    def take(cls) -> Snapshot:
        """Scan ``/proc`` now."""
        infos = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                info = read_proc(int(name))
                if info is not None:
                    infos.append(info)
        return cls(infos)

    def descendants(self, pid: int) -> list[ProcInfo]:
        """Every live (non-zombie) descendant of ``pid``, not including ``pid`` itself."""
        found: list[ProcInfo] = []
        stack = list(self.children.get(pid, ()))
        seen: set[int] = set()
        while stack:
            child = stack.pop()
            if child in seen:  # a pid reused mid-scan could in theory form a cycle
                continue
            seen.add(child)
            info = self.by_pid[child]
            if not info.zombie:
                found.append(info)
            stack.extend(self.children.get(child, ()))
        return found

    def marked_children(self, parent: int) -> dict[str, list[int]]:
        """The live children of ``parent`` by the run id in their environment.

        Computed once per snapshot and parent: the node monitor asks it for every run at
        every scan, and reading each child's environment once per run made a scan
        quadratic (150 runs: 45,000 reads, most of the monitor's time during a burst).
        """
        cached = self._marked.get(parent)
        if cached is None:
            cached = {}
            for pid in self.children.get(parent, ()):
                info = self.by_pid[pid]
                marker = None if info.zombie else run_marker(pid)
                if marker is not None:
                    cached.setdefault(marker, []).append(pid)
            self._marked[parent] = cached
        return cached

    def alive(self, pid: int, ticks: int) -> bool:
        """True if ``pid`` is in this snapshot, alive, with this start time."""
        info = self.by_pid.get(pid)
        return info is not None and not info.zombie and info.start_ticks == ticks


#: prctl(2): make the caller the reaper of its orphaned descendants.
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (they are re-parented to
    it, not to init, so a run's leftovers stay in reach); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result: int = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        return result == 0
    except (OSError, AttributeError):
        return False


def quietly(function: Callable[[int, int], None], target: int, signum: int) -> bool:
    """Send a signal (``os.kill``, ``os.killpg``); False if there was no such process
    (group) or no permission."""
    try:
        function(target, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True
