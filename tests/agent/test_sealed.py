"""Secrets sealed to an X25519 public key, as an archive key (archive/sealed.py)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken

from airshift.archive import sealed
from airshift.archive import secrets as sec
from airshift.errors import AirshiftError


def test_the_public_half_seals_and_only_the_private_half_opens():
    private, public = sealed.new_key_pair()
    token = sec.SecretCodec(None, public, "source Fernet key", "archive key").reseal(
        "pw", False, "x"
    )
    assert token.startswith("x25519:") and "pw" not in token
    opened = sec.SecretCodec(private, Fernet.generate_key().decode(), "archive key", "target")
    assert opened.open(token, "x") == b"pw"
    with pytest.raises(AirshiftError, match="only its private half"):
        sec.SecretCodec(public, None, "archive key", "target").open(token, "x")
    other, _ = sealed.new_key_pair()
    with pytest.raises(AirshiftError, match="wrong key"):
        sec.SecretCodec(other, None, "archive key", "target").open(token, "x")


def test_each_value_is_sealed_anew_and_tampering_is_detected():
    private, public = sealed.new_key_pair()
    box = sealed.SealedBox(public)
    a, b = box.encrypt(b"same"), box.encrypt(b"same")
    assert a != b  # a fresh ephemeral key and nonce every time
    opener = sealed.SealedBox(private)
    assert opener.decrypt(a) == opener.decrypt(b) == b"same"
    flipped = a[:-2] + (b"A" if a[-2:-1] != b"A" else b"B") + a[-1:]
    with pytest.raises(InvalidToken):
        opener.decrypt(flipped)


def test_both_halves_have_one_fingerprint_unlike_fernet_keys():
    private, public = sealed.new_key_pair()
    assert sec.fingerprint(private) == sec.fingerprint(public) == sealed.fingerprint(public)
    assert sec.fingerprint(private).startswith("x25519:")
    assert sealed.public_key_of(private) == public
    fernet = Fernet.generate_key().decode()
    assert not sec.fingerprint(fernet).startswith("x25519:")  # today's archives read as before


def test_a_damaged_key_is_one_clear_sentence():
    with pytest.raises(AirshiftError, match="not a valid key"):
        sealed.SealedBox("x25519-private:abc")
