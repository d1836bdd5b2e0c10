"""Generated deployment names, for specs that do not set ``name``.

A generated name reads like what it runs (``main-3f9a1c`` for ``python3 main.py``) so a
person can tell deployments apart in ``symphony ps`` without having named them, and ends
in random hex so two specs running the same thing do not collide.
"""

from __future__ import annotations

import re
import secrets
from pathlib import PurePosixPath
from typing import Any

# Programs whose first argument is the interesting part ("python3 main.py" -> "main").
_INTERPRETERS = {"python", "python3", "node", "bash", "sh", "ruby", "perl", "uv", "deno", "bun"}
_BAD = re.compile(r"[^a-z0-9-]+")


def generate_name(data: Any) -> str:
    """A fresh DNS-label name derived from a raw (not yet validated) spec dict."""
    return f"{_stem(data)}-{secrets.token_hex(3)}"


def _stem(data: Any) -> str:
    config = data.get("config") if isinstance(data, dict) else None
    command = config.get("command") if isinstance(config, dict) else None
    words = [w for w in command if isinstance(w, str)] if isinstance(command, list) else []
    image = config.get("image") if isinstance(config, dict) else None
    if not words and isinstance(image, str):  # a container running its image's command:
        # "docker.io/library/python:3.12" -> "python"
        words = [image.rsplit("/", 1)[-1].split("@")[0].split(":")[0]]
    if not words:
        return "deployment"
    chosen = words[0]
    if PurePosixPath(chosen).name in _INTERPRETERS:
        scripts = [w for w in words[1:] if not w.startswith("-")]
        chosen = scripts[0] if scripts else chosen
    stem = _BAD.sub("-", PurePosixPath(chosen).stem.lower()).strip("-")[:40].strip("-")
    return stem or "deployment"
