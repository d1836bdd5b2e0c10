"""Uploads: an archive sent to the Conductor, fetched by nodes over their own link."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
import trio

from symphony.conductor.housekeeping import Housekeeper, Retention
from symphony.conductor.store import Store
from symphony.conductor.uploads import UploadStore, UploadTooLarge
from symphony.spec import parse_spec

from ..api.helpers import cluster
from ..api.test_api_errors import raw_request
from ..cli.test_up_e2e import cli, symphony_up, wait_for
from .helpers import tar_gz

MAIN = "import sys, time\nopen(sys.argv[1], 'w').write('ran from the upload')\ntime.sleep(600)\n"


async def _chunks(*parts: bytes) -> AsyncGenerator[bytes, None]:
    for part in parts:
        yield part


async def test_uploads_store_caps_and_prunes_only_old_unreferenced(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads", max_bytes=10)
    sha, size = await store.save(_chunks(b"12345", b"678"))
    assert size == 8 and store.read(sha, 5, 100) == (b"678", 8)
    with pytest.raises(UploadTooLarge):
        await store.save(_chunks(b"123456", b"789012"))
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == [sha]  # no leftovers
    other, _ = await store.save(_chunks(b"other"))
    day_old = time.time() - 86_401
    os.utime(tmp_path / "uploads" / sha, (day_old, day_old))
    os.utime(tmp_path / "uploads" / other, (day_old, day_old))
    assert store.prune([other]) == [sha]  # referenced or young: kept
    assert store.path(sha) is None and store.path(other) is not None
    assert store.prune([]) == [other]


async def test_uploads_api_then_a_node_runs_it_fetched_over_its_link(tmp_path: Path) -> None:
    archive = tar_gz(tmp_path / "app.tar.gz", {"main.py": MAIN})
    out = tmp_path / "out.txt"
    async with cluster(tmp_path) as c:
        wrong = await c.http.post("/uploads", content=b"x", headers={"Content-Type": "text/plain"})
        assert wrong.status_code == 415
        # Bytes that are no archive a node unpacks are refused at once (they would fail
        # each instance's start later), and nothing of them is kept.
        octets = {"Content-Type": "application/octet-stream"}
        for junk in (b"hello", b"<html>" + bytes(4096)):
            refused = await c.http.post("/uploads", content=junk, headers=octets)
            assert refused.status_code == 422 and "archive" in refused.text, refused.text
        assert not [p for p in (c.info.state_dir / "uploads").iterdir()]
        up = await c.http.post(
            "/uploads",
            content=archive.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert up.status_code == 201, up.text
        image = up.json()["image"]
        assert image == f"upload:{up.json()['sha256']}"
        spec = {
            "name": "uploaded",
            "node_group": "gpu-1",
            "config": {"image": image, "command": ["python3", "main.py", str(out)]},
        }
        created = await c.http.post("/deployments", json=spec)
        assert created.status_code == 201, created.text
        await c.wait_running("uploaded", timeout=30)
        with trio.fail_after(20):
            while not out.exists():
                await trio.sleep(0.05)
        assert out.read_text() == "ran from the upload"
        config = {**spec["config"], "image": "upload:" + "0" * 64}
        unknown = {**spec, "name": "unknown", "config": config}
        refused = await c.http.post("/deployments", json=unknown)
        assert refused.status_code == 422 and "no upload" in refused.text


async def test_uploads_large_body_refused_elsewhere_but_taken_here(tmp_path: Path) -> None:
    big = b"\x1f\x8b" + os.urandom(3 * 2**20)  # over the API's 1 MiB body limit, "gzip"
    async with cluster(tmp_path, node=False) as c:
        taken = await c.http.post(
            "/uploads", content=big, headers={"Content-Type": "application/octet-stream"}
        )
        assert taken.status_code == 201 and taken.json()["size"] == len(big)
        # Over a plain socket: refused by size, the server answers before the body is
        # all sent, and an HTTP client's abandoned body generator would fail the test.
        status, _ = await raw_request(c.http, "POST", "/deployments", big)
        assert status == 413


def test_uploads_cli_deploy_upload_dir(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "pkg").mkdir(parents=True)
    (app / "main.py").write_text(MAIN)
    (app / "pkg" / "data.txt").write_text("data")
    out = tmp_path / "cli-out.txt"
    with symphony_up(tmp_path):
        done = cli(tmp_path, "deploy", "--upload", str(app), "--name", "from-dir",
                   "--", "python3", "main.py", str(out))  # fmt: skip
        assert "uploaded" in done.stdout and "created" in done.stdout
        wait_for("the job's file", lambda: out.exists() and out.read_text(), timeout=60)
        (app / "escape").symlink_to("/etc/passwd")
        refused = cli(tmp_path, "deploy", "--upload", str(app), "--", "true", ok=False)
        assert refused.returncode != 0 and "links out" in refused.stderr


async def test_uploads_housekeeper_removes_day_old_uploads_no_spec_names(tmp_path: Path) -> None:
    uploads = UploadStore(tmp_path / "uploads")
    named, _ = await uploads.save(_chunks(b"named by a deployment"))
    orphan, _ = await uploads.save(_chunks(b"named by nobody"))
    fresh, _ = await uploads.save(_chunks(b"just uploaded"))
    day_old = time.time() - 86_401
    for sha in (named, orphan):
        os.utime(tmp_path / "uploads" / sha, (day_old, day_old))
    store = Store.open(tmp_path / "db.sqlite")
    try:
        config = {"image": f"upload:{named}", "command": ["python3", "main.py"]}
        store.create_deployment(parse_spec({"name": "keeps-it", "config": config}))
        Housekeeper(store, Retention(), uploads=uploads).sweep()
    finally:
        store.close()
    assert uploads.path(named) and uploads.path(fresh) and uploads.path(orphan) is None
