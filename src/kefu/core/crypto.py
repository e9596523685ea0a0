"""Cryptographic primitives shared by domains: password hashing, token hashing,
keys derived from the instance secret, authenticated encryption and MACs.

Keys are derived per purpose with HKDF so that one leaked derived key does
not expose another (``purpose`` strings are part of the key schedule).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class PasswordHasher:
    """Argon2id with configurable cost (OWASP: m=19 MiB, t=2, p=1)."""

    def __init__(self, memory_kib: int = 19_456, time_cost: int = 2) -> None:
        self._hasher = _Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=1, type=Type.ID)
        # A hash to verify against when the user does not exist, so that
        # "unknown user" and "wrong password" take the same time.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def new_token(prefix: str = "", nbytes: int = 32) -> str:
    """An opaque random token (≥ 256 bits), optionally with a greppable prefix."""
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"


def token_hash(token: str) -> str:
    """How tokens are stored: SHA-256 hex (tokens are random, so no salt or stretching is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def derive_key(secret: bytes, purpose: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(secret)


def mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class SecretBox:
    """AES-256-GCM with a random 96-bit nonce; output is url-safe base64 text.

    ``associated_data`` binds a ciphertext to its context (for example the row
    id), so a value copied into another row does not decrypt.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("SecretBox needs a 32-byte key")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, associated_data: bytes = b"") -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), associated_data)
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, associated_data: bytes = b"") -> str:
        raw = base64.urlsafe_b64decode(token.encode())
        return self._aead.decrypt(raw[:12], raw[12:], associated_data).decode()
