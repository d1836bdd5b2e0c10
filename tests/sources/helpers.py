"""Archives, an HTTP server on 127.0.0.1 and git repositories for the sources tests."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

APP = {"main.py": "print('hello from the image')\n", "pkg/data.txt": "data\n"}


def tar_gz(path: Path, files: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in (files or APP).items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def zip_file(path: Path, files: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in (files or APP).items():
            zf.writestr(name, text)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Server:
    url: str
    requests: list[str] = field(default_factory=list)


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[Server]:
    """Serve ``root`` on 127.0.0.1 (a thread); ``requests`` lists the paths asked for."""
    served = Server("")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            served.requests.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def bare_repo(tmp: Path, files: dict[str, str] | None = None) -> tuple[Path, str]:
    """A bare repository with one commit on ``main``; returns (its path, the commit)."""
    work = tmp / "repo-work"
    work.mkdir()
    git("init", "--quiet", "-b", "main", cwd=work)
    for name, text in (files or APP).items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git("add", ".", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "one", cwd=work)
    bare = tmp / "repo.git"
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=tmp)
    return bare, git("rev-parse", "HEAD", cwd=work)


def commit_more(tmp: Path, bare: Path, name: str, text: str) -> str:
    """Push one more commit to ``main`` of ``bare``; returns it."""
    work = tmp / "repo-work"
    (work / name).write_text(text)
    git("add", ".", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "more", cwd=work)
    git("push", "--quiet", str(bare), "main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)
