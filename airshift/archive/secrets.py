"""Secrets in transit: decrypt with Airflow's Fernet key, seal with the archive key.

Why: connection passwords/extras and variable values must never touch disk in
plaintext. They leave the source decrypted only in memory and are sealed in the archive
with a separate key that the user keeps; the import re-encrypts them for the target.

The archive key is a Fernet key, or one half of an X25519 key pair (``archive/sealed.py``):
an export given the public half seals to it and cannot open what it wrote; the private half
opens (and re-seals) wherever an archive key is taken. Both kinds are recorded the same way
(``key_fingerprint`` in the manifest), so archives of either kind read alike.
"""

from __future__ import annotations

import configparser
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from airshift.archive import sealed
from airshift.errors import WrongKey


def new_key() -> str:
    return Fernet.generate_key().decode()


def fingerprint(key: str) -> str:
    """A non-reversible name for a key, so a wrong key is detected before any decryption."""
    if sealed.is_key_pair_half(key):
        return sealed.fingerprint(key)
    return hashlib.sha256(b"airshift-archive-key:" + key.strip().encode()).hexdigest()[:16]


def multi_fernet(keys: str, what: str) -> MultiFernet | sealed.SealedBox:
    """Airflow's form: one key or several comma-separated (rotation); the first encrypts.

    An X25519 key pair half stands for an archive key: it seals to the public key and
    opens with the private one."""
    if sealed.is_key_pair_half(keys):
        return sealed.SealedBox(keys)
    try:
        return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])
    except (ValueError, TypeError):
        raise WrongKey(
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

    @property
    def can_open(self) -> bool:
        return self._dec is not None

    def reseal(self, value: str | None, encrypted: bool, where: str) -> str | None:
        """Plaintext of ``value`` (decrypting when ``encrypted``), re-encrypted; None stays None."""
        if value is None:
            return None
        plain = self.open(value, where) if encrypted else value.encode()
        if self._enc is None:
            raise WrongKey(f"No key to encrypt {where} with.")
        return self._enc.encrypt(plain).decode()

    def open(self, value: str, where: str) -> bytes:
        if self._dec is None:
            raise WrongKey(
                f"{where} is encrypted, but no {self._decrypt_what} was given. Pass it with "
                "--fernet-key (or set AIRFLOW__CORE__FERNET_KEY / AIRFLOW_HOME)."
            )
        try:
            return self._dec.decrypt(value.encode())
        except InvalidToken:
            raise WrongKey(
                f"The {self._decrypt_what} does not decrypt {where}: it is the wrong key. "
                "Nothing was written in plaintext; check the key and run again."
            ) from None


# Airflow's own list of connection-extra keys whose values it masks in logs.
SENSITIVE_KEYS = (
    "access_token",
    "api_key",
    "apikey",
    "authorization",
    "passphrase",
    "passwd",
    "password",
    "private_key",
    "secret",
    "token",
    "keyfile_dict",
    "service_account",
)


class Redactor:
    """Removes known secret values from free text, such as the audit log's ``extra``.

    Why: Airflow 2 before 2.10 wrote CLI command lines to the audit log unmasked, so
    ``airflow connections add --conn-uri ...:PASSWORD@...`` left the password in plaintext
    in the ``log`` table. The secrets seen while exporting connections and variables are
    replaced by ``***`` (as Airflow's masker does) before any log row reaches the archive.
    """

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.redacted = 0

    def add(self, plain: bytes | str | None, *, extra: bool = False) -> None:
        if plain is None:
            return
        text = plain.decode() if isinstance(plain, bytes) else plain
        if extra:
            self._add_sensitive_leaves(text)
        elif len(text) >= 4:
            self._add_forms(text)

    def _add_forms(self, text: str) -> None:
        """The value in every form it may take in free text: as typed, URL-encoded (a
        password inside ``--conn-uri``, which Airflow's own masker misses), with either
        case of hex digits, and each of those as it reads inside JSON text (the log's extra
        is JSON)."""
        import json
        import re
        from urllib.parse import quote, quote_plus

        forms = {text, quote(text), quote(text, safe=""), quote_plus(text, safe="")}
        forms |= {re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), f) for f in forms}
        for form in forms:
            self.values.update((form, json.dumps(form)[1:-1]))
        self._add_sensitive_leaves(text)  # a JSON variable's secret fields, wherever they appear

    def _add_sensitive_leaves(self, text: str) -> None:
        import json

        try:
            data = json.loads(text)
        except ValueError:
            return
        stack = [data]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for k, v in node.items():
                    if (
                        isinstance(v, str)
                        and any(s in k.lower() for s in SENSITIVE_KEYS)
                        and len(v) >= 4
                    ):
                        self.values.update((v, json.dumps(v)[1:-1]))
                    elif isinstance(v, dict | list):
                        stack.append(v)
            elif isinstance(node, list):
                stack.extend(node)

    def redact(self, array):
        """The string array with every known secret replaced (Arrow compute, no per-row loop).

        Why in two steps: each secret value (in each form it may take) was searched for
        in the whole column, one pass per value, and the audit log's ``extra`` is most of
        an export's text (14 % of a medium export's samples, docs/benchmarks.md). One
        pass of all values as alternatives (RE2, linear) finds the rows holding any; only
        those are rewritten, value by value, longest first, as before."""
        import pyarrow.compute as pc

        if not self.values or len(array) == 0:
            return array
        ordered = sorted(self.values, key=len, reverse=True)
        hits = pc.fill_null(
            pc.match_substring_regex(array, "|".join(map(_re2_literal, ordered))), False
        )
        if not pc.any(hits).as_py():
            return array
        rows = array.filter(hits)
        for value in ordered:
            hit = pc.sum(pc.match_substring(rows, value)).as_py() or 0
            if hit:
                self.redacted += hit
                rows = pc.replace_substring(rows, value, "***")
        return pc.replace_with_mask(array, hits, rows)


def _re2_literal(text: str) -> str:
    """``text`` as an RE2 pattern matching itself: every character but letters and digits
    written as ``\\x{...}`` (RE2 refuses some of the escapes Python's ``re.escape`` makes)."""
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in text)
