"""What a node's hello must pass before the registry hears of it: its certificate may
speak for the node id it claims, and one of its protocol versions is one of ours.

Both are checked in :func:`~symphony.conductor.nodes.session.run_session`, before the
node is registered: a node refused here is never ready (nothing is placed on it, its
hello's instances are not applied).
"""

from __future__ import annotations

from collections.abc import Callable

from symphony.pki import SHARED_CLIENT_CN
from symphony.wire import Hello, VersionMismatch, negotiate_version

#: ``(certificate node id, hello) -> refusal reason or None``.
HelloCheck = Callable[[str, Hello], str | None]


def check_identity(cert_cn: str, hello: Hello) -> tuple[str | None, bool]:
    """Decide whether a certificate may speak for ``hello.node_id``.

    Returns ``(refusal reason or None, uses the shared certificate)``.
    """
    if cert_cn == SHARED_CLIENT_CN:
        return None, True
    if cert_cn != hello.node_id:
        return (
            f"certificate is for node {cert_cn!r} but the hello claims {hello.node_id!r}; "
            "a node certificate can only speak for its own node id",
            False,
        )
    return None, False


def version_refusal(hello: Hello) -> str | None:
    """Why no protocol version fits ``hello`` (None: one does)."""
    try:
        negotiate_version(hello.protocol_version, hello.min_protocol_version)
    except VersionMismatch as mismatch:
        return str(mismatch)
    return None
