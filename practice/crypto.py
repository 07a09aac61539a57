"""Encryption of what must not sit readable on disk.

Session audio: envelope encryption, below. Clinical text in the database (notes,
transcripts, AI notes): `field_cipher()`, used by practice.fields.

Audio:

Each object gets a random 256-bit data key; AES-GCM encrypts the data under it, with the
object's identity as associated data so a ciphertext cannot be moved to another object.
The data key is stored wrapped (AES-GCM) by the master key from settings. Forgetting the
wrapped key destroys every copy of the data at once, including ones the database or the
file system keep for a while after a DELETE.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NONCE_BYTES = 12


class DecryptionError(Exception):
    """Wrong key or altered data: fail closed, never return garbage."""


def master_key() -> bytes:
    configured = settings.AUDIO_ENCRYPTION_KEY
    if configured:
        try:
            key = base64.urlsafe_b64decode(configured + "=" * (-len(configured) % 4))
        except ValueError as error:
            raise ImproperlyConfigured("AUDIO_ENCRYPTION_KEY is not base64.") from error
        if len(key) != 32:
            raise ImproperlyConfigured("AUDIO_ENCRYPTION_KEY must be 32 bytes, base64-encoded.")
        return key
    if not settings.DEBUG:
        raise ImproperlyConfigured("Set AUDIO_ENCRYPTION_KEY (32 random bytes, base64).")
    return hashlib.sha256(b"holos-audio:" + settings.SECRET_KEY.encode()).digest()


def new_wrapped_key() -> bytes:
    """A fresh data key, wrapped by the master key, ready to store."""
    return _seal(master_key(), os.urandom(32), b"data-key")


def encrypt(wrapped_key: bytes, plaintext: bytes, *, context: str) -> bytes:
    return _seal(_unwrap(wrapped_key), plaintext, context.encode())


def decrypt(wrapped_key: bytes, ciphertext: bytes, *, context: str) -> bytes:
    return _open(_unwrap(wrapped_key), ciphertext, context.encode())


def _unwrap(wrapped_key: bytes) -> bytes:
    if not wrapped_key:
        raise DecryptionError("The key was destroyed with the data.")
    return _open(master_key(), bytes(wrapped_key), b"data-key")


def _seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def _open(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    sealed = bytes(sealed)
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except (InvalidTag, ValueError) as error:
        raise DecryptionError("Wrong key or altered data.") from error


# --- Clinical text in the database -----------------------------------------------------


def field_keys() -> tuple[str, ...]:
    """FIELD_ENCRYPTION_KEYS, newest first: the first encrypts, every one decrypts (so a
    new key can be put in front, `manage.py encryption_rotate` run, and the old one
    dropped). Development derives one from SECRET_KEY, as the audio key does."""
    configured = tuple(key.strip() for key in settings.FIELD_ENCRYPTION_KEYS if key.strip())
    if configured:
        return configured
    if not settings.DEBUG:
        raise ImproperlyConfigured(
            "Set FIELD_ENCRYPTION_KEYS (Fernet keys: 32 random bytes, URL-safe base64)."
        )
    derived = hashlib.sha256(b"holos-fields:" + settings.SECRET_KEY.encode()).digest()
    return (base64.urlsafe_b64encode(derived).decode(),)


def field_cipher() -> MultiFernet:
    return _field_cipher(field_keys())


@functools.lru_cache(maxsize=4)
def _field_cipher(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as error:
        raise ImproperlyConfigured(
            "Each of FIELD_ENCRYPTION_KEYS must be 32 bytes, URL-safe base64."
        ) from error


def encrypt_text(plaintext: str) -> str:
    return field_cipher().encrypt(plaintext.encode()).decode("ascii")


def decrypt_text(token: str) -> str:
    """Fails closed: a value no configured key opens (a wrong or missing key, altered or
    never-encrypted data) raises DecryptionError; it is never returned as it is."""
    try:
        return field_cipher().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as error:
        raise DecryptionError("No configured key opens this value.") from error


def rotate_text(token: str) -> str:
    """The value encrypted again under the newest key (DecryptionError if none opens it)."""
    try:
        return field_cipher().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as error:
        raise DecryptionError("No configured key opens this value.") from error


def under_newest_key(token: str) -> bool:
    try:
        Fernet(field_keys()[0]).decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True
