"""Node ids as certificates carry them: what may be one, and the one name reserved.

Kept apart from :mod:`.certs` (which needs ``cryptography``) so that a Conductor can
check names without loading that library.
"""

from __future__ import annotations

import re

from symphony.wire.errors import CertificateError

__all__ = ["SHARED_CLIENT_CN", "validate_node_id"]

#: CN of the shared node client certificate kept for seed compatibility.
SHARED_CLIENT_CN = "node-client"
# Node ids travel in certificates, file names, URLs and logs: keep them boring.
_NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def validate_node_id(node_id: str) -> str:
    """Return ``node_id`` if it is a valid node id, else raise :class:`CertificateError`."""
    if not isinstance(node_id, str) or not _NODE_ID.fullmatch(node_id):
        raise CertificateError(
            f"invalid node id {node_id!r:.80}: use 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if node_id == SHARED_CLIENT_CN:
        raise CertificateError(f"node id {SHARED_CLIENT_CN!r} is reserved for the shared cert")
    if ".." in node_id:  # as the config and the wire: ids name files and directories
        raise CertificateError(f"invalid node id {node_id!r:.80}: must not contain '..'")
    return node_id
