"""The Ed25519 key that signs audit checkpoints. It lives in a file outside the database, never in a table."""

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


@dataclass(frozen=True)
class CheckpointSigner:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    def sign(self, message: bytes) -> str:
        return _b64url(self.private_key.sign(message))

    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.public_key)

    @classmethod
    def from_file(cls, path: Path, *, create: bool) -> "CheckpointSigner":
        """Load the PEM key; in development and tests, create it (mode 0600) when it does not exist yet."""
        if not path.exists():
            if not create:
                raise RuntimeError(f"audit signing key {path} is missing (set TI_AUDIT_KEY_FILE)")
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise RuntimeError(f"{path} is not an Ed25519 private key")
        return cls(key)


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(_raw_public(public_key)), "kid": key_id_of(public_key)}


def public_key_from_raw(encoded: str) -> Ed25519PublicKey:
    """A public key from its base64url raw form (a JWK's `x`)."""
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def verify_signature(public_key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        public_key.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), message)
    except (InvalidSignature, ValueError):
        return False
    return True
