"""``symphony port-forward SERVICE [EXP] [LOCAL_PORT]``: a local port that reaches a service.

::

    $ symphony port-forward replay-server 9000
    Forwarding from 127.0.0.1:9000 -> replay-server of rl
    $ symphony pf replay-server rl 9000          # the experiment as `vi` takes it (or -e rl)

Every connection to the local port becomes one WebSocket to the Conductor
(``GET /experiments/{experiment}/services/{service}/forward``), which relays it to the
node whose process exposes or binds the name, as ``kubectl port-forward`` does over its
own streams. Nothing on the node listens to the outside: the node opens the stream to
the Conductor. Runs until interrupted; ``LOCAL_PORT`` 0 (the default) picks a free one.
A name no process of the experiment binds or exposes is an error at once (exit 1).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import secrets
import sys
from typing import Any
from urllib.parse import quote, urlsplit

from ._errors import CLIError
from ._experiment_lookup import (
    add_experiment_flag,
    cluster_of,
    current_or_only,
    experiment,
    experiment_names,
    given_experiment,
)
from ._intermixed import intermixed
from ._remote import add_conductor_flag


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    forward = subparsers.add_parser(
        "port-forward",
        aliases=["pf"],
        help="reach a service of an experiment on a local port",
        description="Open LOCAL_PORT on this machine; each connection to it reaches SERVICE "
        "(a name a process exposes or binds) through the Conductor.",
    )
    forward.add_argument("service", metavar="SERVICE", help="the exposed (or bound) name")
    # EXP and LOCAL_PORT in either order, told apart by the port being a number: the
    # old form `pf SERVICE LOCAL_PORT -e EXP` works on, and `pf SERVICE EXP` as `vi` has it.
    forward.add_argument(
        "first", metavar="EXP", nargs="?",
        help="the experiment (default: the current one; or -e EXP); a number here is LOCAL_PORT",
    )  # fmt: skip
    forward.add_argument(
        "second", metavar="LOCAL_PORT", nargs="?",
        help="the local port (default: a free one, printed)",
    )  # fmt: skip
    add_experiment_flag(forward)
    forward.add_argument(
        "--address", default="127.0.0.1", help="the local address to listen on (127.0.0.1)"
    )
    add_conductor_flag(forward)
    intermixed(forward)  # options between the positionals
    forward.set_defaults(handler=run_port_forward)


def forward_url(api_url: str, experiment: str, service: str, session: str) -> str:
    """The WebSocket URL of one forwarded connection.

    >>> forward_url("https://c.example:8443", "rl", "tb", "s1")
    'wss://c.example:8443/experiments/rl/services/tb/forward?session=s1'
    """
    parts = urlsplit(api_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = f"{parts.path.rstrip('/')}/experiments/{quote(experiment, safe='')}/services/"
    return f"{scheme}://{parts.netloc}{path}{quote(service, safe='')}/forward?session={session}"


def forward_target(args: argparse.Namespace) -> tuple[str | None, int]:
    """``(experiment or None, local port)`` of the words after SERVICE (a number is the
    port); what cannot be meant is a usage error."""
    words = [w for w in (args.first, args.second) if w is not None]
    for word in words:
        if re.fullmatch(r"[0-9]{6,}", word):  # and no int() of 5,000 digits
            args.parser.error(f"local port {word[:12]}... is not a port number (0-65535)")
    ports = [w for w in words if is_port_word(w)]
    names = [w for w in words if not is_port_word(w)]
    if len(ports) > 1:
        args.parser.error(f"two local ports: {' and '.join(ports)} (give one)")
    if len(names) > 1:
        args.parser.error(f"two experiments: {' and '.join(names)} (LOCAL_PORT is a number)")
    port = int(ports[0]) if ports else 0
    if port > 65535:
        args.parser.error(f"local port {port} is not a port number (0-65535)")
    return given_experiment(args, names[0] if names else None), port


def is_port_word(word: str) -> bool:
    """A local port's word: 1-5 ASCII digits (``str.isdigit`` takes ``²`` too).

    >>> [is_port_word(w) for w in ("9000", "²", "rl", "123456")]
    [True, False, False, False]
    """
    return re.fullmatch(r"[0-9]{1,5}", word) is not None


def check_not_an_experiment(args: argparse.Namespace, cluster: Any) -> None:
    """A lone number after SERVICE is LOCAL_PORT; when an experiment has that name too,
    a usage error asks for ``-e`` rather than pass it over without a word."""
    words = [w for w in (args.first, args.second) if w is not None]
    if len(words) != 1 or not is_port_word(words[0]) or args.experiment_flag is not None:
        return
    if words[0] in experiment_names(cluster):
        number = words[0]
        args.parser.error(
            f"{number} is an experiment's name as well as a port number, and a number here "
            f"is LOCAL_PORT: say `-e {number}` for the experiment (`-e {number} PORT` for both)"
        )


def run_port_forward(args: argparse.Namespace) -> int:
    import trio

    wanted, local_port = forward_target(args)
    cluster = cluster_of(args)
    check_not_an_experiment(args, cluster)
    name = current_or_only(cluster, wanted)
    served = served_names(experiment(cluster, name))
    if args.service not in served:  # said now, not at each connection the port takes
        has = f" (it has {', '.join(served)})" if served else ""
        raise CLIError(f"no process of experiment {name} exposes or binds {args.service!r}{has}")
    client = cluster.client
    session = secrets.token_hex(6)
    # Every Conductor listed, the one that answered last first: a standby does not
    # forward WebSockets (it refuses them with a 503), so each connection goes on to
    # the next, as every command does with HTTP.
    first = client.urls.index(client.url)
    ordered = client.urls[first:] + client.urls[:first]
    urls = [forward_url(url, name, args.service, session) for url in ordered]
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it ends
        trio.run(_serve, urls, client.token, args.address, local_port, name, args.service)
    return 0


def served_names(found: dict[str, Any]) -> list[str]:
    """The names the processes of experiment ``found`` (the API's view) bind or expose.

    >>> served_names({"processes": [{"binds": {"db": None}, "exposes": {"tb": 6006}}]})
    ['db', 'tb']
    """
    names = set()
    for process in found.get("processes") or []:
        names |= {*(process.get("binds") or {}), *(process.get("exposes") or {})}
    return sorted(names)


async def _serve(
    urls: list[str], token: str | None, address: str, port: int, experiment: str, service: str
) -> None:
    import trio

    listeners = await trio.open_tcp_listeners(port, host=address)
    bound = listeners[0].socket.getsockname()[1]
    print(f"Forwarding from {address}:{bound} -> {service} of {experiment}", flush=True)
    headers = [(b"Authorization", f"Bearer {token}".encode())] if token else []

    async def handle(stream: Any) -> None:
        await forward_connection(stream, urls, headers)

    await trio.serve_listeners(handle, listeners)


async def forward_connection(
    stream: Any, urls: str | list[str], headers: list[tuple[bytes, bytes]]
) -> None:
    """Carry one local connection (``stream``) over one WebSocket to the first of
    ``urls`` that takes it (a standby's or a stopping Conductor's 503, or one that
    cannot be reached, passes it on to the next; the one that took it goes first next
    time)."""
    import trio

    order = [urls] if isinstance(urls, str) else urls
    try:
        async with contextlib.AsyncExitStack() as stack:
            ws = await _connect(stack, order, headers)
            if ws is None:
                return
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_up, stream, ws, nursery.cancel_scope)
                nursery.start_soon(_down, stream, ws, nursery.cancel_scope)
    except OSError as error:  # the Conductor's end went away mid-stream
        print(f"symphony: cannot reach the Conductor: {error}", file=sys.stderr)
    finally:
        await trio.aclose_forcefully(stream)


async def _connect(
    stack: contextlib.AsyncExitStack, urls: list[str], headers: list[tuple[bytes, bytes]]
) -> Any:
    """The WebSocket of the first URL that takes it (moved to the front of ``urls``), or
    None once each refused or failed (the last reason printed)."""
    import trio_websocket

    from ._websocket import open_websocket

    for number, url in enumerate(list(urls), 1):
        last = number == len(urls)
        try:
            ws = await stack.enter_async_context(
                open_websocket(url, extra_headers=headers, message_queue_size=4)
            )
        except trio_websocket.ConnectionRejected as rejected:
            roles = {k.decode().lower(): v.decode() for k, v in rejected.headers or []}
            if not last and rejected.status_code == 503 and roles.get(ROLE) in _NOT_HERE:
                continue
            body = (rejected.body or b"").decode("utf-8", "replace")
            print(f"symphony: connection refused ({rejected.status_code}): {body}", file=sys.stderr)
            return None
        except (trio_websocket.HandshakeError, OSError) as error:
            if not last:
                continue
            print(f"symphony: cannot reach the Conductor: {error}", file=sys.stderr)
            return None
        if url is not urls[0]:
            urls.remove(url)
            urls.insert(0, url)
        return ws
    return None


#: A Conductor that answers 503 with one of these roles applied nothing: try the next.
ROLE = "x-symphony-role"
_NOT_HERE = frozenset({"standby", "stopping"})


async def _up(stream: Any, ws: Any, scope: Any) -> None:
    import trio

    try:
        while data := await stream.receive_some(256 * 1024):
            await ws.send_message(bytes(data))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    scope.cancel()


async def _down(stream: Any, ws: Any, scope: Any) -> None:
    import trio
    import trio_websocket

    try:
        while True:
            message = await ws.get_message()
            await stream.send_all(message if isinstance(message, bytes) else b"")
    except (trio_websocket.ConnectionClosed, trio.BrokenResourceError):
        pass
    scope.cancel()
