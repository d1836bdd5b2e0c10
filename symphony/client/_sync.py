"""Client: the blocking client, on the standard library's ``http.client``.

No third-party import, so a command like ``symphony ps`` starts fast. One connection per
call: calls are few and far apart, and nothing stale is ever reused.
"""

from __future__ import annotations

import datetime
import http.client
import os
import socket
import ssl
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from . import _common as c
from . import _deadline as d
from ._discovery import locate
from ._errors import ApiError, ConductorUnreachable
from ._rows import DeploymentRows


class Client:
    """Talks to a Conductor's HTTP API.

    ``url``: argument > ``$SYMPHONY_URL`` > ``<state dir>/conductor.json`` >
    ``http://127.0.0.1:8000``; ``token``: argument > ``$SYMPHONY_TOKEN`` >
    ``<state dir>/api-token``; the state dir is the argument, else ``$SYMPHONY_STATE_DIR``,
    else the nearest ``.symphony`` or ``storage`` here or in a parent directory
    (:func:`locate`, whose answer is kept in ``located``). Errors: :class:`ApiError`,
    :class:`ConductorUnreachable`.

    ``timeout`` bounds each request as a whole: connecting, sending, and reading the
    answer's head and body (a Conductor that drips its answer is timed out like one that
    says nothing). An answer over ``max_answer`` bytes is an :class:`ApiError`
    (``answer too large``), and a listing whose pages go round one too.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        state_dir: str | os.PathLike[str] | None = None,
        timeout: float = c.TIMEOUT,
    ) -> None:
        #: Where the URL and token came from (and what was searched): see :func:`locate`.
        self.located = locate(url, token, state_dir=state_dir)
        #: Every Conductor to try, in turn (``SYMPHONY_URL`` may list several).
        self.urls = c.split_urls(self.located.url)
        #: The one that answered last (tried first next time).
        self.url = self.urls[0]
        self.token = self.located.token
        self.timeout = timeout
        #: The largest answer read, in bytes (see :data:`MAX_ANSWER`).
        self.max_answer = c.MAX_ANSWER
        for each in self.urls:
            parts = urlsplit(each)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"the Conductor URL must be http(s)://host[:port], got {each!r}")

    def __repr__(self) -> str:
        return f"Client(url={self.url!r})"

    # ---- the API -------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``GET /healthz``: status, version, uptime (needs no token)."""
        return self._json("GET", "/healthz")

    def nodes(self) -> list[dict[str, Any]]:
        """Every node: state, groups, capacities total and used, resources, heartbeat."""
        return self._items("/nodes", "nodes")

    def drain_node(self, node_id: str) -> dict[str, Any]:
        """Drain a node: no new work; its replicas move elsewhere. Returns the node."""
        return self._json("POST", c.node_path(node_id, "drain"))

    def undrain_node(self, node_id: str) -> dict[str, Any]:
        """Undrain a node: it takes new work again. Returns the node."""
        return self._json("POST", c.node_path(node_id, "undrain"))

    def create_deployment(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Create a deployment from a spec (a dict as in the docs); returns it."""
        return self._json("POST", "/deployments", spec)

    def create_deployments(self, specs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create several deployments in one transaction, all of them or none
        (``POST /deployments:batch``); returns them in order. A refusal is an
        :class:`ApiError` whose ``detail`` names each bad item's ``index``."""
        answer = self._json(
            "POST",
            "/deployments:batch",
            c.batch_body(specs),
            timeout=max(self.timeout, c.BATCH_TIMEOUT),
        )
        return list(answer["deployments"])

    def upload(self, archive: bytes, *, timeout: float = 600.0) -> dict[str, Any]:
        """``POST /uploads``: keep an archive on the Conductor for ``config.image``;
        returns ``{"sha256", "size", "image"}`` (``image`` is ``upload:<sha256>``).
        ``timeout`` bounds the whole upload, but is never less than a second per MiB
        of ``archive``: a large archive on a slow link is no error."""
        timeout = max(timeout, len(archive) / UPLOAD_RATE)
        return c.decode(*self._exchange("POST", "/uploads", archive, timeout))

    def list_deployments(
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
        pages = self._listing(view, state=state, node_group=node_group, name=name, labels=labels)
        return [item for answer in pages for item in c.page_items(answer)]

    def deployment_rows(
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
            for answer in self._listing("rows", **filters):
                rows.add_page(answer)
        except ApiError as error:
            if not c.rows_refused(error):
                raise
            return DeploymentRows.of_summaries(self.list_deployments(**filters, summary=True))
        return rows

    def _listing(self, view: str, **filters: Any) -> Iterator[dict[str, Any]]:
        """Each page of a listing of deployments, in turn."""
        cursors = c.Cursors(max_bytes=self.max_answer)
        cursor = None
        while True:
            path = c.deployments_query(cursor, view=view, **filters)
            answer = cursors.page(*self._exchange("GET", path, None, self.timeout))
            cursor = cursors.after(answer)
            yield answer
            if cursor is None:
                return

    def get_deployment(self, id_or_name: str) -> dict[str, Any]:
        """One deployment, by id or name."""
        return self._json("GET", c.deployment_path(id_or_name))

    def update_deployment(self, id_or_name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Apply a JSON merge patch (``{"desired_state": "stopped"}``, ``{"replicas": 3}``)."""
        return self._json("PATCH", c.deployment_path(id_or_name), patch)

    def versions(self, id_or_name: str) -> list[dict[str, Any]]:
        """A deployment's kept versions (templates), the most recently current first."""
        return self._items(c.deployment_path(id_or_name, "versions"), "versions")

    def promote(self, id_or_name: str) -> dict[str, Any]:
        """Let a rolling update waiting on its canaries go on; returns the deployment."""
        return self._json("POST", c.deployment_path(id_or_name, "promote"))

    def restart(self, id_or_name: str) -> dict[str, Any]:
        """Replace every instance by a new one of the same template, a few at a time as
        the spec's ``update`` says (a rolling restart: a new version, rolled as an
        update); returns the deployment. 409 when it is stopped, scheduled, an
        experiment's process, or already rolling."""
        return self._json("POST", c.deployment_path(id_or_name, "restart"))

    def rollback(self, id_or_name: str, version: int | None = None) -> dict[str, Any]:
        """Go back to a kept version (None: the last good one); it rolls out."""
        body = {} if version is None else {"version": version}
        return self._json("POST", c.deployment_path(id_or_name, "rollback"), body)

    def delete_deployment(self, id_or_name: str) -> dict[str, Any]:
        """Stop every instance's process group, then delete (waits for the stops)."""
        return self._json(
            "DELETE", c.deployment_path(id_or_name), timeout=max(self.timeout, c.DELETE_TIMEOUT)
        )

    def logs(
        self,
        id_or_name: str,
        *,
        tail: int | None = None,
        instance: str | int | None = None,
        stream: str = "stdout",
        since: str | datetime.datetime | datetime.timedelta | None = None,
        timestamps: bool = False,
    ) -> str:
        """The last ``tail`` lines of an instance's ``stream`` (default instance: the
        first live one, else the most recent). ``tail`` defaults to 100, or with
        ``since`` (``"10m"``, ``"2026-11-26T21:04:36Z"``, a ``timedelta`` or a
        ``datetime``) to every line that arrived since then (up to 100,000);
        ``timestamps`` starts each line with its arrival time."""
        path = c.logs_query(
            id_or_name,
            tail=tail,
            instance=instance,
            stream=stream,
            follow=False,
            since=since,
            timestamps=timestamps,
        )
        return self._text(path, timeout=max(self.timeout, c.LOGS_TIMEOUT))

    def follow_logs(
        self,
        id_or_name: str,
        *,
        tail: int | None = None,
        instance: str | int | None = None,
        stream: str = "stdout",
        since: str | datetime.datetime | datetime.timedelta | None = None,
        timestamps: bool = False,
    ) -> Iterator[str]:
        """The last ``tail`` lines, then each new line as the job writes it (without its
        newline), until the caller stops iterating or the stream ends. The client's
        ``timeout`` bounds opening the stream (up to its head); then each wait for a
        line is unbounded, as a quiet job is no error, and a line longer than
        :data:`MAX_LINE` bytes (1 MiB) comes in pieces of that size."""
        path = c.logs_query(
            id_or_name,
            tail=tail,
            instance=instance,
            stream=stream,
            follow=True,
            since=since,
            timestamps=timestamps,
        )
        # Opened now, not at the first next(): a wrong name fails at the call.
        conn, response = self._open("GET", path, None, self.timeout)
        if response.status >= 400:
            try:
                body = self._read(response)
            except (OSError, http.client.HTTPException) as error:
                raise ConductorUnreachable(self.url, _reason(error)) from None
            finally:
                _close(conn, response)
            raise c.error_of(response.status, response.reason, body)
        return self._lines(conn, response)

    def _lines(
        self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> Iterator[str]:
        try:
            d.release(conn)  # a quiet job is not an error
            while line := response.readline(c.MAX_LINE):
                yield line.decode("utf-8", "replace").rstrip("\n")
        except (OSError, http.client.HTTPException) as error:
            raise ConductorUnreachable(self.url, _reason(error)) from None
        finally:
            _close(conn, response)

    def events(
        self, id_or_name: str, *, after: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """A deployment's events, oldest first; ``after``: only those with a larger id."""
        path = c.with_query(c.deployment_path(id_or_name, "events"), after=after, limit=limit)
        return self._items(path, "events")

    def create_experiment(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Create an experiment (processes, groups, binds/connects); returns it."""
        return self._json("POST", "/experiments", spec)

    def list_experiments(self) -> list[dict[str, Any]]:
        """Every experiment with its processes."""
        return self._items("/experiments", "experiments")

    def get_experiment(self, name: str) -> dict[str, Any]:
        """One experiment: its processes with group, node, ports, state, restarts."""
        return self._json("GET", c.experiment_path(name))

    def visit_link(self, experiment: str, service: str) -> dict[str, Any]:
        """A one-time browser link to a service an experiment's process exposes or binds
        (``url``, served by the Conductor under ``path``); see ``symphony visit``."""
        return self._json("POST", c.service_path(experiment, service, "visit"))

    def tunnels(self) -> list[dict[str, Any]]:
        """Every tunnel, forward and visit the Conductor relays, with connections and bytes."""
        return self._items("/tunnels", "tunnels")

    def update_experiment(self, name: str, desired_state: str) -> dict[str, Any]:
        """Stop (``"stopped"``) or start (``"running"``) every process of an experiment."""
        return self._json("PATCH", c.experiment_path(name), {"desired_state": desired_state})

    def delete_experiment(self, name: str) -> dict[str, Any]:
        """Stop every process of an experiment, then delete them and it."""
        return self._json(
            "DELETE", c.experiment_path(name), timeout=max(self.timeout, c.DELETE_TIMEOUT)
        )

    def runs(self, id_or_name: str) -> dict[str, Any]:
        """A scheduled deployment's runs (newest first, with exit codes) and its next
        cron times: ``GET /deployments/{id}/runs``."""
        return self._json("GET", c.deployment_path(id_or_name, "runs"))

    def metrics(self) -> str:
        """``GET /metrics`` in Prometheus text format."""
        return self._text("/metrics")

    def list_secrets(self) -> list[dict[str, Any]]:
        """Every secret's ``name``, ``created_at`` and ``updated_at``: never a value."""
        return self._items("/secrets", "secrets")

    def set_secret(self, name: str, value: str) -> dict[str, Any]:
        """Create secret ``name``, or replace its value; the answer says which
        (``created``). Running instances keep the old value until restarted."""
        return self._json("POST", "/secrets", {"name": name, "value": value})

    def delete_secret(self, name: str) -> dict[str, Any]:
        """Delete a secret (refused, 409, while a deployment references it)."""
        return self._json("DELETE", c.secret_path(name))

    def create_join_token(
        self,
        *,
        ttl_seconds: float = 3600.0,
        reusable: bool = False,
        node_id: str | None = None,
        groups: Sequence[str] | None = None,
        capacities: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        """A join token for new nodes (``token``, shown this once; ``ca_hash``,
        ``join_command``), single-use unless ``reusable``; ``node_id``, ``groups`` and
        ``capacities`` bind what a node joining with it may claim."""
        body = c.token_body(ttl_seconds, reusable, node_id, groups, capacities)
        return self._json("POST", "/tokens", body)

    def list_join_tokens(self) -> list[dict[str, Any]]:
        """Every join token, without its secret: ``id``, ``expires_at``, ``usable``..."""
        return self._items("/tokens", "tokens")

    def revoke_join_token(self, token_id: str) -> dict[str, Any]:
        """Delete a join token (its ``id``), so that no node can join with it any more."""
        return self._json("DELETE", c.token_path(token_id))

    # ---- plumbing ------------------------------------------------------------------------
    def _json(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        return c.decode(*self._exchange(method, path, body, timeout or self.timeout))

    def _items(self, path: str, key: str) -> list[dict[str, Any]]:
        return c.decode_items(*self._exchange("GET", path, None, self.timeout), key)

    def _text(self, path: str, *, timeout: float | None = None) -> str:
        status, reason, data = self._exchange("GET", path, None, timeout or self.timeout)
        if status >= 400:
            raise c.error_of(status, reason, data)
        return data.decode("utf-8", "replace")

    def _exchange(
        self, method: str, path: str, body: Any, timeout: float
    ) -> tuple[int, str, bytes]:
        conn, response = self._open(method, path, body, timeout)
        try:
            return response.status, response.reason, self._read(response)
        except (OSError, http.client.HTTPException) as error:
            raise ConductorUnreachable(self.url, _reason(error)) from None
        finally:
            _close(conn, response)

    def _open(
        self, method: str, path: str, body: Any, timeout: float
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send to the current Conductor, or to the next ones while a Conductor cannot
        be reached or is a standby that reaches no leader (nothing was applied there).
        Once a request is sent and the connection fails, it is not repeated elsewhere:
        it may have been applied. ``timeout`` bounds each Conductor's attempt, up to the
        answer's body included (read within it by :meth:`_read`): one that cannot be
        reached in time leaves the next its whole time, so the whole is bounded by the
        number of Conductors times ``timeout``."""
        start = self.urls.index(self.url)
        order = self.urls[start:] + self.urls[:start]
        tried: list[str] = []  # what each Conductor passed over said, for the error
        for number, url in enumerate(order, 1):
            conn = self._connection(url, timeout)
            try:
                d.connect(conn, d.Deadline(timeout))
            except OSError as error:
                conn.close()
                if number < len(order):
                    tried.append(c.passed_over(url, _reason(error)))
                    continue
                raise ConductorUnreachable(url, _reason(error), tried=tried) from None
            response = self._request(conn, url, method, path, body)
            if c.try_next(response.status, response.getheader(c.ROLE_HEADER)) and (
                number < len(order) or tried
            ):
                try:
                    answer = self._read(response)
                except (OSError, http.client.HTTPException, ApiError):
                    answer = b""  # the status and the role say enough
                finally:
                    _close(conn, response)  # the answer may be half-read
                said = c.error_of(response.status, response.reason, answer)
                if number == len(order):  # the last one too: its answer is the error
                    raise c.error_of(response.status, response.reason, answer, url=url, tried=tried)
                tried.append(c.passed_over(url, str(said)))
                continue
            self.url = url
            return conn, response
        raise AssertionError("unreachable: the last URL returns or raises")

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        return d.read_answer(response, self.max_answer)

    def _connection(self, url: str, timeout: float) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme == "https":
            context = ssl.create_default_context()
            return http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)
        return http.client.HTTPConnection(host, parts.port, timeout=timeout)

    def _request(
        self, conn: http.client.HTTPConnection, url: str, method: str, path: str, body: Any
    ) -> http.client.HTTPResponse:
        payload = None if body is None else body if isinstance(body, bytes) else c.encode(body)
        headers = c.headers(self.token, body=payload is not None)
        if isinstance(body, bytes):  # an archive (POST /uploads), not JSON
            headers["Content-Type"] = "application/octet-stream"
        try:
            conn.request(method, urlsplit(url).path + path, body=payload, headers=headers)
            return conn.getresponse()
        except (OSError, http.client.HTTPException) as error:
            conn.close()
            raise ConductorUnreachable(url, _reason(error)) from None


#: Bytes per second an upload is given time for, at least (1 MiB/s): a timeout
#: that bounds the whole request must grow with what it sends.
UPLOAD_RATE = 1024 * 1024


def _close(conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
    """Close an answer and its connection. The answer first: its reader holds the
    socket open (as ``makefile`` does) until it is closed, even after the connection
    is, and an answer left half-read would leave the socket to the garbage collector."""
    response.close()
    conn.close()


def _reason(error: BaseException) -> str:
    if isinstance(error, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return str(error) or type(error).__name__
