"""Secrets in transit: decrypt with Airflow's Fernet key, seal with the archive key.

Why: connection passwords/extras and variable values must never touch disk in
plaintext. They leave the source decrypted only in memory and are sealed in the archive
with a separate key that the user keeps; the import re-encrypts them for the target.
"""

from __future__ import annotations

import configparser
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from airshift.errors import AirshiftError


def new_key() -> str:
    return Fernet.generate_key().decode()


def fingerprint(key: str) -> str:
    """A non-reversible name for a key, so a wrong key is detected before any decryption."""
    return hashlib.sha256(b"airshift-archive-key:" + key.strip().encode()).hexdigest()[:16]


def multi_fernet(keys: str, what: str) -> MultiFernet:
    """Airflow's form: one key or several comma-separated (rotation); the first encrypts."""
    try:
        return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])
    except (ValueError, TypeError):
        raise AirshiftError(
            f"The {what} is not a valid Fernet key (32 url-safe base64-encoded bytes)."
        ) from None


def airflow_fernet_key(explicit: str | None, airflow_home: str | None = None) -> str | None:
    """The source's Fernet key: --fernet-key, AIRFLOW__CORE__FERNET_KEY, or airflow.cfg."""
    if explicit:
        return explicit
    if os.environ.get("AIRFLOW__CORE__FERNET_KEY"):
        return os.environ["AIRFLOW__CORE__FERNET_KEY"]
    home = airflow_home or os.environ.get("AIRFLOW_HOME")
    cfg = Path(home or Path.home() / "airflow") / "airflow.cfg"
    if cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(cfg)
        key = parser.get("core", "fernet_key", fallback="").strip()
        return key or None
    return None


class SecretCodec:
    """Decrypts one side's ciphertext and encrypts for the other side."""

    def __init__(
        self, decrypt_key: str | None, encrypt_key: str | None, decrypt_what: str, encrypt_what: str
    ):
        self._dec = multi_fernet(decrypt_key, decrypt_what) if decrypt_key else None
        self._enc = multi_fernet(encrypt_key, encrypt_what) if encrypt_key else None
        self._decrypt_what = decrypt_what

    def reseal(self, value: str | None, encrypted: bool, where: str) -> str | None:
        """Plaintext of ``value`` (decrypting when ``encrypted``), re-encrypted; None stays None."""
        if value is None:
            return None
        plain = self.open(value, where) if encrypted else value.encode()
        if self._enc is None:
            raise AirshiftError(f"No key to encrypt {where} with.")
        return self._enc.encrypt(plain).decode()

    def open(self, value: str, where: str) -> bytes:
        if self._dec is None:
            raise AirshiftError(
                f"{where} is encrypted, but no {self._decrypt_what} was given. Pass it with "
                "--fernet-key (or set AIRFLOW__CORE__FERNET_KEY / AIRFLOW_HOME)."
            )
        try:
            return self._dec.decrypt(value.encode())
        except InvalidToken:
            raise AirshiftError(
                f"The {self._decrypt_what} does not decrypt {where}: it is the wrong key. "
                "Nothing was written in plaintext; check the key and run again."
            ) from None
