"""A throwaway PostgreSQL server for the test session: ``initdb`` + ``pg_ctl`` in a
temporary directory, on a free port of 127.0.0.1, as an ordinary user.

initdb refuses to run as root (a database server should not own the machine), so when
the tests run as root the server runs as the ``postgres`` user if the system has one,
else as ``nobody``, in a directory made theirs. The binaries are found through
``pg_config --bindir``, else ``initdb`` on ``PATH``, else the Debian layout
(``/usr/lib/postgresql/<version>/bin``, the newest).

The server trades durability for speed (``fsync=off``): it lives for one test session.
Each test gets a database of its own from :meth:`PgServer.new_database`.

A test run killed outright (SIGKILL, an OOM kill: no finalizer runs) must not leave the
server running for ever. PostgreSQL has no option to follow its parent, so a watchdog
does (:func:`_watch`): a shell in a session of its own, started before ``initdb``, waits
for end of file on a pipe whose only write end this process holds, then stops the server
(``pg_ctl -m immediate``) and deletes the directory. A normal end closes the pipe too:
the watchdog deletes the directory in the background.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from symphony.conductor.store._db import Db, SqliteDb


class PgUnavailable(Exception):
    """No PostgreSQL server could be started here (the reason is the message)."""


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``, or :class:`PgUnavailable`."""
    candidates: list[str] = []
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, check=True)
            candidates.append(out.stdout.decode().strip())
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).parent))

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PgUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) found: install the postgresql package"
    )


def _server_user() -> pwd.struct_passwd | None:
    """Whom to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PgUnavailable("running as root and no 'postgres' or 'nobody' user to run initdb as")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    """One running cluster; :meth:`stop` removes it with its directory."""

    USER = "symphony"

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.owner = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix="symphony-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self._names = itertools.count()
        if self.owner is not None:
            os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)
        self._lifeline = -1  # the write end of the watchdog's pipe (:func:`_watch`)

    def _as_owner(self) -> dict[str, object]:
        if self.owner is None:
            return {}
        return {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.root), "LC_ALL": "C"}

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            args,
            capture_output=True,
            timeout=timeout,
            cwd=self.root,
            env=self._env(),
            **self._as_owner(),
        )  # type: ignore[call-overload]
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace").strip()
            raise PgUnavailable(f"{Path(args[0]).name} failed: {output[-800:]}")

    def start(self) -> PgServer:
        self._lifeline = _watch(self.bindir / "pg_ctl", self.root, self._as_owner(), self._env())
        self._run(
            str(self.bindir / "initdb"),
            "-A",
            "trust",
            "-U",
            self.USER,
            "-E",
            "UTF8",
            "--no-locale",
            "-D",
            str(self.data),
        )
        for attempt in range(3):  # a free port may be taken before the server binds it
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-w",
                    "-t",
                    "60",
                    "-l",
                    str(self.root / "server.log"),
                    "-o",
                    options,
                    "start",
                    timeout=90,
                )
                return self
            except PgUnavailable:
                if attempt == 2:
                    log = (self.root / "server.log").read_text(errors="replace")[-800:]
                    raise PgUnavailable(f"the PostgreSQL server did not start: {log}") from None
        raise AssertionError("unreachable")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(PgUnavailable, subprocess.TimeoutExpired):
            if self.port:
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"
                )
        # After a whole session the cluster holds hundreds of megabytes (a database per
        # test, their WAL): deleting them took 2-12 s at the end of the run, which nobody
        # needs to wait for. The watchdog deletes them once its pipe is closed.
        if self._lifeline >= 0:
            os.close(self._lifeline)
            self._lifeline = -1
        else:
            shutil.rmtree(self.root, ignore_errors=True)


# The watchdog: ``cat`` returns at end of file, which comes when the last write end of
# the pipe is closed: by :meth:`PgServer.stop`, or by the kernel when the test process
# dies however it dies. Only this process holds that end (``os.pipe`` makes descriptors
# that no child inherits). The outer shell returns at once (nothing to wait for, no
# ``Popen`` left running); its background job reads the pipe from descriptor 3, as a
# background job's own standard input is /dev/null.
_WATCHDOG = (
    'exec 3<&0; { cat <&3 >/dev/null; "$0" -D "$1/data" -m immediate stop; rm -rf -- "$1"; } '
    ">/dev/null 2>&1 &"
)


def _watch(pg_ctl: Path, root: Path, owner: dict[str, object], env: dict[str, str]) -> int:
    """Start the watchdog of the server in ``root`` (module docstring); returns the
    pipe's write end, which the caller closes when the server is no longer needed."""
    read, write = os.pipe()
    try:
        subprocess.run(
            ["sh", "-c", _WATCHDOG, str(pg_ctl), str(root)],
            stdin=read,
            cwd="/",
            env=env,
            start_new_session=True,  # not in the process group a ^C or a group kill hits
            check=True,
            timeout=10,
            **owner,
        )  # type: ignore[call-overload]
    except (OSError, subprocess.SubprocessError) as exc:
        os.close(write)
        raise PgUnavailable(f"the server's watchdog did not start: {exc}") from None
    finally:
        os.close(read)
    return write


def raw_db(url: str) -> Db:
    """A bare connection to the database ``url`` names (no migration), for tests that
    build a database as an older version left it."""
    from symphony.conductor.store._url import dialect_of, sqlite_path

    if dialect_of(url) == "sqlite":
        path = sqlite_path(url, Path("."))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteDb(sqlite3.connect(path, isolation_level=None))
    from symphony.conductor.store._postgres import PostgresDb

    return PostgresDb(url)


def old_database(url: str, steps: int, spec: dict[str, object], generation: int = 1) -> Db:
    """The database ``url`` names as a release of ``steps`` migrations left it, holding
    deployment ``d_1`` of ``spec`` (running) at ``generation``: a bare connection, open
    in a write transaction for what else the test stores as that release did."""
    from symphony.conductor.store import MIGRATIONS, migrate

    db = raw_db(url)
    migrate(db, MIGRATIONS[:steps])
    db.begin_write()
    db.execute(
        "INSERT INTO deployments (id, name, spec, desired_state, generation, created_at, "
        "updated_at) VALUES ('d_1', ?, ?, 'running', ?, 1.0, 1.0)",
        (spec["name"], json.dumps(spec), generation),
    )
    return db
