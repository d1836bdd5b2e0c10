"""Symphony's private PKI: CA, server and per-node certificates, join tokens, TLS contexts.

The conductor owns a small CA. On first start :func:`ensure_conductor_pki`
creates it with a server certificate (and a shared node client certificate for
older setups) and reuses those files forever after. Each node proves its
identity with a client certificate whose Common Name is its node id; a new node
obtains one by presenting a join token (:mod:`symphony.pki.tokens`) and a CSR
(:func:`make_node_key_and_csr`), which the conductor signs with
:func:`issue_node_certificate`. Errors come from the tree in
:mod:`symphony.wire.errors`.

Typical conductor start::

    pki = ensure_conductor_pki(Path("storage/certs"), hosts=["10.0.0.5"])
    ctx = server_ssl_context(pki)          # for symphony.wire.serve_nodes
    print("nodes pin", pki.ca_fingerprint)
"""

from typing import TYPE_CHECKING, Any

from symphony import lazy as _lazy
from symphony.wire.errors import (
    CAFingerprintMismatch,
    CertificateError,
    JoinTokenError,
    JoinTokenExpired,
    JoinTokenInvalid,
    JoinTokenUsed,
    PKIError,
)
from symphony.wire.identity import peer_node_id

from .contexts import (
    client_ssl_context,
    pinned_ca_ssl_context,
    server_ssl_context,
    server_ssl_context_from_files,
)
from .names import SHARED_CLIENT_CN, validate_node_id
from .private import ensure_private_dir, restrict_file, write_private_file
from .tokens import (
    JoinToken,
    consume_join_token,
    new_join_token,
    parse_join_token,
    verify_join_token,
)

__all__ = [
    "DEFAULT_HOSTS",
    "SHARED_CLIENT_CN",
    "CAFingerprintMismatch",
    "CertificateAuthority",
    "CertificateError",
    "ConductorPKI",
    "JoinToken",
    "JoinTokenError",
    "JoinTokenExpired",
    "JoinTokenInvalid",
    "JoinTokenUsed",
    "PKIError",
    "ca_fingerprint",
    "check_ca_fingerprint",
    "client_ssl_context",
    "consume_join_token",
    "create_ca",
    "ensure_conductor_pki",
    "ensure_private_dir",
    "issue_node_certificate",
    "make_node_key_and_csr",
    "new_join_token",
    "parse_join_token",
    "peer_node_id",
    "pinned_ca_ssl_context",
    "restrict_file",
    "server_ssl_context",
    "server_ssl_context_from_files",
    "validate_node_id",
    "verify_join_token",
    "write_private_file",
]


# What needs ``cryptography`` (building and reading certificates) is imported on first
# use: a node agent uses only the TLS contexts and private-directory helpers above, and
# ``cryptography`` costs it several MiB of resident memory that it would keep for good.
# A missing ``cryptography`` still fails as an ImportError, at the first such name.
_LAZY = {
    "CertificateAuthority": "authority",
    "ca_fingerprint": "certs",
    "check_ca_fingerprint": "certs",
    "create_ca": "certs",
    "issue_node_certificate": "certs",
    "make_node_key_and_csr": "certs",
    "DEFAULT_HOSTS": "files",
    "ConductorPKI": "files",
    "ensure_conductor_pki": "files",
}

if TYPE_CHECKING:
    from .authority import CertificateAuthority
    from .certs import (
        ca_fingerprint,
        check_ca_fingerprint,
        create_ca,
        issue_node_certificate,
        make_node_key_and_csr,
    )
    from .files import DEFAULT_HOSTS, ConductorPKI, ensure_conductor_pki


def __getattr__(name: str) -> Any:
    return _lazy.attribute(__name__, _LAZY, globals(), name)
