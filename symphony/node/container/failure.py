"""Why a container run failed when the runtime may have failed it: the last words of
its stderr.

``podman run`` and ``docker run`` exit with the container's exit code, except when
they fail themselves: 125 (the runtime: a flag, an image, a device it cannot use),
126 (the container's command cannot be invoked, or the OCI runtime refused to start
it: a limit it may not set, say), 127 (the command is not found). The code alone
then says nothing of why; the runtime says it on its stderr, which is the run's
stderr log. :func:`runtime_failure` reads the end of that log for the instance's
reason, the way a pull's failure is told in the runtime's own words
(:mod:`.control`).

Only 125 is the runtime's alone. A container's own command may exit 126 or 127 too
(a shell inside it that finds no command), and the lines are then the job's: so the
reason of those says only what is known, ``last stderr: ...`` (beside the exit code, in the
instance and its ``exited`` event), and only that of 125 names the runtime (``podman: ...``).

What it reads is the job's output, hostile as any: a bounded read of the file's end,
decoded as UTF-8 (what is not becomes U+FFFD), control characters made spaces, the
whole cut to :data:`MAX_REASON` characters keeping the end (where the error is).
Secret values were masked by the job's logger before they reached the file; they are
masked once more here (a value the logger could not know, say), before the cut: a
value cut in two would no longer match.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..process.redact import mask_text

__all__ = ["MAX_REASON", "RUNTIME_EXIT_CODES", "runtime_failure"]

#: Exit codes of ``run`` that are the runtime's own, not the container's.
RUNTIME_EXIT_CODES = frozenset({125, 126, 127})
#: Bytes read from the end of the stderr log, at most.
TAIL_BYTES = 4096
#: Lines of it the reason keeps (a warning before the error can say why).
LINES = 3
#: Characters of the reason, at most.
MAX_REASON = 500
#: Seconds a file's modification time may lag the clock the run's start was read from.
MTIME_SLACK = 0.1


def runtime_failure(
    kind: str,
    exit_code: int | None,
    stderr: str,
    *,
    since: float,
    secrets: Iterable[str] = (),
) -> str | None:
    """The reason of a container run that ended with ``exit_code``, from the last lines
    of its stderr log with ``secrets`` masked: ``<kind>: <lines>`` for 125 (the
    runtime's), ``last stderr: <lines>`` for 126 and 127 (the runtime's or the
    container's), when the log was written since the run started
    (``since``, wall clock); else None (blocking: a single read of a few KiB)."""
    if exit_code not in RUNTIME_EXIT_CODES:
        return None
    words = _last_words(stderr, since, secrets)
    if not words:
        return None
    return f"{kind}: {words}" if exit_code == 125 else f"last stderr: {words}"


def _last_words(path: str, since: float, secrets: Iterable[str]) -> str | None:
    try:
        with open(path, "rb") as f:
            # Nothing written since the run started: the lines there are an earlier
            # run's. (File times lag the clock by up to a tick: hence the slack.)
            if os.fstat(f.fileno()).st_mtime < since - MTIME_SLACK:
                return None
            start = max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES)
            f.seek(start)
            data = f.read(TAIL_BYTES)
    except OSError:
        return None
    lines = mask_text(data.decode(errors="replace"), secrets).splitlines()
    if start > 0 and len(lines) > 1:
        lines = lines[1:]  # cut in the middle: not a line of its own
    kept = [_printable(line) for line in lines]
    text = " / ".join([line for line in kept if line][-LINES:])
    if len(text) > MAX_REASON:
        text = "…" + text[-(MAX_REASON - 1) :]
    return text or None


def _printable(line: str) -> str:
    """``line`` with control characters (escape sequences, carriage returns) as spaces."""
    return "".join(c if c.isprintable() else " " for c in line).strip()
