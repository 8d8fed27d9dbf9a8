"""Personal data at rest: AES-256-GCM encryption plus a keyed lookup hash to find rows without decrypting them.

The keys live in a file outside the database (`TI_DATA_KEY_FILE`, created on first use outside production). The
ciphertext carries a version prefix so the key can be rotated without guessing which key encrypted a value.
"""

import base64
import hashlib
import hmac
import os
import secrets
import unicodedata
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FieldCipher:
    def __init__(self, encryption_key: bytes, lookup_key: bytes) -> None:
        if len(encryption_key) != 32 or len(lookup_key) != 32:
            raise ValueError("both keys must be 32 bytes")
        self._aead = AESGCM(encryption_key)
        self._lookup_key = lookup_key

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """`context` (e.g. the column name) is bound as associated data: a value cannot be moved to another column."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}:{_b64(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str = "") -> str:
        version, _, payload = token.partition(":")
        if version != _VERSION:
            raise ValueError(f"unknown ciphertext version {version!r}")
        raw = _unb64(payload)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()

    def lookup_hash(self, value: str, *, context: str = "") -> str:
        """A deterministic keyed hash for equality lookups (unique indexes, login by phone)."""
        normalized = unicodedata.normalize("NFKC", value).strip().upper()
        return hmac.new(self._lookup_key, f"{context}\x00{normalized}".encode(), hashlib.sha256).hexdigest()

    @classmethod
    def from_file(cls, path: Path, *, create: bool) -> "FieldCipher":
        if not path.exists():
            if not create:
                raise RuntimeError(f"data key file {path} is missing (set TI_DATA_KEY_FILE)")
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(_b64(secrets.token_bytes(64)) + "\n")
        raw = _unb64(path.read_text().strip())
        if len(raw) != 64:
            raise RuntimeError(f"{path} must hold 64 base64url-encoded bytes")
        return cls(raw[:32], raw[32:])


def mask_name(name: str) -> str:
    """王磊 -> 王**, 陈明 Chen Ming -> 陈**: a person's name where others see it (a register, a card's verification,
    a list). The stars are always two: as many as the letters hidden told the name's length (a bilingual name's
    thirteen stood out among two-character ones)."""
    return name[:1] + "**"


def mask_phone(phone: str) -> str:
    """13800000001 -> 138****0001."""
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) > 7 else "*" * len(phone)


def mask_id_number(number: str) -> str:
    """440701199001011234 -> 4407**********1234."""
    return number[:4] + "*" * max(len(number) - 8, 0) + number[-4:] if len(number) > 8 else "*" * len(number)


def secret_digest(secret: str) -> str:
    """SHA-256 of a server-generated, high-entropy secret (client secrets, refresh tokens, codes, session ids).

    These carry 256 bits of randomness, so a fast hash is safe; passwords, chosen by people, use argon2id instead.
    """
    return hashlib.sha256(secret.encode()).hexdigest()
