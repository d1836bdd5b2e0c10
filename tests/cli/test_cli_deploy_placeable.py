"""``symphony deploy`` of a deployment no node could ever take says so at once, with the
Scheduler's own words (a "did you mean" for a typo), on one stderr line, and exits 0:
the deployment is created, and a node that fits may join later. Real ``symphony up`` and
real ``symphony`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_cli_newcomer import run
from .test_up_e2e import symphony_up

SLEEP = ["sleep", "300"]


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cwd = tmp_path_factory.mktemp("placeable")
    with symphony_up(cwd):
        yield cwd


def deploy(cwd: Path, name: str, spec: dict[str, object], *flags: str) -> tuple[int, str, str]:
    (cwd / f"{name}.json").write_text(json.dumps({"name": name, **spec}))
    result = run(cwd, "deploy", "-f", f"{name}.json", *flags)
    return result.returncode, result.stdout, result.stderr


def test_a_capacity_class_no_node_offers_is_named_with_the_one_meant(here: Path) -> None:
    spec = {"capacity_requests": {"cpus": 100}, "config": {"command": SLEEP}}
    status, out, err = deploy(here, "typo", spec)
    assert status == 0, err
    assert out.startswith("deployment typo created")
    assert err.splitlines() == [
        "symphony: warning: typo cannot be placed: no ready node has capacity class cpus;"
        " did you mean cpu? (it waits until a node that can takes it)"
    ]


def test_a_group_no_node_is_in_is_named_with_the_one_meant(here: Path) -> None:
    spec = {"node_group": "loca1", "config": {"command": SLEEP}}
    status, _, err = deploy(here, "elsewhere", spec)
    assert status == 0, err
    assert err.splitlines() == [
        "symphony: warning: elsewhere cannot be placed: no node in group loca1; did you "
        "mean local? (it waits until a node that can takes it)"
    ]


def test_more_than_any_node_has_in_all_is_named(here: Path) -> None:
    spec = {
        "node_group": "local",
        "capacity_requests": {"cpu": 10**6},
        "config": {"command": SLEEP},
    }
    status, _, err = deploy(here, "huge", spec)
    assert status == 0, err
    assert err.startswith(
        "symphony: warning: huge cannot be placed: no ready node in group local has "
        "cpu >= 1000000 in all; the largest has cpu "
    )


def test_a_deployment_that_fits_says_nothing(here: Path) -> None:
    spec = {"node_group": "local", "capacity_requests": {"cpu": 1}, "config": {"command": SLEEP}}
    status, out, err = deploy(here, "fits", spec)
    assert (status, err) == (0, "")
    assert out.startswith("deployment fits created")


def test_wait_for_one_that_cannot_be_placed_says_why_and_times_out(here: Path) -> None:
    spec = {"capacity_requests": {"gpus": 1}, "config": {"command": SLEEP}}
    status, out, err = deploy(here, "waits", spec, "--wait", "--timeout", "2")
    assert status == 3, (out, err)
    assert err.splitlines()[0] == (
        "symphony: warning: waits cannot be placed: no ready node has capacity class gpus;"
        " they offer cpu (it waits until a node that can takes it)"
    )
    assert "capacity class gpus" in out.splitlines()[-1]  # the progress names it too
