"""Checks for single configuration values: each returns the clean value or raises ``Invalid``.

They know nothing about files or key paths; the loader and the dataclasses attach the
path. Messages state the rule and show the offending value (``must be a non-negative
integer, got 'ten'``) except for secrets, which are never echoed.

These are deliberately light (no pydantic, no cryptography): the CLI uses them to check
flags, and ``symphony --help`` must not pay for heavy imports.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from pathlib import Path

from symphony.errors import SymphonyError

# The same rules as symphony.spec (capacity classes, node groups) and symphony.pki (node
# ids), repeated here because importing those modules costs ~100 ms of pydantic/crypto.
_CLASS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,62}")
_GROUP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_NODE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_RESERVED_NODE_IDS = {"node-client"}  # CN of the seed's shared node certificate
# Every pattern here is used with fullmatch (``$`` would also match before a final "\n").
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(\.[A-Za-z0-9_-]{1,63})*\.?"
)
_TOKEN_RE = re.compile(r"symjt1\.[^.\s]+\.[^.\s]+")
_HASH_RE = re.compile(r"[0-9a-f]{64}")
MAX_AMOUNT = 10**12  # as symphony.spec: a capacity beyond this is a typo
MAX_CLASSES = 64  # as symphony.spec: the most capacity classes a node offers
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
HTTP_AUTH_MODES = ("token", "none")
MODES = ("conductor", "node")


class Invalid(SymphonyError, ValueError):
    """A value broke a rule; the message says which (without a key path)."""


def show(value: object) -> str:
    """A short, safe rendering of a bad value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(
    value: object, *, what: str = "a non-negative integer", lo: int = 0, hi: int = MAX_AMOUNT
) -> int:
    """An int in ``[lo, hi]``; booleans are refused (YAML's ``yes`` is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise Invalid(f"must be {what}, got {show(value)}")
    return value


def port(value: object) -> int:
    """A TCP port, 0..65535 (0 asks the OS for a free port)."""
    return integer(value, what="a port number 0..65535", hi=65535)


#: Where a node allocates the ports an experiment's processes bind (``node.ports``).
DEFAULT_PORTS = "20000-29999"


def port_range(value: object) -> str:
    """``"LOW-HIGH"``, two ports 1..65535 with LOW <= HIGH, as ``"20000-29999"``."""
    low, sep, high = str(value).partition("-") if isinstance(value, str) else ("", "", "")
    if sep and low.strip().isdigit() and high.strip().isdigit():
        lo, hi = int(low), int(high)
        if 1 <= lo <= hi <= 65535:
            return f"{lo}-{hi}"
    raise Invalid(
        f"must be a port range LOW-HIGH within 1-65535, as {DEFAULT_PORTS!r}, got {show(value)}"
    )


def at_least_one(value: object) -> int:
    """An int of at least 1 (a count that must keep something)."""
    return integer(value, what="an integer >= 1", lo=1)


def seconds(value: object) -> float:
    """A positive, finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"must be a positive number of seconds, got {show(value)}")
    if not math.isfinite(value) or value <= 0:
        raise Invalid(f"must be a positive number of seconds, got {show(value)}")
    return float(value)


#: The bounds of ``conductor.relay.send_timeout`` (seconds): under a second a visitor's
#: ordinary pauses would cut it; past a day it bounds nothing worth bounding, and the
#: kernel's ``TCP_USER_TIMEOUT`` (milliseconds in an int) takes no more than ~24.8 days.
SEND_TIMEOUT_RANGE = (1.0, 86400.0)


def send_timeout(value: object) -> float:
    """Seconds within :data:`SEND_TIMEOUT_RANGE` (1 to 86400: a second to a day)."""
    lo, hi = SEND_TIMEOUT_RANGE
    what = f"a number of seconds from {lo:g} to {hi:g} (a day)"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"must be {what}, got {show(value)}")
    if not lo <= value <= hi:  # NaN fails this too
        raise Invalid(f"must be {what}, got {show(value)}")
    return float(value)


def seconds_or_zero(value: object) -> float:
    """A finite number of seconds >= 0 (0: a limit that is off)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"must be a number of seconds >= 0, got {show(value)}")
    if not math.isfinite(value) or value < 0:
        raise Invalid(f"must be a number of seconds >= 0, got {show(value)}")
    return float(value)


def boolean(value: object) -> bool:
    """``true`` or ``false``; strings such as ``"false"`` are refused, not guessed."""
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, got {show(value)}")
    return value


def text(value: object, *, what: str = "a non-empty string") -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"must be {what}, got {show(value)}")
    return value


def choice(value: object, options: tuple[str, ...]) -> str:
    """One of ``options``, compared case-insensitively, returned as spelled in ``options``."""
    if isinstance(value, str):
        for option in options:
            if value.strip().lower() == option.lower():
                return option
    listed = ", ".join(repr(o) for o in options)
    raise Invalid(f"must be one of {listed}, got {show(value)}")


def log_level(value: object) -> str:
    """A logging level name, any case (``warn`` means ``WARNING``); returned upper-case."""
    if isinstance(value, str) and value.strip().lower() == "warn":
        return "WARNING"
    return choice(value, LOG_LEVELS)


def host(value: object) -> str:
    """A host name or IP address (IPv6 without brackets): ``0.0.0.0``, ``::1``, ``gpu-box``."""
    raw = text(value, what="a host name or IP address")
    candidate = raw.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        pass
    if _HOSTNAME_RE.fullmatch(candidate):
        return candidate
    raise Invalid(f"must be a host name or IP address, got {show(raw)}")


def allowed_host(value: object) -> str:
    """An entry of ``conductor.http.allowed_hosts``: a host name or address, or ``"*"``
    (any host), returned lower-case."""
    if isinstance(value, str) and value.strip() == "*":
        return "*"
    return host(value).lower().rstrip(".")


def host_ports(value: object) -> tuple[tuple[str, int], ...]:
    """One ``"host:port"`` or a non-empty list of them -> ``((host, port), ...)``."""
    if isinstance(value, str):
        return (host_port(value),)
    if not isinstance(value, list | tuple) or not value:
        raise Invalid(f"must be 'host:port' or a list of them, got {show(value)}")
    return tuple(host_port(item) for item in value)


def host_port(value: object) -> tuple[str, int]:
    """``"host:port"`` -> ``(host, port)``; IPv6 needs brackets: ``"[::1]:8000"``."""
    if not isinstance(value, str):
        raise Invalid(f"must be 'host:port' (a string), got {show(value)}")
    raw = value.strip()
    if raw.startswith("["):
        inside, sep, rest = raw[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise Invalid(f"must be 'host:port', e.g. '[::1]:8000', got {show(value)}")
        host_part, port_part = inside, rest[1:]
    else:
        host_part, sep, port_part = raw.rpartition(":")
        if not sep or not host_part:
            raise Invalid(f"must be 'host:port', e.g. '127.0.0.1:8000', got {show(value)}")
        if ":" in host_part:
            raise Invalid(f"an IPv6 address needs brackets, e.g. '[::1]:8000', got {show(value)}")
    if not port_part.isdigit() or not port_part.isascii():
        raise Invalid(f"port must be a number 0..65535, got {show(value)}")
    try:
        clean_host = host(host_part)
    except Invalid:
        raise Invalid(f"must be 'host:port' with a valid host, got {show(value)}") from None
    try:
        return clean_host, port(int(port_part))
    except Invalid:
        raise Invalid(f"port must be a number 0..65535, got {show(value)}") from None


def format_host_port(host_name: str, port_number: int) -> str:
    """The inverse of :func:`host_port`: brackets around IPv6 addresses."""
    return f"[{host_name}]:{port_number}" if ":" in host_name else f"{host_name}:{port_number}"


def is_loopback(host_name: str) -> bool:
    """True for 127.0.0.0/8, ``::1`` and ``localhost`` (which RFC 6761 pins to loopback)."""
    if host_name.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host_name).is_loopback
    except ValueError:
        return False


def check_http_auth(http_host: str, auth: str) -> None:
    """``auth: none`` only where nobody else can connect: a loopback listen address."""
    if auth == "none" and not is_loopback(http_host):
        raise Invalid(
            f"'none' is allowed only when the HTTP API listens on a loopback address "
            f"(127.0.0.1, ::1, localhost), not {http_host!r}: anyone who can reach it "
            "could run commands on your nodes; keep 'token'"
        )


def node_id(value: object) -> str:
    """1-63 letters, digits, ``.``, ``_``, ``-``, starting with a letter or digit."""
    if not isinstance(value, str) or not _NODE_ID_RE.fullmatch(value):
        raise Invalid(
            "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or "
            f"digit, got {show(value)}"
        )
    if value in _RESERVED_NODE_IDS:
        raise Invalid(f"{value!r} is reserved for the shared seed certificate; pick another id")
    if ".." in value:
        # Node ids name directories and files; the wire refuses them too.
        raise Invalid(f"must not contain '..', got {show(value)}")
    return value


def group(value: object) -> str:
    """A node group name (the same rule as a spec's ``node_group``)."""
    if not isinstance(value, str) or not _GROUP_RE.fullmatch(value):
        raise Invalid(
            "must start with a letter or digit and use only letters, digits, '_', '.', '-' "
            f"(at most 63 characters), got {show(value)}"
        )
    return value


def capacity_name(value: object) -> str:
    """A capacity class name (the same rule as a spec's ``capacity_requests`` keys)."""
    if not isinstance(value, str) or not _CLASS_RE.fullmatch(value):
        raise Invalid(
            "a capacity class must start with a letter and use only letters, digits, "
            f"'_', '.', '-' (at most 63 characters), got {show(value)}"
        )
    return value


#: A declared GPU id: what ``CUDA_VISIBLE_DEVICES`` takes (an index, ``GPU-<uuid>``,
#: ``MIG-<uuid>``): no commas (they separate ids there), no spaces.
_GPU_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}")
#: The name of the capacity class that a node's GPU devices provide (``node.gpus``).
GPU_CLASS = "gpu"


def gpu_id(value: object) -> str:
    """One entry of ``node.gpus``: a device index (``0``) or id (``GPU-8f1c...``), as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(integer(value, what="a device index >= 0 or a device id", hi=1_000_000))
    if not isinstance(value, str) or not _GPU_ID_RE.fullmatch(value):
        raise Invalid(
            "must be a device index (0, 1, ...) or a device id such as 'GPU-8f1c...' "
            f"(letters, digits, '_.:/-', no commas or spaces), got {show(value)}"
        )
    if value.lower() in _GPU_WORDS:
        raise Invalid(
            f"{value!r} is not a device: to a container's GPU hook it means every device "
            "(or none); list the devices one by one, or leave node.gpus out to find them"
        )
    return value


#: What ``NVIDIA_VISIBLE_DEVICES`` reads as every device or none, not as one device.
_GPU_WORDS = frozenset({"all", "none", "void"})


def gpu_ids(value: object) -> tuple[str, ...]:
    """``node.gpus``: a list of distinct device ids (``[0, 1]`` or ``["GPU-..", ..]``)."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise Invalid(f"must be a list of device indexes or ids, e.g. [0, 1], got {show(value)}")
    ids = tuple(gpu_id(item) for item in value)
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise Invalid(f"lists device {item!r} twice: each device may be listed once")
        seen.add(item)
    return ids


def ca_hash(value: object) -> str:
    """``sha256:<64 hex>`` (colons between bytes allowed), returned lower-case, no colons."""
    if isinstance(value, str):
        digest = value.strip().lower().removeprefix("sha256:").replace(":", "")
        if value.strip().lower().startswith("sha256:") and _HASH_RE.fullmatch(digest):
            return "sha256:" + digest
    raise Invalid(
        "must be 'sha256:' followed by 64 hex digits (as printed by the conductor), "
        f"got {show(value)}"
    )


def join_token(value: object) -> str:
    """A join token's shape, ``symjt1.<id>.<secret>``; the value is never echoed."""
    if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value.strip()):
        kind = "a string" if isinstance(value, str) else show(value)
        raise Invalid(f"must be a join token 'symjt1.<id>.<secret>' (got {kind} of another shape)")
    return value.strip()


def path(value: object) -> Path:
    """A file or directory path; ``~`` is expanded and a relative path is made absolute
    against the current directory (as the seed did), so a later ``chdir`` changes nothing."""
    raw = str(value) if isinstance(value, Path) else text(value, what="a path")
    if "\0" in raw:
        raise Invalid("must not contain NUL characters")
    return Path(os.path.abspath(os.path.expanduser(raw)))


#: The schemes of ``conductor.store.url`` (the store itself reads the rest).
STORE_SCHEMES = ("sqlite", "postgresql", "postgres")
_URL_PASSWORD = re.compile(r"(://[^/:@]*:)[^@/]*@")


def store_url(value: object) -> str:
    """Where the Conductor keeps its state: ``sqlite:///PATH`` or ``postgresql://...``
    (an error message never repeats a password the URL holds)."""
    url = text(value, what="a database URL")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in STORE_SCHEMES:
        shown = _URL_PASSWORD.sub(r"\1***@", url)
        raise Invalid(
            f"must be sqlite:///PATH or postgresql://[user@]host[:port]/database, got {shown!r}"
        )
    if scheme.lower() == "sqlite" and not rest.startswith("/"):
        raise Invalid(f"a SQLite URL is sqlite:///PATH (relative to state_dir), got {url!r}")
    return url


def is_server_store(url: str | None) -> bool:
    """Whether ``url`` (a checked ``conductor.store.url``) names a database server,
    which several Conductors may share (PostgreSQL), rather than a SQLite file."""
    return url is not None and url.partition("://")[0].lower() in ("postgresql", "postgres")


def base_url(value: object) -> str:
    """A bare origin, ``http(s)://HOST[:PORT]``, as ``https://apps.example.com``
    (``conductor.relay.url``: services are under its ``/x/``, and the API port refuses
    requests from its host name); a trailing ``/`` is dropped. A path, user, query or
    fragment is refused: the origin would not be what browsers send."""
    from urllib.parse import urlsplit

    url = text(value, what="a URL such as https://apps.example.com")
    shape = f"must be scheme://host[:port] with scheme http or https and no path, got {url!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # a bad port raises here
    except ValueError:
        raise Invalid(shape) from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "?" in url
        or "#" in url
    ):
        raise Invalid(shape)
    return url.rstrip("/")
