"""What Conductors sharing one database must share, and the check that they do.

Several Conductors on one database (``conductor.store.url``) are one cluster: nodes and
clients move from one to another. They must therefore be given the same files: the CA
(``ca.pem`` and ``ca.key`` in ``conductor.tls.cert_path``), the API token
(``<state_dir>/api-token``) and the secrets key (``conductor.secrets_key_file``). The
database holds none of them, only their fingerprints (a one-way hash of a 256-bit
secret reveals nothing of it): the first Conductor to start records them, and every
later one compares what it was given and refuses to start on a difference, naming the
file, rather than failing at a failover when nodes refuse its certificate::

    check_shared_material(store, config, pki)   # raises SharedMaterialMismatch

To replace one of them on purpose, stop every Conductor, give each the new file, and
delete its row: ``DELETE FROM shared_material WHERE name = 'ca'``.
"""

from __future__ import annotations

import hashlib

from symphony.config import ConductorConfig
from symphony.errors import SymphonyError
from symphony.pki import ConductorPKI

from .api.auth import ensure_api_token
from .secrets import load_or_create_key
from .store import Store

__all__ = ["SharedMaterialMismatch", "check_shared_material", "shared_fingerprints"]


class SharedMaterialMismatch(SymphonyError):
    """This Conductor was given another CA, API token or secrets key than the
    Conductors that share its database."""


def _hashed(label: str, secret: bytes) -> str:
    return "sha256:" + hashlib.sha256(label.encode() + b"\0" + secret).hexdigest()


def shared_fingerprints(config: ConductorConfig, pki: ConductorPKI) -> dict[str, str]:
    """The fingerprint of each shared file this Conductor has (the API token only when
    the API takes one)."""
    assert config.secrets_key_file is not None  # filled in by ConductorConfig
    out = {
        "ca": pki.ca_fingerprint,
        "secrets-key": _hashed("secrets-key", load_or_create_key(config.secrets_key_file)),
    }
    if config.http_auth == "token":
        out["api-token"] = _hashed("api-token", ensure_api_token(config.state_dir).encode())
    return out


_WHERE = {
    "ca": "CA (ca.pem and ca.key in conductor.tls.cert_path)",
    "secrets-key": "secrets key (conductor.secrets_key_file)",
    "api-token": "API token (api-token in conductor.state_dir)",
}


def check_shared_material(store: Store, config: ConductorConfig, pki: ConductorPKI) -> None:
    """Record this Conductor's fingerprints, or compare them with those recorded; raise
    :class:`SharedMaterialMismatch` naming every file that differs."""
    wrong = [
        f"another {_WHERE[name]}"
        for name, mine in shared_fingerprints(config, pki).items()
        if store.pin_shared_material(name, mine) != mine
    ]
    if wrong:
        raise SharedMaterialMismatch(
            f"this Conductor was given {' and '.join(wrong)} than the Conductors "
            f"sharing its database ({store.location}); copy theirs here before starting it"
        )
