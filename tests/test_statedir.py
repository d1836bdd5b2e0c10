"""The state-directory lock: exclusive per role, released with its holder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from symphony.statedir import (
    PROBE_GRACE,
    StateDirInUse,
    check_state_dir_free,
    hold_state_dir,
    lock_path,
)


def test_statedir_second_holder_of_a_role_is_refused_until_released(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with hold_state_dir(state, "conductor") as path:
        assert path == lock_path(state.absolute(), "conductor")
        assert path.read_text().strip() == str(os.getpid())
        assert path.stat().st_mode & 0o777 == 0o600
        busy = rf"in use by another conductor \(pid {os.getpid()}\)"
        asked = time.monotonic()
        with pytest.raises(StateDirInUse, match=busy), hold_state_dir(state, "conductor"):
            pass
        # A holder is not a probe: refused at once, not after the grace for probes.
        assert time.monotonic() - asked < PROBE_GRACE / 2
        with pytest.raises(StateDirInUse, match=busy):
            check_state_dir_free(state, "conductor")
        with hold_state_dir(state, "node"):  # another role may share the directory
            pass
    with hold_state_dir(state, "conductor"):  # released with its holder
        pass


PROBER = """
import sys
import time
from pathlib import Path
from symphony.statedir import StateDirInUse, check_state_dir_free
state, stop = Path(sys.argv[1]), Path(sys.argv[2])
print("probing", flush=True)
while not stop.exists():
    try:
        check_state_dir_free(state, "conductor")
    except StateDirInUse:
        pass
"""


def test_statedir_probes_never_make_a_service_or_each_other_refuse(tmp_path: Path) -> None:
    # `symphony ps` (or any command) probing the directory at the moment `symphony up`
    # takes it, or probes itself before it does: only a real holder may refuse either.
    state, stop = tmp_path / "state", tmp_path / "stop"
    with hold_state_dir(state, "conductor"):
        pass  # the lock file exists, as after any earlier run
    probers = [
        subprocess.Popen(
            [sys.executable, "-c", PROBER, str(state), str(stop)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for prober in probers:
            assert prober.stdout is not None and prober.stdout.readline() == "probing\n"
        refused = 0
        for _ in range(300):
            try:
                check_state_dir_free(state, "conductor")
                with hold_state_dir(state, "conductor"):
                    pass
            except StateDirInUse:
                refused += 1
        assert refused == 0
    finally:
        stop.touch()
        for prober in probers:
            prober.wait(timeout=30)
            prober.stdout.close()  # type: ignore[union-attr]
