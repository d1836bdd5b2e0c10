"""The state-directory lock: exclusive per role, released with its holder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from symphony.statedir import StateDirInUse, hold_state_dir, lock_path


def test_statedir_second_holder_of_a_role_is_refused_until_released(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with hold_state_dir(state, "conductor") as path:
        assert path == lock_path(state.absolute(), "conductor")
        assert path.read_text().strip() == str(os.getpid())
        assert path.stat().st_mode & 0o777 == 0o600
        busy = rf"in use by another conductor \(pid {os.getpid()}\)"
        with pytest.raises(StateDirInUse, match=busy), hold_state_dir(state, "conductor"):
            pass
        with hold_state_dir(state, "node"):  # another role may share the directory
            pass
    with hold_state_dir(state, "conductor"):  # released with its holder
        pass
