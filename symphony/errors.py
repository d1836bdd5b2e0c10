"""The root of every exception Symphony raises on purpose, and the whole tree.

Two roots exist, no more: :class:`symphony.actors.ActorError` for the embeddable actor
runtime (which imports nothing else of Symphony, so it cannot derive from this one),
and :class:`SymphonyError` for everything else. A program that embeds a Conductor, a
Node or the client can catch ``SymphonyError`` for "Symphony refused" and let every
other exception mean "a bug". Where a standard exception also fits, the class derives
from it too (``ConfigError`` is a ``ValueError``, ``ConductorUnreachable`` a
``ConnectionError``), so older ``except ValueError`` code keeps working::

    SymphonyError                      (symphony.errors)
    ├── ConfigError                    a configuration file or object was refused (ValueError)
    ├── Invalid                        one config value broke a rule; becomes a ConfigError
    ├── SpecError                      a deployment spec was refused; .errors (ValueError)
    ├── StateDirInUse                  another service holds the state directory (OSError)
    ├── NotOurDirectory                a directory that may be someone else's was not made
    │                                  private, nor used (PermissionError)
    ├── LinkError                      the node <-> conductor link and its credentials
    │   ├── PKIError
    │   │   ├── CertificateError       bad CSR / certificate / node id, half a key pair
    │   │   ├── CAFingerprintMismatch  a CA does not match the pinned sha256 fingerprint
    │   │   └── JoinTokenError         a join token cannot be used
    │   │       ├── JoinTokenInvalid   malformed, unknown or wrong secret
    │   │       ├── JoinTokenExpired   past its expiry
    │   │       ├── JoinTokenUsed      single-use token already consumed
    │   │       └── JoinNotAllowed     a claim the token does not allow (id, group, capacity)
    │   │           └── NodeIdEnrolled an id enrolled already, by a token that does not name it
    │   ├── ProtocolError              a frame that does not decode or validate
    │   │   ├── FrameTooLarge
    │   │   ├── FrameError             a WebSocket frame that breaks the framing (.code)
    │   │   ├── DeltaRefused           a heartbeat's usage that cannot be kept
    │   │   └── VersionMismatch
    │   ├── EncodeError                a message cannot be encoded (ValueError)
    │   └── TransportError             ConnectFailed, ConnectTimeout, TLSRejected,
    │                                  ServerUntrusted, HelloRefused, ConnectionClosed,
    │                                  RelayRefused (a relayed stream was refused),
    │                                  PeerLeft, UpgradeRefused (a node's upgrade, worded
    │                                  again by the link)
    ├── StoreError                     the Conductor's store
    │   ├── SchemaTooNew, NotFound, GenerationConflict, CorruptRecord, RollConflict
    │   ├── ConstraintViolation, StoreUnavailable   (a database's refusal; no server)
    │   ├── Fenced                     a deposed leader's write, refused
    │   └── AlreadyExists
    │       └── NameConflict
    │           └── ExperimentNameConflict
    ├── LedgerError                    a capacity reservation broke a rule
    │   └── UnknownNode, AlreadyReserved, OverCapacity
    ├── HttpError                      a route's refusal: the HTTP API answers .status
    ├── LifespanFailure                the API app's startup failed: its server does not start
    ├── BatchRefused                   items of a batch create refused, by index; none created
    ├── BadCursor                      a list cursor this Conductor did not give (ValueError)
    ├── DuplicateKey                   a JSON object gives a key twice (ValueError)
    ├── PortTaken                      a fixed port of an experiment is taken on that node
    ├── RelayError                     a visit, forward or tunnel cannot reach its service;
    │                                  .status says how the API answers
    ├── SecretKeyError                 the secrets key file is unreadable, or not the key
    │                                  a secret was sealed with (ValueError)
    ├── UnknownSecret                  a spec references a secret that does not exist
    │                                  (LookupError)
    ├── SharedMaterialMismatch         a Conductor was given another CA, API token or secrets
    │                                  key than the others on its database
    ├── SharedStoreConflict            another Conductor runs on this store, and one of the
    │                                  two has no lease_seconds
    ├── NodeCredentialsError           the node has no usable TLS credentials
    ├── MonitorError                   the node's process monitor refused a request
    │   └── MonitorLost                ... or is gone
    ├── SpawnError                     a job could not be started
    ├── SourceError                    a job's code could not be put in place on the node
    ├── ArchiveError, FetchError       ... because its archive is unsafe or corrupt, or
    │   UploadReadError                could not be fetched or read from the Conductor
    ├── GitError                       a git command for a spec's config.git failed
    ├── GitRefError                    config.git.ref does not resolve (ValueError)
    ├── UploadTooLarge                 an upload over the Conductor's cap (ValueError)
    ├── ContainerError                 the container runtime's command failed
    ├── InstanceExists                 that instance id runs on this node already (ValueError)
    ├── UnknownInstance                no such instance on this node (LookupError)
    ├── NotEnoughDevices               fewer free GPU devices than a start asks (ValueError)
    ├── NodeStopError                  `symphony node stop` could not stop the node
    │   └── NothingToStop              no agent, monitor or job runs in the state directory
    ├── ClientError                    what symphony.client raises
    │   ├── ApiError                   the Conductor answered with an error status
    │   └── ConductorUnreachable       no answer at all (ConnectionError)
    ├── EngineError                    symphony.engine: no such cluster kind, no start
    │   └── ExperimentExists           a launch would overwrite an experiment (FileExistsError)
    └── CLIError                       a command failed in a way the user can fix

The actor runtime's own tree is drawn in :mod:`symphony.actors`' errors module.

Every message is written for the person who will read it, as a sentence without the
class name: ``str(error)`` is what ``symphony`` prints after ``symphony: error:``. A
class may set :attr:`SymphonyError.hint`, one clause that says what to do next; it is
appended to the message when the error is raised without a hint of its own.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported: the node monitor imports this module
if TYPE_CHECKING:
    from typing import Self

__all__ = ["SymphonyError"]


class SymphonyError(Exception):
    """Base class of every error Symphony raises on purpose (outside the actor runtime).

    ``str()`` is a plain sentence for a person: the message given when raised or, when
    raised without one, the first line of the class docstring.
    """

    #: What the reader can do about it, appended to the message by :meth:`with_hint`.
    hint: str = ""

    def __str__(self) -> str:
        text = super().__str__()
        if text:
            return text
        doc = (type(self).__doc__ or type(self).__name__).strip().splitlines()[0]
        return doc[:1].lower() + doc[1:].rstrip(".")

    @classmethod
    def with_hint(cls, message: str) -> Self:
        """``cls(message)`` with the class's :attr:`hint` appended: ``"...; do this"``."""
        return cls(f"{message}; {cls.hint}" if cls.hint else message)
