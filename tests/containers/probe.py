"""Can real podman run a container here? Asked once per test session.

The answer is a reason to skip (the runtime's own last words) or None. To need no
registry, the probe builds a tiny image from the static busybox binary
(``busybox-static``): a root filesystem with ``/bin/busybox`` and its applets, imported
as :data:`LOCAL_IMAGE`. It also gives that image the name the docs' example uses
(:data:`DOCS_IMAGE`) when no such image is present, so the example runs offline.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile

LOCAL_IMAGE = "localhost/symphony-test-busybox:1"
DOCS_IMAGE = "docker.io/library/busybox:1.36"
APPLETS = ("sh", "echo", "cat", "sleep", "pwd", "true", "ls", "env")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _last_words(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit code {done.returncode}"


def _build_image(podman: str, busybox: str) -> str | None:
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "rootfs")
        os.makedirs(os.path.join(root, "bin"))
        os.makedirs(os.path.join(root, "workspace"))
        shutil.copy(busybox, os.path.join(root, "bin", "busybox"))
        for applet in APPLETS:
            os.symlink("busybox", os.path.join(root, "bin", applet))
        archive = os.path.join(tmp, "rootfs.tar")
        packed = _run("tar", "-C", root, "-cf", archive, ".")
        if packed.returncode != 0:
            return f"cannot pack the test image: {_last_words(packed)}"
        imported = _run(podman, "import", "--change", 'CMD ["sh"]', archive, LOCAL_IMAGE)
        if imported.returncode != 0:
            return f"podman import failed: {_last_words(imported)}"
    return None


@functools.cache
def podman_cannot_run() -> str | None:
    """Why real podman cannot run a container here, or None when it can."""
    podman = shutil.which("podman")
    if podman is None:
        return "podman is not installed (apt-get install podman)"
    busybox = shutil.which("busybox")
    if busybox is None:
        return "busybox is not installed (apt-get install busybox-static), needed for the image"
    if _run(podman, "image", "exists", LOCAL_IMAGE).returncode != 0:
        failed = _build_image(podman, busybox)
        if failed is not None:
            return failed
    tried = _run(podman, "run", "--rm", LOCAL_IMAGE, "true")
    if tried.returncode != 0:
        return f"podman cannot run a container here: {_last_words(tried)}"
    if _run(podman, "image", "exists", DOCS_IMAGE).returncode != 0:
        _run(podman, "tag", LOCAL_IMAGE, DOCS_IMAGE)
    return None
