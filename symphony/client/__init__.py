"""Python client of the Conductor's HTTP API.

    from symphony.client import Client

    client = Client()        # finds the local Conductor and its token
    client.create_deployment({"name": "hello", "config": {"command": ["echo", "hi"]}})
    print(client.logs("hello"))

:class:`Client` blocks (standard library only: cheap to import); :class:`AsyncClient`
has the same methods as coroutines (Trio or asyncio, on httpx). Errors::

    ClientError
    ├── ApiError               .status .error .detail
    └── ConductorUnreachable   also a ConnectionError
"""

from ._async import AsyncClient
from ._discovery import Located, find_conductor, find_token, locate
from ._errors import ApiError, ClientError, ConductorUnreachable
from ._rows import DeploymentRows
from ._sync import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "Client",
    "ClientError",
    "ConductorUnreachable",
    "DeploymentRows",
    "Located",
    "find_conductor",
    "find_token",
    "locate",
]
