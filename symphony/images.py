"""Container image references: the grammar ``docker pull`` reads, shared by the spec
(which refuses a bad one with a hint) and the wire (which checks the job spec it decodes).

``[domain[:port]/]path[:tag][@digest]``, e.g. ``busybox``, ``localhost/app:1``,
``docker.io/library/python:3.12-slim``, ``ghcr.io/o/r@sha256:<64 hex digits>``.
Use :data:`IMAGE_RE` with ``fullmatch`` (``$`` would also accept a final newline). A
reference never starts with ``-``, so it cannot be read as an option by the runtime.

>>> bool(IMAGE_RE.fullmatch("localhost:5000/team/app:v1.2"))
True
>>> bool(IMAGE_RE.fullmatch("--privileged"))
False
"""

from __future__ import annotations

import re

__all__ = ["IMAGE_RE", "MAX_IMAGE_LENGTH"]

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_RE = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?")
#: The longest reference accepted (a registry's limit on a repository name is 255).
MAX_IMAGE_LENGTH = 512
