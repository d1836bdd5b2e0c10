"""Looking at the cluster: its job processes (psutil) and its API (timed httpx calls)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psutil

from .model import JOB_PROGRAM, NAME_ENV, TAG_ENV, VERSION_ENV


@dataclass(frozen=True)
class JobProcess:
    """One live job process of this chaos run, described by its own environment."""

    pid: int
    name: str  # the deployment
    replica: int
    node: str
    version: str
    instance: str
    frozen: bool  # stopped by SIGSTOP (its node is frozen)


def job_processes(tag: str) -> list[JobProcess]:
    """Every live (not zombie) job process whose environment carries ``tag``.

    The environment is what a job inherits from the node (``SYMPHONY_NODE_ID``,
    ``SYMPHONY_REPLICA``, ...) and from its spec (the ``CHAOS_*`` variables), so a job is
    found wherever it ended up: under its monitor, or orphaned after the monitor died.
    """
    found = []
    for proc in psutil.process_iter(["name", "status"]):
        if proc.info["name"] != JOB_PROGRAM or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            env = proc.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
            continue
        if env.get(TAG_ENV) != tag:
            continue
        found.append(
            JobProcess(
                pid=proc.pid,
                name=env.get(NAME_ENV, "?"),
                replica=int(env.get("SYMPHONY_REPLICA") or -1),
                node=env.get("SYMPHONY_NODE_ID", "?"),
                version=env.get(VERSION_ENV, "?"),
                instance=env.get("SYMPHONY_INSTANCE", "?"),
                frozen=proc.info["status"] == psutil.STATUS_STOPPED,
            )
        )
    return found


class ApiError(Exception):
    """An API call failed: a transport error, a timeout or an unexpected status."""


class Api:
    """A synchronous API client that times every call and reports it to ``on_call``.

    ``on_call(method, path, seconds, ok)`` lets the harness check latencies of every call
    it makes, not only of the sampler's.
    """

    def __init__(
        self, url: str, on_call: Callable[[str, str, float, bool], None], timeout: float = 10.0
    ) -> None:
        self.http = httpx.Client(base_url=url, timeout=timeout)
        self.on_call = on_call

    def call(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200,), json: Any = None
    ) -> Any:
        start = time.monotonic()
        ok = False
        try:
            response = self.http.request(method, path, json=json)
            ok = True
        except httpx.HTTPError as exc:
            raise ApiError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            self.on_call(method, path, time.monotonic() - start, ok)
        if response.status_code not in expect:
            raise ApiError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
        return response.json()

    def deployments(self) -> dict[str, dict[str, Any]]:
        listed = self.call("GET", "/deployments")["deployments"]
        return {d["name"]: d for d in listed}

    def nodes(self) -> dict[str, dict[str, Any]]:
        return {n["node_id"]: n for n in self.call("GET", "/nodes")["nodes"]}

    def healthy(self) -> bool:
        try:
            return self.http.get("/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self.http.close()
