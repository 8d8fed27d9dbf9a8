"""Identity tables: accounts and roles, OAuth clients, codes, refresh tokens, login sessions, consents, partners'
mandates, signing keys,
and the revocation list every process reloads.

Secrets are never stored: codes, refresh tokens, session ids and client secrets are kept as SHA-256 digests, private
keys encrypted with the data key, phone numbers encrypted with a keyed lookup hash beside them.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from core.audit.models import JsonType
from core.models import IdMixin, TimestampMixin, VersionMixin, empty_list, new_id, utcnow


class Account(IdMixin, TimestampMixin, VersionMixin, table=True):
    __tablename__ = "account"

    kind: str = Field(max_length=20, description="citizen | staff")
    # Staff sign in with a username; citizens with their phone number (stored encrypted, found by its lookup hash).
    username: str | None = Field(default=None, max_length=64, unique=True)
    phone_hash: str | None = Field(default=None, max_length=64, unique=True)
    phone_encrypted: str | None = Field(default=None, max_length=200)
    name: str = Field(max_length=100)
    password_hash: str = Field(max_length=200)
    status: str = Field(default="unverified", max_length=20, description="unverified | active | disabled")
    department: str | None = Field(default=None, max_length=40, index=True)
    preferred_language: str = Field(default="zh-CN", max_length=10)
    last_login_at: datetime | None = None
    # The real-name check (services/cloud): the ID number encrypted, its keyed lookup hash unique across accounts.
    id_number_hash: str | None = Field(default=None, max_length=64, unique=True)
    id_number_encrypted: str | None = Field(default=None, max_length=200)
    identity_verified_at: datetime | None = None


class AccountRole(SQLModel, table=True):
    __tablename__ = "account_role"

    account_id: uuid.UUID = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    role: str = Field(primary_key=True, max_length=40, index=True)


class OAuthClient(TimestampMixin, VersionMixin, table=True):
    __tablename__ = "oauth_client"

    client_id: str = Field(primary_key=True, max_length=100)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    kind: str = Field(max_length=20, description="public | confidential")
    secret_hash: str | None = Field(default=None, max_length=64)
    token_endpoint_auth_method: str = Field(max_length=40)
    redirect_uris: list[str] = Field(default_factory=empty_list, sa_type=JsonType)
    post_logout_redirect_uris: list[str] = Field(default_factory=empty_list, sa_type=JsonType)
    grant_types: list[str] = Field(default_factory=empty_list, sa_type=JsonType)
    scopes: list[str] = Field(default_factory=empty_list, sa_type=JsonType)
    # Public keys (a JWK set) for private_key_jwt; never fetched from a URL, so registration cannot be used for SSRF.
    jwks: dict[str, Any] | None = Field(default=None, sa_type=JsonType)
    # First-party apps of the government itself skip the consent page.
    skip_consent: bool = False
    # Resource servers may introspect other clients' tokens; everyone else only their own.
    can_introspect: bool = False
    status: str = Field(default="active", max_length=20, description="active | disabled")


class AuthorizationCode(SQLModel, table=True):
    __tablename__ = "authorization_code"

    code_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=100)
    account_id: uuid.UUID = Field(foreign_key="account.id", ondelete="CASCADE")
    session_id: uuid.UUID | None = None
    redirect_uri: str = Field(max_length=2000)
    scope: str = Field(max_length=1000)
    nonce: str | None = Field(default=None, max_length=255)
    code_challenge: str = Field(max_length=128)
    code_challenge_method: str = Field(max_length=10)
    auth_time: datetime
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
    used_at: datetime | None = None
    # The refresh-token family the exchange started; a replayed code revokes it.
    family_id: uuid.UUID | None = None


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    family_id: uuid.UUID = Field(index=True)
    client_id: str = Field(max_length=100)
    account_id: uuid.UUID = Field(foreign_key="account.id", ondelete="CASCADE", index=True)
    session_id: uuid.UUID | None = Field(default=None, index=True)
    scope: str = Field(max_length=1000)
    auth_time: datetime
    issued_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    family_expires_at: datetime = Field(index=True)  # retention (auth/tasks.py) finds the families past their end
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None


class LoginSession(SQLModel, table=True):
    """A person signed in at the authorization server (the `ti_session` cookie holds a secret whose digest is here)."""

    __tablename__ = "login_session"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    secret_hash: str = Field(max_length=64, unique=True)
    account_id: uuid.UUID = Field(foreign_key="account.id", ondelete="CASCADE", index=True)
    auth_time: datetime
    expires_at: datetime = Field(index=True)  # retention (auth/tasks.py) finds the sessions long over
    ended_at: datetime | None = None
    address: str | None = Field(default=None, max_length=64)


class Consent(SQLModel, table=True):
    __tablename__ = "oauth_consent"

    account_id: uuid.UUID = Field(foreign_key="account.id", ondelete="CASCADE", primary_key=True)
    client_id: str = Field(primary_key=True, max_length=100)
    scopes: list[str] = Field(default_factory=empty_list, sa_type=JsonType)
    granted_at: datetime = Field(default_factory=utcnow)


class Representation(SQLModel, table=True):
    """A citizen's mandate to a partner system (an employer, an agency) to file applications for them
    (`on_behalf_of`); the citizen grants and withdraws it. A withdrawn mandate keeps its row, so the record of who
    could act for whom, and when, stays."""

    __tablename__ = "representation"

    account_id: uuid.UUID = Field(foreign_key="account.id", ondelete="CASCADE", primary_key=True)
    client_id: str = Field(foreign_key="oauth_client.client_id", ondelete="CASCADE", primary_key=True, max_length=100)
    granted_at: datetime = Field(default_factory=utcnow)
    withdrawn_at: datetime | None = None


class SigningKey(SQLModel, table=True):
    """A JWS key. Active keys sign; retired keys stay in the JWKS until every token they signed has expired."""

    __tablename__ = "signing_key"

    kid: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=20, description="access | id | credential")
    alg: str = Field(max_length=10)
    private_jwk_encrypted: str
    public_jwk: dict[str, Any] = Field(sa_type=JsonType)
    created_at: datetime = Field(default_factory=utcnow)
    retired_at: datetime | None = None
    # After this moment nothing it signed is still valid: it leaves the JWKS.
    unpublish_at: datetime | None = None


class TokenRevocation(SQLModel, table=True):
    """What every process must refuse: one access token (jti), a refresh family, a login session, or all tokens of
    a subject, issued to a client, or of a subject issued to a client before `revoked_at`. Rows live only as long as
    the tokens they stop."""

    __tablename__ = "token_revocation"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_token_revocation_kind_value"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    kind: str = Field(max_length=20, description="jti | family | session | subject | client_tokens | subject_client")
    # A subject_client value is "<subject> <client_id>": up to 36 + 1 + 100 characters.
    value: str = Field(max_length=200)
    revoked_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class ClientAssertionJti(SQLModel, table=True):
    """`jti`s of private_key_jwt assertions already used, kept until the assertion would have expired anyway."""

    __tablename__ = "client_assertion_jti"

    client_id: str = Field(primary_key=True, max_length=100)
    jti: str = Field(primary_key=True, max_length=200)
    expires_at: datetime = Field(index=True)
