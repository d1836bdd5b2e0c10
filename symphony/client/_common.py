"""What both clients share: paths, query strings, answers and errors (no I/O here)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from ._errors import ApiError

#: Seconds for ordinary requests. A Conductor gives the actor that applies a change
#: (a create, a PATCH, a restart, an experiment's change) 30 s before it answers 504:
#: the client waits for that answer and then some, rather than give up at the same
#: moment and say only "timed out".
TIMEOUT = 30.0 + 15.0
#: A batch of creates: the Conductor gives it 60 s before its 504.
BATCH_TIMEOUT = 60.0 + 15.0
#: A delete waits for process groups to stop (the Conductor gives it 120 s).
DELETE_TIMEOUT = 150.0
#: A log tail: a Conductor may wait 30 s for the node to send it, then answer up to
#: 100,000 lines; the client waits for that (or for the Conductor's own 504) and then
#: some, rather than give up first.
LOGS_TIMEOUT = 30.0 + 30.0
USER_AGENT = "symphony-client"
#: A standby Conductor marks its answers with this header, as does one that is
#: stopping (see ha.md).
ROLE_HEADER = "x-symphony-role"
#: The largest answer a client reads, in bytes; a larger one is an :class:`ApiError`
#: (``answer too large``), never memory without end. The largest answers a real
#: Conductor gives are unpaged ones (``/metrics``, ``/experiments``, a log tail of
#: 100,000 lines) and a page of 1,000 full deployments: for 10,000 deployments each is
#: some tens of MiB at most (a deployment with its spec and instances is a few KiB, a
#: log line usually under 1 KiB). 256 MiB leaves a factor of five and more above that.
MAX_ANSWER = 256 * 1024 * 1024
#: The longest piece of a followed log line handed out at once, in bytes: a longer
#: line comes in pieces, so that a line without end takes no memory without end.
MAX_LINE = 1024 * 1024
#: The most pages one listing reads: a Conductor's pages hold up to 1,000 deployments
#: (10 pages for 10,000), so a listing this long is a server that never ends it.
MAX_PAGES = 10_000


def split_urls(url: str) -> tuple[str, ...]:
    """The Conductors a client may talk to: ``SYMPHONY_URL`` (or the ``url`` argument)
    may list several, comma-separated (a leader and its standbys); tried in turn."""
    urls = tuple(part.strip().rstrip("/") for part in url.split(",") if part.strip())
    if not urls:
        raise ValueError(f"no Conductor URL in {url!r}")
    return urls


def try_next(status: int, role: str | None) -> bool:
    """Whether an answer says "not here, nothing applied: try another Conductor" (a
    standby that reaches no leader answers 503, and so does a Conductor stopping)."""
    return status == 503 and role in ("standby", "stopping")


def batch_body(specs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The body of ``POST /deployments:batch``; a lone dict is refused here (it would be
    sent as a batch of its keys otherwise)."""
    if isinstance(specs, dict | str | bytes):
        raise TypeError("create_deployments takes a list of specs; one spec: create_deployment")
    return {"deployments": list(specs)}


def deployment_path(id_or_name: str, suffix: str = "") -> str:
    """``/deployments/<id or name>[/suffix]``, the id or name quoted (never a path)."""
    if not isinstance(id_or_name, str) or not id_or_name:
        raise ValueError(f"a deployment id or name is a non-empty string, got {id_or_name!r}")
    return f"/deployments/{quote(id_or_name, safe='')}" + (f"/{suffix}" if suffix else "")


def experiment_path(name: str, suffix: str = "") -> str:
    """``/experiments/<name>[/suffix]``, the name quoted (never a path)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"an experiment name is a non-empty string, got {name!r}")
    return f"/experiments/{quote(name, safe='')}" + (f"/{suffix}" if suffix else "")


def service_path(experiment: str, service: str, suffix: str) -> str:
    """``/experiments/{experiment}/services/{service}/{suffix}``, each name quoted."""
    return f"{experiment_path(experiment)}/services/{quote(service, safe='')}/{suffix}"


def secret_path(name: str) -> str:
    """``/secrets/<name>``, the name quoted (never a path)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a secret name is a non-empty string, got {name!r}")
    return f"/secrets/{quote(name, safe='')}"


def token_path(token_id: str) -> str:
    """``/tokens/<id>``, the id quoted (never a path). A whole token
    (``symjt1.<id>.<secret>``, what a user has at hand) is turned into its id first, as
    ``kubeadm token delete`` does: its secret goes into no URL and no access log.

    >>> token_path("symjt1.4f1c2a9e8b7d6c5a.c2VjcmV0")
    '/tokens/4f1c2a9e8b7d6c5a'
    """
    if not isinstance(token_id, str) or not token_id:
        raise ValueError("a join token id is a non-empty string")
    prefix, _, rest = token_id.strip().partition(".")
    if prefix == "symjt1" and rest:
        token_id = rest.partition(".")[0]
    return f"/tokens/{quote(token_id, safe='')}"


def token_body(
    ttl_seconds: float,
    reusable: bool,
    node_id: str | None,
    groups: Sequence[str] | None,
    capacities: Mapping[str, int] | None,
) -> dict[str, Any]:
    """The body of ``POST /tokens``: what a node joining with the token may claim (a
    binding left out binds nothing)."""
    if isinstance(groups, str):
        raise TypeError("groups is a list of group names, not one string")
    body: dict[str, Any] = {"ttl_seconds": ttl_seconds, "reusable": reusable}
    if node_id is not None:
        body["node_id"] = node_id
    if groups is not None:
        body["groups"] = list(dict.fromkeys(groups))
    if capacities is not None:
        body["capacities"] = dict(capacities)
    return body


def node_path(node_id: str, suffix: str) -> str:
    """``/nodes/<node id>/suffix``, the id quoted (never a path)."""
    if not isinstance(node_id, str) or not node_id:
        raise ValueError(f"a node id is a non-empty string, got {node_id!r}")
    return f"/nodes/{quote(node_id, safe='')}/{suffix}"


def with_query(path: str, **params: Any) -> str:
    """``path?k=v`` for the params that are not None (booleans as true/false)."""
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append((key, str(value)))
    return f"{path}?{urlencode(pairs)}" if pairs else path


#: Deployments per page when a client lists them: the Conductor's largest page (fewer
#: round trips; each page is answered from texts the Conductor keeps encoded).
PAGE_SIZE = 1000
#: The longest cursor a client sends back (a Conductor refuses one over 512).
MAX_CURSOR = 1024


def deployments_query(
    cursor: str | None,
    *,
    state: str | None = None,
    node_group: str | None = None,
    name: str | None = None,
    labels: Mapping[str, str | None] | None = None,
    view: str = "full",
) -> str:
    """``/deployments`` for one page of a listing; ``labels`` maps a key to the value it
    must have, or to None where any value will do; ``view`` is ``full``, ``summary``
    (each without its spec) or ``rows`` (the summaries as arrays of values)."""
    pairs: list[tuple[str, str]] = [("limit", str(PAGE_SIZE))]
    if view != "full":
        pairs.append(("view", view))
    pairs += [(k, v) for k, v in (("cursor", cursor), ("state", state)) if v is not None]
    pairs += [(k, v) for k, v in (("node_group", node_group), ("name", name)) if v is not None]
    for key, value in (labels or {}).items():
        pairs.append(("label", key if value is None else f"{key}={value}"))
    return f"/deployments?{urlencode(pairs)}"


def page_items(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The deployments of one page of a ``full`` or ``summary`` listing."""
    items = answer.get("deployments")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ApiError(200, "unexpected answer", "no list of objects under 'deployments'")
    return items


def next_cursor(answer: dict[str, Any]) -> str | None:
    """Where the next page of a listing starts (None: this was the last; also what a
    Conductor older than paging answers, with everything on one page)."""
    cursor = answer.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ApiError(200, "unexpected answer", "next_cursor is not a string")
    if cursor is not None and len(cursor) > MAX_CURSOR:  # a Conductor's are under 512
        raise ApiError(200, "unexpected answer", f"next_cursor is over {MAX_CURSOR} characters")
    return cursor


def too_large(status: int, limit: int) -> ApiError:
    """The error of an answer larger than the client reads."""
    return ApiError(status, "answer too large", f"more than {limit} bytes; not read further")


class Cursors:
    """The cursors one listing went through: each page must name a new one, and a
    listing ends within :data:`MAX_PAGES` pages and ``max_bytes`` bytes in all (a
    client's ``max_answer``: a listing is one answer in pages, and is kept whole). A
    server that answers the same cursor again (or cycles) would otherwise be asked for
    ever, and one that sends new cursors with full pages would fill the memory."""

    def __init__(self, limit: int | None = None, *, max_bytes: int = MAX_ANSWER) -> None:
        self.limit = MAX_PAGES if limit is None else limit
        self.max_bytes = max_bytes
        self.read = 0
        self.seen: set[str] = set()

    def page(self, status: int, reason: str, data: bytes) -> dict[str, Any]:
        """A page's answer decoded, once its bytes are counted against the listing's."""
        self.read += len(data)
        if self.read > self.max_bytes:
            raise ApiError(
                status, "answer too large", f"a listing of more than {self.max_bytes} bytes"
            )
        return decode(status, reason, data)

    def after(self, answer: dict[str, Any]) -> str | None:
        """The cursor of the page after ``answer`` (None: it was the last), or the
        :class:`ApiError` of a listing that goes round or does not end."""
        cursor = next_cursor(answer)
        if cursor is None:
            return None
        if cursor in self.seen:
            detail = f"next_cursor {cursor[:60]!r} came back: the listing goes round"
            raise ApiError(200, "unexpected answer", detail)
        if len(self.seen) + 1 >= self.limit:
            raise ApiError(200, "unexpected answer", f"a listing of more than {self.limit} pages")
        self.seen.add(cursor)
        return cursor


def rows_refused(error: ApiError) -> bool:
    """Whether ``error`` is a Conductor older than ``view=rows`` refusing it (then the
    summaries are asked for instead)."""
    return error.status == 400 and "view" in str(error.detail)


def logs_query(
    id_or_name: str,
    *,
    tail: int | None,
    instance: str | int | None,
    stream: str,
    follow: bool,
    since: str | datetime.datetime | datetime.timedelta | None = None,
    timestamps: bool = False,
) -> str:
    if stream not in ("stdout", "stderr"):
        raise ValueError(f"stream must be 'stdout' or 'stderr', got {stream!r}")
    return with_query(
        deployment_path(id_or_name, "logs"),
        tail=tail,
        instance=instance,
        stream=stream,
        follow=True if follow else None,
        since=since_text(since),
        timestamps=True if timestamps else None,
    )


def since_text(since: str | datetime.datetime | datetime.timedelta | None) -> str | None:
    """The ``since`` of a logs query: a duration (``"10m"``, a ``timedelta``) or a time
    (RFC 3339 text, an aware ``datetime``; a naive one is local time).

    >>> since_text(datetime.timedelta(minutes=10))
    '600000ms'
    """
    if since is None or isinstance(since, str):
        return since
    if isinstance(since, datetime.timedelta):
        return f"{max(0, round(since.total_seconds() * 1000))}ms"
    if isinstance(since, datetime.datetime):
        return since.astimezone().isoformat()
    raise TypeError(f"since is a str, datetime or timedelta, got {type(since).__name__}")


def headers(token: str | None, *, body: bool = False) -> dict[str, str]:
    out = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if token:
        out["Authorization"] = f"Bearer {token}"
    if body:
        out["Content-Type"] = "application/json"
    return out


def encode(body: Any) -> bytes:
    """A JSON request body."""
    return json.dumps(body).encode("utf-8")


def error_of(
    status: int, reason: str, body: bytes, *, url: str | None = None, tried: Sequence[str] = ()
) -> ApiError:
    """The :class:`ApiError` of an error answer (JSON ``{error, detail}`` or anything);
    ``url`` and ``tried``: which Conductor answered, after which others said what."""
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        data = None
    if isinstance(data, dict) and "error" in data:
        return ApiError(status, str(data["error"]), data.get("detail"), url=url, tried=tried)
    text = body.decode("utf-8", "replace").strip()[:500]
    return ApiError(status, reason.lower() or "error", text or None, url=url, tried=tried)


def passed_over(url: str, said: str) -> str:
    """One Conductor a client went past, and why: ``http://a:8000: connection refused``."""
    return f"{url}: {said}"


def decode(status: int, reason: str, body: bytes) -> dict[str, Any]:
    """The JSON object of a 2xx answer, or raise its :class:`ApiError`.

    Every route answers an object; anything else (a proxy's page, another server)
    is an :class:`ApiError` too, never a ``TypeError`` further on.
    """
    if status >= 400:
        raise error_of(status, reason, body)
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        raise ApiError(status, "not JSON", body[:200].decode("utf-8", "replace")) from None
    if not isinstance(data, dict):
        raise ApiError(status, "unexpected answer", f"a JSON {type(data).__name__}, not an object")
    return data


def decode_items(status: int, reason: str, body: bytes, key: str) -> list[dict[str, Any]]:
    """The list of objects under ``key`` of a 2xx answer (``{"nodes": [...]}``)."""
    items = decode(status, reason, body).get(key)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ApiError(status, "unexpected answer", f"no list of objects under {key!r}")
    return items
