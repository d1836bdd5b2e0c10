"""The fake container runtime (``fakebin/podman``) as the tests set it up."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

FAKEBIN = Path(__file__).parent / "fakebin"
#: The same script as ``docker`` (docker's CLI has the same verbs for what the node calls).
FAKEDOCKER = Path(__file__).parent / "fakedocker"
IMAGE = "localhost/bb:1"


class FakeRuntime:
    """The state directory of the fake runtime and the environment that finds it."""

    def __init__(self, root: Path, *, runtime: str = "podman") -> None:
        where = FAKEBIN if runtime == "podman" else FAKEDOCKER
        self.state = root / "fake-runtime"
        for sub in ("images", "registry", "containers", "exits"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PATH": f"{where}:{os.environ.get('PATH', os.defpath)}",
            "FAKE_RUNTIME_STATE": str(self.state),
            "SHARED_VALUE": "same",  # a variable of the agent's own, also set by a spec
        }

    def add_image(self, image: str = IMAGE, *, cmd: list[str] | None = None) -> None:
        """An image present in the node's store (``cmd``: its default command)."""
        (self.state / "images" / quote(image, safe="")).write_text(json.dumps({"cmd": cmd}))

    def publish(self, image: str, *, cmd: list[str] | None = None, pull_seconds: float = 0) -> None:
        """An image a pull finds (after ``pull_seconds``)."""
        data = {"cmd": cmd, "pull_seconds": pull_seconds}
        (self.state / "registry" / quote(image, safe="")).write_text(json.dumps(data))

    def calls(self, verb: str | None = None) -> list[list[str]]:
        """Every command line the runtime was called with (of one verb)."""
        path = self.state / "calls.log"
        lines = path.read_text().splitlines() if path.exists() else []
        calls = [json.loads(line) for line in lines]
        return [c for c in calls if verb is None or c[:1] == [verb]]

    def containers(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in (self.state / "containers").glob("*.json")]
