"""Secrets sealed to a public key: an archive the environment that wrote it cannot open.

Why: an agent exporting inside an Airflow environment (``airshift.agent``) must seal the
connections and variables it reads, yet the environment must never hold a key that opens
them again: the archive sits in S3 next to that environment, and anyone with the
environment's role could read both. So the agent receives only the user's X25519 *public*
key and seals every value to it; only the private key, which stays with the user and reaches
the target's agent in the import request (held in memory), opens them.

Each value is sealed on its own, ECIES style: an ephemeral X25519 key pair, the shared
secret through HKDF-SHA256 (bound to both public keys) into an AES-256-GCM key, a random
nonce. The sealed form is ``"x25519:" + base64url(ephemeral public key | nonce | ciphertext)``
(60 bytes more than the value). A value needs nothing but the private key to open, so the
archive format does not change: the manifest's ``key_fingerprint`` names the key pair
(``x25519:...``), the same for both halves, and every reader that takes an archive key
takes the private key in its place (``secrets.multi_fernet``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from airshift.errors import AirshiftError

PUBLIC_PREFIX = "x25519-public:"
PRIVATE_PREFIX = "x25519-private:"
TOKEN_PREFIX = b"x25519:"
_INFO = b"airshift sealed secret v1"
_RAW = serialization.Encoding.Raw


def is_key_pair_half(key: str | None) -> bool:
    """Is ``key`` one of the two halves of an X25519 key pair (not a Fernet key)?"""
    return bool(key) and key.strip().startswith((PUBLIC_PREFIX, PRIVATE_PREFIX))


def new_key_pair() -> tuple[str, str]:
    """A fresh key pair as text: (private, public)."""
    private = X25519PrivateKey.generate()
    raw = private.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return PRIVATE_PREFIX + _b64(raw), public_key_of(PRIVATE_PREFIX + _b64(raw))


def public_key_of(key: str) -> str:
    """The public half of ``key`` (itself when it is the public half)."""
    return PUBLIC_PREFIX + _b64(_public(key).public_bytes(_RAW, serialization.PublicFormat.Raw))


def fingerprint(key: str) -> str:
    """The key pair's name, the same for its private and public halves."""
    raw = _public(key).public_bytes(_RAW, serialization.PublicFormat.Raw)
    return "x25519:" + hashlib.sha256(b"airshift-key-pair:" + raw).hexdigest()[:16]


class SealedBox:
    """Seals to the public key and opens with the private one; the two calls of Fernet
    (``encrypt``/``decrypt`` on bytes) so that it stands wherever an archive key does."""

    def __init__(self, key: str) -> None:
        self._public = _public(key)
        self._private = _private(key) if key.strip().startswith(PRIVATE_PREFIX) else None

    def encrypt(self, data: bytes) -> bytes:
        ephemeral = X25519PrivateKey.generate()
        eph_raw = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
        aes = AESGCM(self._derive(ephemeral.exchange(self._public), eph_raw))
        nonce = os.urandom(12)
        return TOKEN_PREFIX + base64.urlsafe_b64encode(
            eph_raw + nonce + aes.encrypt(nonce, data, None)
        )

    def decrypt(self, token: bytes) -> bytes:
        if self._private is None:
            raise AirshiftError(
                "The archive's secrets are sealed to a public key, and only its private half "
                f"({PRIVATE_PREFIX}...) opens them: the public key was given instead."
            )
        if not token.startswith(TOKEN_PREFIX):
            raise InvalidToken
        try:
            raw = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX) :])
        except (binascii.Error, ValueError):
            raise InvalidToken from None
        eph_raw, nonce, sealed = raw[:32], raw[32:44], raw[44:]
        if len(eph_raw) != 32 or len(nonce) != 12:
            raise InvalidToken
        shared = self._private.exchange(X25519PublicKey.from_public_bytes(eph_raw))
        try:
            return AESGCM(self._derive(shared, eph_raw)).decrypt(nonce, sealed, None)
        except InvalidTag:
            raise InvalidToken from None

    def _derive(self, shared: bytes, eph_raw: bytes) -> bytes:
        recipient = self._public.public_bytes(_RAW, serialization.PublicFormat.Raw)
        hkdf = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO + eph_raw + recipient
        )
        return hkdf.derive(shared)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _decode(key: str, prefix: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(key.strip()[len(prefix) :].encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise AirshiftError(
            f"{prefix}... is not a valid key: it must be 32 bytes in url-safe base64 "
            "(as `airshift agent keys` prints them)."
        )
    return raw


def _private(key: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(_decode(key, PRIVATE_PREFIX))


def _public(key: str) -> X25519PublicKey:
    key = key.strip()
    if key.startswith(PRIVATE_PREFIX):
        return _private(key).public_key()
    if key.startswith(PUBLIC_PREFIX):
        return X25519PublicKey.from_public_bytes(_decode(key, PUBLIC_PREFIX))
    raise AirshiftError(
        f"Not an airshift key pair half: expected {PUBLIC_PREFIX} or {PRIVATE_PREFIX}."
    )
