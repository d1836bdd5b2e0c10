"""The Conductor's secrets: sealed at rest, opened only to start an instance.

A secret is a name and a value (an API key, a token). The value is sealed with AES-GCM
(256-bit key, a fresh 96-bit nonce per write, the name as associated data so that a
sealed value cannot be moved to another name) before it reaches the database; the key
lives in its own file (``conductor.secrets_key_file``, by default
``<state_dir>/secrets.key``, created 0600 on the first start). Give several Conductors
that share a database the same key file.

The value leaves the Conductor only inside the start message of an instance whose
spec references the secret (``env: {TOKEN: {secret: "name"}}``); the API lists names
and dates, never a value.

    vault = SecretVault.open(store, state_dir / "secrets.key")
    vault.set("hf-token", "hf_abc...")        # -> (SecretRecord, created)
    vault.resolve({"HF_TOKEN": "hf-token"})   # -> {"HF_TOKEN": "hf_abc..."}

Errors::

    SymphonyError
    ├── SecretKeyError   (also ValueError)  the key file is unreadable or not a key
    └── UnknownSecret    (also LookupError) a referenced secret does not exist
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from symphony.errors import SymphonyError
from symphony.pki import CertificateError, restrict_file, write_private_file

from .store import SecretRecord, Store

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from symphony.spec import DeploymentSpec

# ``cryptography`` (about 8 MiB that a process keeps once loaded) is imported when a
# secret is first sealed or opened, not when the Conductor starts.

__all__ = ["KEY_FILE_NAME", "SecretKeyError", "SecretVault", "UnknownSecret", "load_or_create_key"]

#: The key file's name in the state directory when the configuration names none.
KEY_FILE_NAME = "secrets.key"
_VERSION = b"\x01"  # the first byte of a sealed value: how it was sealed
_NONCE = 12


class SecretKeyError(SymphonyError, ValueError):
    """The secrets key file cannot be read or does not hold a key."""


class UnknownSecret(SymphonyError, LookupError):
    """A spec references a secret that does not exist (``.names`` lists them)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        listed = ", ".join(repr(n) for n in self.names)
        super().__init__(
            f"unknown secret {listed}: create it first with `symphony secret set NAME`"
            if len(self.names) == 1
            else f"unknown secrets {listed}: create them first with `symphony secret set NAME`"
        )


def load_or_create_key(path: Path) -> bytes:
    """The 32-byte key in ``path`` (base64 text), created 0600 if the file is missing
    (an existing file is tightened to 0600)."""
    if not path.exists():
        key = os.urandom(32)  # what AESGCM.generate_key(bit_length=256) returns
        try:
            write_private_file(path, base64.b64encode(key) + b"\n")
            return key
        except CertificateError:
            pass  # another Conductor sharing the directory wrote it meanwhile: read it
    restrict_file(path)  # a key copied in by hand with 0644 is tightened, as certificates are
    try:
        text = path.read_bytes().strip()
    except OSError as error:
        raise SecretKeyError(f"cannot read the secrets key file {path}: {error}") from None
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise SecretKeyError(
            f"{path} does not hold a secrets key (44 characters of base64, 32 bytes); "
            "restore the file the secrets were sealed with"
        )
    return key


class SecretVault:
    """Seals, stores, lists, resolves and deletes secrets (see the module docstring)."""

    def __init__(self, store: Store, key: bytes) -> None:
        self.store = store
        self._key = key
        self._cipher: AESGCM | None = None

    @property
    def _aead(self) -> AESGCM:
        if self._cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._cipher = AESGCM(self._key)
        return self._cipher

    @classmethod
    def open(cls, store: Store, key_file: Path) -> SecretVault:
        """A vault over ``store`` with the key in ``key_file`` (created if missing)."""
        return cls(store, load_or_create_key(key_file))

    def __repr__(self) -> str:
        return f"<SecretVault over {self.store.location}>"

    def set(self, name: str, value: str) -> tuple[SecretRecord, bool]:
        """Seal and store ``value`` under ``name``; returns the record and whether it is
        new. Instances already running keep the value they were started with."""
        nonce = os.urandom(_NONCE)
        sealed = _VERSION + nonce + self._aead.encrypt(nonce, value.encode(), name.encode())
        return self.store.put_secret(name, sealed)

    def records(self) -> list[SecretRecord]:
        """Every secret's name and dates, by name."""
        return self.store.list_secrets()

    def delete(self, name: str) -> bool:
        """Delete ``name``; False if there was no such secret."""
        return self.store.delete_secret(name)

    def missing(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` that are not stored (sorted)."""
        return sorted({n for n in names if self.store.get_secret_record(n) is None})

    def check_spec(self, spec: DeploymentSpec) -> None:
        """Raise :class:`~symphony.spec.SpecError` (a 422 at submit) naming each
        variable whose secret does not exist."""
        from symphony.spec import SpecError, secret_refs

        refs = secret_refs(spec)
        missing = set(self.missing(refs.values()))
        if missing:
            raise SpecError(
                [
                    {
                        "path": f"config.env.{variable}.secret",
                        "message": f"unknown secret {name!r}: create it first with "
                        "`symphony secret set NAME` (or POST /secrets)",
                    }
                    for variable, name in sorted(refs.items())
                    if name in missing
                ]
            )

    def resolve(self, refs: Mapping[str, str]) -> dict[str, str]:
        """``{variable: secret name}`` -> ``{variable: value}``; raises
        :class:`UnknownSecret` naming every missing secret."""
        values: dict[str, str] = {}
        missing: list[str] = []
        for variable, name in refs.items():
            sealed = self.store.get_sealed_secret(name)
            if sealed is None:
                missing.append(name)
            else:
                values[variable] = self._open(name, sealed)
        if missing:
            raise UnknownSecret(missing)
        return values

    def _open(self, name: str, sealed: bytes) -> str:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE:
            raise SecretKeyError(f"secret {name!r} is sealed in a way this Conductor cannot read")
        from cryptography.exceptions import InvalidTag

        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, name.encode()).decode()
        except InvalidTag:
            raise SecretKeyError(
                f"secret {name!r} cannot be opened with this key file: was it sealed with "
                "another conductor.secrets_key_file?"
            ) from None
