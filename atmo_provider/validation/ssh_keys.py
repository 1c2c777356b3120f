"""Validation of the SSH public key a user pastes when launching a cluster.

The key goes to the cluster's bootstrap script, which adds it to the ``hadoop`` user's
``authorized_keys``; a key that does not parse would give a cluster nobody can log in to, so it
is refused before anything is launched.
"""

from __future__ import annotations

import binascii

from atmo_provider.errors import AtmoValidationError

__all__ = ["MAX_KEY_LENGTH", "SUPPORTED_KEY_TYPES", "validate_ssh_public_key"]

#: The longest key text accepted, in characters.
MAX_KEY_LENGTH = 100_000

#: The key type prefixes accepted, as they start an OpenSSH ``.pub`` file.
SUPPORTED_KEY_TYPES = (
    "ssh-rsa",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)

FIELD = "ssh_public_key"

_PRIVATE_KEY_MARKERS = ("PRIVATE KEY-----", "PuTTY-User-Key-File")


def _error(message: str) -> AtmoValidationError:
    return AtmoValidationError(FIELD, message)


def _looks_like_key_type(token: str) -> bool:
    return token in SUPPORTED_KEY_TYPES or token.startswith(("ssh-", "ecdsa-", "sk-"))


def _check_key_type(key_type: str) -> None:
    supported = ", ".join(SUPPORTED_KEY_TYPES)
    if key_type == "ssh-dss":
        raise _error(
            "DSA keys (ssh-dss) are obsolete and refused; generate a new key with "
            f"'ssh-keygen -t ed25519'. Supported key types: {supported}"
        )
    if key_type not in SUPPORTED_KEY_TYPES:
        shown = key_type if len(key_type) <= 40 else key_type[:40] + "..."
        raise _error(f"unsupported key type {shown!r}; supported key types: {supported}")


def validate_ssh_public_key(text: object) -> str:
    """Check that ``text`` is exactly one supported OpenSSH public key and return it stripped.

    :param text: the key as pasted, e.g. the content of ``~/.ssh/id_ed25519.pub``.
    :raises AtmoValidationError: with field ``ssh_public_key`` and a message saying what is
        wrong and what is accepted.
    """
    if not isinstance(text, str):
        raise _error(f"must be the text of a public key, got {type(text).__name__}")

    key = text.strip()
    if not key:
        raise _error("is empty; paste the content of your .pub file, e.g. ~/.ssh/id_ed25519.pub")
    if len(key) > MAX_KEY_LENGTH:
        raise _error(f"must be at most {MAX_KEY_LENGTH:,} characters, got {len(key):,}")

    if any(marker in key for marker in _PRIVATE_KEY_MARKERS):
        raise _error(
            "this is a private key; paste the .pub file instead (e.g. ~/.ssh/id_ed25519.pub) "
            "and keep the private key to yourself"
        )
    if key.startswith("---- BEGIN SSH2 PUBLIC KEY"):
        raise _error(
            "this is an RFC 4716 (SSH2) public key; convert it to OpenSSH format with "
            "'ssh-keygen -i -f KEY.pub' and paste the result"
        )

    lines = key.splitlines()
    if len(lines) > 1:
        raise _error(f"must be exactly one key on one line, got {len(lines)} lines")

    tokens = key.split()
    _check_key_type(tokens[0])
    if len(tokens) < 2:
        raise _error(f"the key data after {tokens[0]!r} is missing; paste the whole line")
    if any(_looks_like_key_type(token) for token in tokens[2:]):
        raise _error("must be exactly one key, but the line holds more than one")

    _parse(key, tokens[0])
    return key


def _parse(key: str, key_type: str) -> None:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    try:
        load_ssh_public_key(key.encode("utf-8"))
    except UnsupportedAlgorithm:
        _check_key_type(key_type)
        raise _error(
            f"key type {key_type!r} is not supported by this installation; "
            f"supported key types: {', '.join(SUPPORTED_KEY_TYPES)}"
        ) from None
    except (ValueError, binascii.Error, UnicodeError):
        raise _error(
            f"the {key_type} key data is truncated or damaged; copy the whole line of the "
            ".pub file again"
        ) from None
