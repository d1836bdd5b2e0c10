"""The Conductor's housekeeping: old events and spent join tokens do not pile up."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from symphony.actors import spawn
from symphony.conductor.housekeeping import SWEEP_PERIOD, Housekeeper, Retention
from symphony.conductor.service import retention_of
from symphony.conductor.store import NewEvent, Store
from symphony.config import ConductorConfig, parse_config
from symphony.spec import parse_spec


def _filled(path: Path) -> Store:
    store = Store.open(path)
    d = store.create_deployment(parse_spec({"name": "a", "config": {"command": ["x"]}}))
    now = time.time()
    old = [NewEvent("k", f"old{i}", d.id, at=now - 10 * 86_400) for i in range(3)]
    store.append_events([*old, *(NewEvent("k", f"new{i}", d.id) for i in range(5))])
    store.add_join_token("t_expired", "h", expires_at=now - 1)
    store.add_join_token("t_fresh", "h", expires_at=now + 3600)
    return store


async def test_housekeeping_sweeps_every_period(tmp_path: Path, autojump_clock: object) -> None:
    store = _filled(tmp_path / "s.db")
    keeper = Housekeeper(store, Retention(keep_per_deployment=4, max_age_sec=86_400.0))
    async with trio.open_nursery() as nursery:
        await spawn(nursery, keeper, name="housekeeper")
        await trio.sleep(SWEEP_PERIOD - 1)
        assert len(store.list_events()) == 8  # nothing before the first period
        await trio.sleep(2)
        # The 3 old ones are past the age limit; of the rest the newest 4 stay.
        assert [e.message for e in store.list_events()] == ["new1", "new2", "new3", "new4"]
        assert [t.id for t in store.list_join_tokens()] == ["t_fresh"]
        nursery.cancel_scope.cancel()
    store.close()


def test_housekeeping_without_an_age_limit_keeps_old_events(tmp_path: Path) -> None:
    store = _filled(tmp_path / "s.db")
    keeper = Housekeeper(store, Retention(keep_per_deployment=100, max_age_sec=None))
    assert keeper.sweep() == (0, 1)
    assert len(store.list_events()) == 8
    store.close()


def test_housekeeping_keys_reach_the_conductor_tree(tmp_path: Path) -> None:
    config = parse_config(
        {
            "mode": "conductor",
            "conductor": {
                "state_dir": str(tmp_path),
                "events": {"keep_per_deployment": 7, "max_age_sec": 60},
            },
        }
    ).conductor
    assert config is not None
    assert (config.events_keep_per_deployment, config.events_max_age_sec) == (7, 60.0)
    defaults = ConductorConfig()
    assert (defaults.events_keep_per_deployment, defaults.events_max_age_sec) == (1000, 2592000.0)
    assert retention_of(config) == Retention(keep_per_deployment=7, max_age_sec=60.0)


def test_housekeeping_docs_example_is_a_valid_config() -> None:
    import re

    from symphony.config import load_yaml

    doc = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "events:" in b]
    config = parse_config(load_yaml(block)).conductor
    assert config is not None and retention_of(config) == Retention(
        keep_per_deployment=200, max_age_sec=604_800.0
    )
