"""Signing keys: one active key per purpose, rotated on a schedule, retired keys published until their tokens expire.

- access tokens: ES256 (cheap to sign at high token rates), RFC 9068 `typ: at+jwt`
- ID tokens: RS256 (the algorithm every OpenID Connect relying party must accept)
- credentials (permits, talent cards): ES256 under a key of their own, published for as long as they may be verified

Private keys are stored encrypted with the data key; every process loads them from the database, so all processes sign
with the same key and publish the same JWKS. Two processes generating a key at the same moment is harmless: both keys
are valid and published, and the newest one signs.
"""

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, Key, RSAKey, import_key
from sqlalchemy import Connection, func, insert, or_, select, update

from auth.models import SigningKey
from core.crypto import FieldCipher
from core.models import utcnow

ALGORITHMS = {"access": "ES256", "id": "RS256", "credential": "ES256"}
_table = SigningKey.__table__
_CONTEXT = "signing_key.private_jwk"


def _generate(alg: str) -> Key:
    key: Key = ECKey.generate_key("P-256") if alg == "ES256" else RSAKey.generate_key(2048)
    key.ensure_kid()  # the RFC 7638 thumbprint
    return key


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    purpose: str
    alg: str
    key: Key
    public_jwk: dict[str, Any]
    created_at: datetime
    retired: bool


# The least time between two reloads forced by unknown kids.
FORCED_RELOAD_SECONDS = 5.0


class KeyRing:
    """The keys of this process, reloaded from the database at most every `reload_seconds` (or on an unknown kid)."""

    def __init__(self, cipher: FieldCipher, *, rotation_days: int, token_lifetime: int, reload_seconds: float = 60):
        self._cipher = cipher
        self._rotation = timedelta(days=rotation_days)
        # A retired key stays published until every token it signed has expired (plus clock skew).
        self._publish_after_retirement = timedelta(seconds=token_lifetime + 300)
        self._reload_seconds = reload_seconds
        self._keys: dict[str, LoadedKey] = {}
        self._loaded_at = 0.0
        self._forced_at = float("-inf")
        self._lock = threading.Lock()

    # -- loading --------------------------------------------------------------------------------------------------

    def load(self, connection: Connection) -> None:
        """Read the published keys; create or rotate active keys where needed."""
        now = utcnow()
        keys = self._published(connection, now)
        if self._due(keys, now):
            # Processes starting together on an empty table (or reloading together when a key is due) would each make
            # a set, and for a while each would sign with keys the others do not know. One at a time instead: the
            # others wait here, then read the keys it made and make none of their own.
            _lock_key_changes(connection)
            keys = self._published(connection, now)
        for purpose, alg in ALGORITHMS.items():
            newest = self._newest(keys, purpose)
            if newest is None or now - newest.created_at >= self._rotation:
                fresh = self._create(connection, purpose, alg, now)
                keys[fresh.kid] = fresh
                if newest is not None:
                    self._retire(connection, purpose, keep=fresh.kid, now=now)
                    keys = {
                        kid: k if k.purpose != purpose or kid == fresh.kid else _retired(k) for kid, k in keys.items()
                    }
        with self._lock:
            self._keys = keys
            self._loaded_at = time.monotonic()

    def _published(self, connection: Connection, now: datetime) -> dict[str, LoadedKey]:
        published = or_(_table.c.unpublish_at.is_(None), _table.c.unpublish_at > now)
        return {row["kid"]: self._loaded(row) for row in connection.execute(select(_table).where(published)).mappings()}

    def _due(self, keys: dict[str, LoadedKey], now: datetime) -> bool:
        """Whether some purpose has no active key, or one older than the rotation period."""
        newest = (self._newest(keys, purpose) for purpose in ALGORITHMS)
        return any(key is None or now - key.created_at >= self._rotation for key in newest)

    @staticmethod
    def _newest(keys: dict[str, LoadedKey], purpose: str) -> LoadedKey | None:
        active = [k for k in keys.values() if k.purpose == purpose and not k.retired]
        return max(active, key=lambda k: k.created_at, default=None)

    def _loaded(self, row: Any) -> LoadedKey:
        private = json.loads(self._cipher.decrypt(row["private_jwk_encrypted"], context=_CONTEXT))
        return LoadedKey(
            kid=row["kid"],
            purpose=row["purpose"],
            alg=row["alg"],
            key=import_key(private),
            public_jwk=row["public_jwk"],
            created_at=row["created_at"],
            retired=row["retired_at"] is not None,
        )

    def _create(self, connection: Connection, purpose: str, alg: str, now: datetime) -> LoadedKey:
        key = _generate(alg)
        public = {**key.as_dict(private=False), "kid": key.kid, "alg": alg, "use": "sig"}
        connection.execute(
            insert(_table).values(
                kid=key.kid,
                purpose=purpose,
                alg=alg,
                private_jwk_encrypted=self._cipher.encrypt(json.dumps(key.as_dict(private=True)), context=_CONTEXT),
                public_jwk=public,
                created_at=now,
            )
        )
        return LoadedKey(key.kid, purpose, alg, key, public, now, retired=False)

    def _retire(self, connection: Connection, purpose: str, *, keep: str, now: datetime) -> None:
        # Credential signatures are checked for years: their keys stay published.
        unpublish = None if purpose == "credential" else now + self._publish_after_retirement
        connection.execute(
            update(_table)
            .where(_table.c.purpose == purpose, _table.c.kid != keep, _table.c.retired_at.is_(None))
            .values(retired_at=now, unpublish_at=unpublish)
        )

    def rotate(self, connection: Connection, purpose: str) -> str:
        """Make a new active key for `purpose` and retire the others; returns the new kid."""
        _lock_key_changes(connection)
        fresh = self._create(connection, purpose, ALGORITHMS[purpose], utcnow())
        self._retire(connection, purpose, keep=fresh.kid, now=utcnow())
        self._loaded_at = 0.0
        return fresh.kid

    def stale(self) -> bool:
        return time.monotonic() - self._loaded_at > self._reload_seconds

    def forget(self) -> None:
        """Start afresh: reload on next use, with no forced reload counted against the next unknown kid."""
        self._loaded_at, self._forced_at = 0.0, float("-inf")

    def forget_for_unknown_kid(self) -> bool:
        """Force a reload for a kid this process does not know (another process may have just made the key), unless
        one was forced in the last few seconds: random kids must not make every request reload. Whether it will."""
        now = time.monotonic()
        if now - self._forced_at < FORCED_RELOAD_SECONDS:
            return False
        self._forced_at, self._loaded_at = now, 0.0
        return True

    # -- use ------------------------------------------------------------------------------------------------------

    def signing_key(self, purpose: str) -> LoadedKey:
        candidates = [k for k in self._keys.values() if k.purpose == purpose and not k.retired]
        if not candidates:
            raise RuntimeError(f"no active {purpose} key loaded")
        return max(candidates, key=lambda k: k.created_at)

    def verification_key(self, kid: str, purpose: str) -> LoadedKey | None:
        key = self._keys.get(kid)
        return key if key is not None and key.purpose == purpose else None

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [k.public_jwk for k in sorted(self._keys.values(), key=lambda k: (k.purpose, k.created_at))]}


# Any fixed number: the PostgreSQL advisory lock that key changes take.
_KEY_CHANGES_LOCK = 7_436_201


def _lock_key_changes(connection: Connection) -> None:
    """Hold the key table's changes to this transaction until it ends. SQLite needs nothing: it runs one writing
    transaction at a time, and the embedded default is one process."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_KEY_CHANGES_LOCK)))


def _retired(key: LoadedKey) -> LoadedKey:
    return LoadedKey(key.kid, key.purpose, key.alg, key.key, key.public_jwk, key.created_at, retired=True)
