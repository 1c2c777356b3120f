"""SSH public key validation: real keys pass, anything else is refused with a useful message."""

from __future__ import annotations

import base64
import os
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from atmo_provider.errors import AtmoValidationError
from atmo_provider.validation.ssh_keys import SUPPORTED_KEY_TYPES, validate_ssh_public_key


def openssh_public(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_private():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_key(rsa_private) -> str:
    return openssh_public(rsa_private)


@pytest.fixture(scope="module")
def ed25519_key() -> str:
    return openssh_public(ed25519.Ed25519PrivateKey.generate())


def refusal(text) -> AtmoValidationError:
    with pytest.raises(AtmoValidationError) as info:
        validate_ssh_public_key(text)
    assert info.value.field == "ssh_public_key"
    return info.value


def test_rsa_key_is_accepted(rsa_key):
    assert validate_ssh_public_key(rsa_key) == rsa_key


def test_ed25519_key_is_accepted(ed25519_key):
    assert validate_ssh_public_key(ed25519_key) == ed25519_key


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_ecdsa_keys_are_accepted(curve):
    key = openssh_public(ec.generate_private_key(curve))

    assert validate_ssh_public_key(key) == key


def test_comment_is_kept(ed25519_key):
    assert validate_ssh_public_key(f"{ed25519_key} ada@laptop") == f"{ed25519_key} ada@laptop"


def test_surrounding_whitespace_is_stripped(ed25519_key):
    assert validate_ssh_public_key(f"\n  {ed25519_key}  \r\n") == ed25519_key


def test_truncated_key_is_refused(rsa_key):
    error = refusal(rsa_key[:120])

    assert "truncated or damaged" in error.message


def test_garbled_base64_is_refused(ed25519_key):
    key_type, data = ed25519_key.split()

    error = refusal(f"{key_type} {data[:20]}!!{data[22:]}")

    assert "truncated or damaged" in error.message


def test_key_data_of_another_type_is_refused(ed25519_key):
    error = refusal("ssh-rsa " + ed25519_key.split()[1])

    assert "truncated or damaged" in error.message


def test_key_type_without_data_is_refused():
    assert "missing" in refusal("ssh-ed25519").message


def test_two_keys_on_two_lines_are_refused(rsa_key, ed25519_key):
    assert "exactly one key" in refusal(f"{rsa_key}\n{ed25519_key}").message


def test_two_keys_on_one_line_are_refused(rsa_key, ed25519_key):
    assert "more than one" in refusal(f"{rsa_key} {ed25519_key}").message


def test_private_key_is_refused_with_its_own_message(rsa_private):
    pem = rsa_private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()

    assert "this is a private key; paste the .pub file" in refusal(pem).message


def test_unsupported_key_type_lists_supported_prefixes():
    message = refusal("ssh-foo AAAAB3NzaC1yc2E").message

    assert "unsupported key type 'ssh-foo'" in message
    assert all(prefix in message for prefix in SUPPORTED_KEY_TYPES)


def ssh_dss_line() -> str:
    """Build an ssh-dss public key line by hand (cryptography deprecates DSA keys)."""

    def field(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    numbers = [os.urandom(129), os.urandom(21), os.urandom(129), os.urandom(129)]
    blob = field(b"ssh-dss") + b"".join(field(b"\x00" + number[1:]) for number in numbers)
    return "ssh-dss " + base64.b64encode(blob).decode()


def test_dsa_key_is_refused_as_obsolete():
    key = ssh_dss_line()

    message = refusal(key).message

    assert "obsolete" in message
    assert "ssh-ed25519" in message


def test_rfc4716_key_gets_conversion_hint():
    text = "---- BEGIN SSH2 PUBLIC KEY ----\nAAAAC3Nza\n---- END SSH2 PUBLIC KEY ----"

    assert "ssh-keygen -i" in refusal(text).message


def test_empty_text_is_refused():
    assert "empty" in refusal("   \n").message


def test_non_text_is_refused():
    assert "got NoneType" in refusal(None).message


def test_key_longer_than_limit_is_refused(ed25519_key):
    message = refusal(ed25519_key + " " + "c" * 100_000).message

    assert "at most 100,000 characters" in message
