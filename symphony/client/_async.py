"""AsyncClient: the same API as :class:`Client`, as coroutines, on httpx.

httpx runs under Trio (and asyncio) through anyio. It is imported when the first
``AsyncClient`` is made, so importing :mod:`symphony.client` stays cheap.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _common as c
from ._discovery import locate
from ._errors import ApiError, ConductorUnreachable
from ._rows import DeploymentRows

if TYPE_CHECKING:
    import httpx  # imported when the first AsyncClient is made


class AsyncClient:
    """Talks to a Conductor's HTTP API from async code (Trio or asyncio).

    Finds the URL and token like :class:`Client`, and bounds each request's time
    (``timeout``, the whole of it) and answer (``max_answer`` bytes) the same way. Use
    it as ``async with``, or call :meth:`aclose` when done::

        async with AsyncClient() as client:
            print(await client.list_deployments())
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        state_dir: str | os.PathLike[str] | None = None,
        timeout: float = c.TIMEOUT,
    ) -> None:
        import anyio
        import httpx

        #: Where the URL and token came from (and what was searched): see :func:`locate`.
        self.located = locate(url, token, state_dir=state_dir)
        #: Every Conductor to try, in turn (``SYMPHONY_URL`` may list several).
        self.urls = c.split_urls(self.located.url)
        #: The one that answered last (tried first next time).
        self.url = self.urls[0]
        self.token = self.located.token
        self.timeout = timeout
        #: The largest answer read, in bytes (see :class:`Client`).
        self.max_answer = c.MAX_ANSWER
        self._httpx = httpx
        self._anyio = anyio
        # Answers as they are, like the blocking client's: a compressed one would be
        # bounded only once inflated, a piece at a time.
        headers = c.headers(self.token) | {"Accept-Encoding": "identity"}
        self._http = httpx.AsyncClient(headers=headers, timeout=timeout)

    def __repr__(self) -> str:
        return f"AsyncClient(url={self.url!r})"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    # ---- the API -------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        """``GET /healthz``: status, version, uptime (needs no token)."""
        return await self._json("GET", "/healthz")

    async def nodes(self) -> list[dict[str, Any]]:
        """Every node: state, groups, capacities total and used, resources, heartbeat."""
        return await self._items("/nodes", "nodes")

    async def drain_node(self, node_id: str) -> dict[str, Any]:
        """Drain a node: no new work; its replicas move elsewhere. Returns the node."""
        return await self._json("POST", c.node_path(node_id, "drain"))

    async def undrain_node(self, node_id: str) -> dict[str, Any]:
        """Undrain a node: it takes new work again. Returns the node."""
        return await self._json("POST", c.node_path(node_id, "undrain"))

    async def create_deployment(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Create a deployment from a spec; returns it."""
        return await self._json("POST", "/deployments", spec)

    async def create_deployments(self, specs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create several deployments in one transaction, all of them or none
        (``POST /deployments:batch``); returns them in order."""
        answer = await self._json(
            "POST",
            "/deployments:batch",
            c.batch_body(specs),
            timeout=max(self.timeout, c.BATCH_TIMEOUT),
        )
        return list(answer["deployments"])

    async def list_deployments(
        self,
        *,
        state: str | None = None,
        node_group: str | None = None,
        name: str | None = None,
        labels: Mapping[str, str | None] | None = None,
        summary: bool = False,
    ) -> list[dict[str, Any]]:
        """Every deployment with its instances, or those the filters select (``name`` is a
        prefix; ``labels`` maps a key to its value, or to None for any value). Fetched a
        page at a time, in creation order. ``summary`` leaves out each one's ``spec``
        (a listing a third the size; a Conductor older than summaries sends it anyway)."""
        view = "summary" if summary else "full"
        filters: dict[str, Any] = {
            "state": state,
            "node_group": node_group,
            "name": name,
            "labels": labels,
        }
        found: list[dict[str, Any]] = []
        async for answer in self._listing(view, **filters):
            found += c.page_items(answer)
        return found

    async def deployment_rows(
        self,
        *,
        state: str | None = None,
        node_group: str | None = None,
        name: str | None = None,
        labels: Mapping[str, str | None] | None = None,
    ) -> DeploymentRows:
        """The summaries :meth:`list_deployments` would return, as rows of values
        (:class:`DeploymentRows`): the cheapest listing to fetch and decode, for tables
        of thousands. A Conductor older than rows sends summaries, turned into rows here."""
        filters: dict[str, Any] = {
            "state": state,
            "node_group": node_group,
            "name": name,
            "labels": labels,
        }
        rows = DeploymentRows()
        try:
            async for answer in self._listing("rows", **filters):
                rows.add_page(answer)
        except ApiError as error:
            if not c.rows_refused(error):
                raise
            summaries = await self.list_deployments(**filters, summary=True)
            return DeploymentRows.of_summaries(summaries)
        return rows

    async def _listing(self, view: str, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        """Each page of a listing of deployments, in turn."""
        cursors = c.Cursors(max_bytes=self.max_answer)
        cursor = None
        while True:
            path = c.deployments_query(cursor, view=view, **filters)
            answer = cursors.page(*await self._exchange("GET", path))
            cursor = cursors.after(answer)
            yield answer
            if cursor is None:
                return

    async def get_deployment(self, id_or_name: str) -> dict[str, Any]:
        """One deployment, by id or name."""
        return await self._json("GET", c.deployment_path(id_or_name))

    async def update_deployment(self, id_or_name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Apply a JSON merge patch to a deployment's spec."""
        return await self._json("PATCH", c.deployment_path(id_or_name), patch)

    async def versions(self, id_or_name: str) -> list[dict[str, Any]]:
        """A deployment's kept versions (templates), the most recently current first."""
        return await self._items(c.deployment_path(id_or_name, "versions"), "versions")

    async def promote(self, id_or_name: str) -> dict[str, Any]:
        """Let a rolling update waiting on its canaries go on; returns the deployment."""
        return await self._json("POST", c.deployment_path(id_or_name, "promote"))

    async def restart(self, id_or_name: str) -> dict[str, Any]:
        """Replace every instance by a new one of the same template, a few at a time as
        the spec's ``update`` says (a rolling restart: a new version, rolled as an
        update); returns the deployment. 409 when it is stopped, scheduled, an
        experiment's process, or already rolling."""
        return await self._json("POST", c.deployment_path(id_or_name, "restart"))

    async def rollback(self, id_or_name: str, version: int | None = None) -> dict[str, Any]:
        """Go back to a kept version (None: the last good one); it rolls out."""
        body = {} if version is None else {"version": version}
        return await self._json("POST", c.deployment_path(id_or_name, "rollback"), body)

    async def delete_deployment(self, id_or_name: str) -> dict[str, Any]:
        """Stop every instance's process group, then delete (waits for the stops)."""
        return await self._json(
            "DELETE", c.deployment_path(id_or_name), timeout=max(self.timeout, c.DELETE_TIMEOUT)
        )

    async def create_experiment(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Create an experiment (processes, groups, binds/connects); returns it."""
        return await self._json("POST", "/experiments", spec)

    async def list_experiments(self) -> list[dict[str, Any]]:
        """Every experiment with its processes."""
        return await self._items("/experiments", "experiments")

    async def get_experiment(self, name: str) -> dict[str, Any]:
        """One experiment: its processes with group, node, ports, state, restarts."""
        return await self._json("GET", c.experiment_path(name))

    async def visit_link(self, experiment: str, service: str) -> dict[str, Any]:
        """A one-time browser link to a service (see :meth:`Client.visit_link`)."""
        return await self._json("POST", c.service_path(experiment, service, "visit"))

    async def tunnels(self) -> list[dict[str, Any]]:
        """Every tunnel, forward and visit the Conductor relays (see :meth:`Client.tunnels`)."""
        return await self._items("/tunnels", "tunnels")

    async def update_experiment(self, name: str, desired_state: str) -> dict[str, Any]:
        """Stop (``"stopped"``) or start (``"running"``) every process of an experiment."""
        patch = {"desired_state": desired_state}
        return await self._json("PATCH", c.experiment_path(name), patch)

    async def delete_experiment(self, name: str) -> dict[str, Any]:
        """Stop every process of an experiment, then delete them and it."""
        return await self._json(
            "DELETE", c.experiment_path(name), timeout=max(self.timeout, c.DELETE_TIMEOUT)
        )

    async def logs(
        self,
        id_or_name: str,
        *,
        tail: int | None = None,
        instance: str | int | None = None,
        stream: str = "stdout",
        since: str | datetime.datetime | datetime.timedelta | None = None,
        timestamps: bool = False,
    ) -> str:
        """The last ``tail`` lines of an instance's ``stream``; ``since`` and
        ``timestamps`` as for :meth:`Client.logs`."""
        path = c.logs_query(
            id_or_name,
            tail=tail,
            instance=instance,
            stream=stream,
            follow=False,
            since=since,
            timestamps=timestamps,
        )
        return await self._text(path, timeout=max(self.timeout, c.LOGS_TIMEOUT))

    async def follow_logs(
        self,
        id_or_name: str,
        *,
        tail: int | None = None,
        instance: str | int | None = None,
        stream: str = "stdout",
        since: str | datetime.datetime | datetime.timedelta | None = None,
        timestamps: bool = False,
    ) -> AsyncIterator[str]:
        """The last ``tail`` lines, then each new line as it is written (without its
        newline): ``async for line in client.follow_logs("web"): ...``. Leaving the loop
        closes the stream. The client's ``timeout`` bounds opening the stream (up to its
        head); then each wait for a line is unbounded, as a quiet job is no error. A line
        longer than :data:`MAX_LINE` bytes (1 MiB) comes in pieces of that size."""
        path = c.logs_query(
            id_or_name,
            tail=tail,
            instance=instance,
            stream=stream,
            follow=True,
            since=since,
            timestamps=timestamps,
        )
        timeout = self._httpx.Timeout(self.timeout, read=None)
        try:
            opened, end = await self._pick("GET", path, None, timeout=timeout, bound=self.timeout)
            async with _Opened(opened) as response:
                if response.status_code >= 400:
                    with self._anyio.fail_after(_left(end)):
                        body = await _read(response, self.max_answer)
                    raise c.error_of(response.status_code, response.reason_phrase, body)
                async for line in _lines(response):
                    yield line
        except self._httpx.TransportError as error:
            raise ConductorUnreachable(self.url, _reason(error)) from None
        except TimeoutError:
            raise ConductorUnreachable(self.url, "timed out") from None

    async def events(
        self, id_or_name: str, *, after: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """A deployment's events, oldest first; ``after``: only those with a larger id."""
        path = c.with_query(c.deployment_path(id_or_name, "events"), after=after, limit=limit)
        return await self._items(path, "events")

    async def runs(self, id_or_name: str) -> dict[str, Any]:
        """A scheduled deployment's runs (newest first, with exit codes) and its next
        cron times: ``GET /deployments/{id}/runs``."""
        return await self._json("GET", c.deployment_path(id_or_name, "runs"))

    async def metrics(self) -> str:
        """``GET /metrics`` in Prometheus text format."""
        return await self._text("/metrics")

    async def list_secrets(self) -> list[dict[str, Any]]:
        """Every secret's name and dates (see :meth:`Client.list_secrets`)."""
        return await self._items("/secrets", "secrets")

    async def set_secret(self, name: str, value: str) -> dict[str, Any]:
        """Create or replace a secret (see :meth:`Client.set_secret`)."""
        return await self._json("POST", "/secrets", {"name": name, "value": value})

    async def delete_secret(self, name: str) -> dict[str, Any]:
        """Delete a secret no deployment references (see :meth:`Client.delete_secret`)."""
        return await self._json("DELETE", c.secret_path(name))

    async def create_join_token(
        self,
        *,
        ttl_seconds: float = 3600.0,
        reusable: bool = False,
        node_id: str | None = None,
        groups: Sequence[str] | None = None,
        capacities: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        """A join token for new nodes (see :meth:`Client.create_join_token`)."""
        body = c.token_body(ttl_seconds, reusable, node_id, groups, capacities)
        return await self._json("POST", "/tokens", body)

    async def list_join_tokens(self) -> list[dict[str, Any]]:
        """Every join token, without its secret (see :meth:`Client.list_join_tokens`)."""
        return await self._items("/tokens", "tokens")

    async def revoke_join_token(self, token_id: str) -> dict[str, Any]:
        """Delete a join token (see :meth:`Client.revoke_join_token`)."""
        return await self._json("DELETE", c.token_path(token_id))

    # ---- plumbing ------------------------------------------------------------------------
    async def _json(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        return c.decode(*await self._exchange(method, path, body, timeout=timeout))

    async def _items(self, path: str, key: str) -> list[dict[str, Any]]:
        return c.decode_items(*await self._exchange("GET", path), key)

    async def _text(self, path: str, *, timeout: float | None = None) -> str:
        status, reason, data = await self._exchange("GET", path, timeout=timeout)
        if status >= 400:
            raise c.error_of(status, reason, data)
        return data.decode("utf-8", "replace")

    async def _exchange(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None
    ) -> tuple[int, str, bytes]:
        """Status, reason and body of one request, all of it within ``timeout`` (httpx's
        own timeouts bound each wait, not their sum) and the body within
        ``max_answer`` bytes."""
        seconds = timeout or self.timeout
        try:
            response, end = await self._pick(method, path, body, timeout=seconds, bound=seconds)
            async with _Opened(response):
                with self._anyio.fail_after(_left(end)):
                    data = await _read(response, self.max_answer)
        except self._httpx.TransportError as error:
            raise ConductorUnreachable(self.url, _reason(error)) from None
        except TimeoutError:
            raise ConductorUnreachable(self.url, "timed out") from None
        return response.status_code, response.reason_phrase, data

    async def _pick(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        timeout: float | httpx.Timeout,
        bound: float,
    ) -> tuple[httpx.Response, float]:
        """Send to the current Conductor, or to the next ones while a Conductor cannot
        be reached or is a standby that reaches no leader (nothing was applied there);
        a request sent on a connection that then failed is not repeated elsewhere.

        Each Conductor's attempt has ``bound`` seconds of its own (one that cannot be
        reached in time leaves the next its whole time): the streamed response comes
        back with the moment its attempt ends, for the caller to read its body by."""
        payload = None if body is None else c.encode(body)
        headers = {"Content-Type": "application/json"} if payload is not None else None
        start = self.urls.index(self.url)
        order = self.urls[start:] + self.urls[:start]
        tried: list[str] = []  # what each Conductor passed over said, for the error
        for number, url in enumerate(order, 1):
            sent = _Sent()
            request = self._http.build_request(
                method,
                url + path,
                content=payload,
                headers=headers,
                timeout=timeout,
                extensions={"trace": sent},
            )
            end = self._anyio.current_time() + bound
            reason: str | None = None  # why this Conductor is passed over, if it is
            try:
                with self._anyio.fail_after(bound):
                    response = await self._http.send(request, stream=True)
            except (self._httpx.ConnectError, self._httpx.ConnectTimeout) as error:
                reason = _reason(error)
            except TimeoutError:
                if sent.began:  # it may have been applied: not to be sent again
                    raise ConductorUnreachable(url, "timed out", tried=tried) from None
                reason = "timed out"
            except self._httpx.TransportError as error:
                raise ConductorUnreachable(url, _reason(error), tried=tried) from None
            if reason is not None:
                if number < len(order):
                    tried.append(c.passed_over(url, reason))
                    continue
                raise ConductorUnreachable(url, reason, tried=tried)
            role = response.headers.get(c.ROLE_HEADER)
            if c.try_next(response.status_code, role) and (number < len(order) or tried):
                try:
                    with self._anyio.fail_after(_left(end)):
                        answer = await _read(response, self.max_answer)
                except (self._httpx.TransportError, ApiError, TimeoutError):
                    answer = b""  # the status and the role say enough
                finally:
                    await response.aclose()
                status, phrase = response.status_code, response.reason_phrase
                if number == len(order):  # the last one too: its answer is the error
                    raise c.error_of(status, phrase, answer, url=url, tried=tried)
                tried.append(c.passed_over(url, str(c.error_of(status, phrase, answer))))
                continue
            self.url = url
            return response, end
        raise AssertionError("unreachable: the last URL returns or raises")


def _left(end: float) -> float:
    """Seconds left until ``end`` (anyio's clock), none once it passed."""
    import anyio

    return max(end - anyio.current_time(), 0.0)


class _Sent:
    """Whether a request began to be sent, told by httpcore's ``trace`` extension: a
    timeout before that leaves nothing applied, so the next Conductor may be tried."""

    def __init__(self) -> None:
        self.began = False

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if "send_request_headers" in event:
            self.began = True


async def _read(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed ``response``, or the :class:`ApiError` of one over
    ``limit`` bytes, read as it came (the client asks for no compression)."""
    import anyio

    status = response.status_code
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise c.too_large(status, limit)
    parts: list[bytes] = []
    size = 0
    # Stopped by a cancel, not a break or a raise: the cancel goes down through httpx's
    # nested generators and ends each one now, where a break would leave them for the
    # garbage collector to close.
    with anyio.CancelScope() as reading:
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > limit:
                reading.cancel()
            else:
                parts.append(chunk)
    if size > limit:
        raise c.too_large(status, limit)
    return b"".join(parts)


async def _lines(response: httpx.Response) -> AsyncIterator[str]:
    """Each line of a streamed ``response``, without its line end; a line longer than
    :data:`MAX_LINE` bytes comes in pieces of that size."""
    pending = bytearray()
    async for chunk in response.aiter_raw():
        pending += chunk
        while (end := pending.find(b"\n", 0, c.MAX_LINE + 1)) >= 0 or len(pending) >= c.MAX_LINE:
            piece = pending[:end] if end >= 0 else pending[: c.MAX_LINE]
            del pending[: end + 1 if end >= 0 else c.MAX_LINE]
            yield piece.decode("utf-8", "replace").removesuffix("\r")
    if pending:
        yield pending.decode("utf-8", "replace").removesuffix("\r")


class _Opened:
    """A streamed response, closed when the ``async with`` ends."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    async def __aenter__(self) -> httpx.Response:
        return self.response

    async def __aexit__(self, *exc_info: object) -> None:
        await self.response.aclose()


def _reason(error: BaseException) -> str:
    text = str(error)
    if "refused" in text.lower() or _refused(error):
        return "connection refused"
    return text or type(error).__name__


def _refused(error: BaseException | None, depth: int = 0) -> bool:
    """Whether every attempt behind ``error`` was refused: under trio, httpx's error
    wraps an OSError that wraps a group of each address's ConnectionRefusedError."""
    if error is None or depth > 8:
        return False
    if isinstance(error, ConnectionRefusedError):
        return True
    if isinstance(error, BaseExceptionGroup):
        return all(_refused(e, depth + 1) for e in error.exceptions)
    return _refused(error.__cause__ or error.__context__, depth + 1)
