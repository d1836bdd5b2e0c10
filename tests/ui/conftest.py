"""Fixtures of the web UI's browser tests: one real ``symphony up`` and one Chromium.

Playwright's sync API would block a Trio loop, so the Conductor and its node run in
their own process (``python -m symphony.cli up``, exactly what a user starts) and the
tests are plain sync functions. The server is shared by the whole module and the browser
by every module (starting them is most of the cost); every test gets a fresh browser
context, so no login or storage leaks from one test into the next.

Set ``SYMPHONY_SCREENSHOTS=docs/images`` to have the tests write the README's pictures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import kill_all, processes_under
from ..ports import port_range

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Playwright's waits (an element appearing, a text changing).
WAIT_MS = 10_000

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium; CI does)",
)


@dataclass
class Server:
    """A running ``symphony up``: its URL, token and an API client with the token."""

    url: str
    token: str
    root: Path
    api: httpx.Client

    def ui(self, fragment: str = "") -> str:
        return f"{self.url}/ui{fragment}"

    def wait(self, check: Any, *, timeout: float = 10.0) -> Any:
        """Poll ``check()`` until it returns something truthy (real time, bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout} s: {check}")
            time.sleep(0.05)


def _start_up(root: Path, *extra: str) -> subprocess.Popen[bytes]:
    state = root / "state"
    with (root / "up.log").open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "symphony.cli",
                "up",
                "--port",
                "0",
                "--state-dir",
                str(state),
                "--node-id",
                "ui-node",
                "--capacity",
                "Analytic1=10",
                "--ports",  # a range of its own: a service of the tests binds from it
                port_range(),
                *extra,
            ],
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_ready(root: Path, proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    state = root / "state"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"symphony up exited: {(root / 'up.log').read_text()}")
        try:
            url = json.loads((state / "conductor.json").read_text())["url"]
            token = (state / "api-token").read_text().strip()
            nodes = httpx.get(
                f"{url}/nodes", headers={"Authorization": f"Bearer {token}"}, timeout=5
            ).json()["nodes"]
            if any(n["state"] == "ready" for n in nodes):
                return url, token
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"symphony up did not get ready: {(root / 'up.log').read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_up(tmp_path_factory)


def serve_up(tmp_path_factory: pytest.TempPathFactory, *extra: str) -> Iterator[Server]:
    """A running ``symphony up`` (``extra``: more of its flags), stopped afterwards."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}")
    root = tmp_path_factory.mktemp("ui")
    proc = _start_up(root, *extra)
    try:
        url, token = _wait_ready(root, proc)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            yield Server(url, token, root, api)
    finally:
        # Ctrl-C is how a user stops it: jobs first, then the node and the conductor.
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(25)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        kill_all(processes_under(root))


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for every UI test (its start is a second or more): tests share
    nothing through it, each gets a context of its own (see ``page``)."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab at 1280x800 that fails the test on any JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page: Any, name: str) -> None:
    """Save ``name``.png where ``SYMPHONY_SCREENSHOTS`` says (no-op when unset)."""
    target = os.environ.get("SYMPHONY_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(Path(target) / f"{name}.png"))
