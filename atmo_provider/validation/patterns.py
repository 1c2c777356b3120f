"""The shapes an identifier, an owner name and an email address may take, in one place.

The launch Params' JSON schema, the launch check, the job spec parser and the operators all
use these, so a rule changes everywhere at once. Match with ``fullmatch``: ``$`` alone lets a
trailing newline through.
"""

from __future__ import annotations

import re

__all__ = [
    "EMAIL_PATTERN",
    "EMAIL_RE",
    "IDENTIFIER_PATTERN",
    "IDENTIFIER_RE",
    "OWNER_PATTERN",
    "OWNER_RE",
]

#: What a cluster or job identifier may look like (as in ATMO).
IDENTIFIER_PATTERN = r"^[a-z0-9-]{1,100}$"

#: What an owner name may look like: it ends up in the cluster's name and tags.
OWNER_PATTERN = r"^[A-Za-z0-9._@+-]{1,100}$"

#: A plain check of an email address's shape; mail delivery is the real test.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

IDENTIFIER_RE = re.compile(IDENTIFIER_PATTERN)
OWNER_RE = re.compile(OWNER_PATTERN)
EMAIL_RE = re.compile(EMAIL_PATTERN)
