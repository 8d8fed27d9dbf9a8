"""API shapes of the identity domain. Request schemas forbid unknown fields (no mass assignment)."""

import re
import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from auth.scopes import SCOPES, STAFF_ROLES
from core.http.language import Localized

Language = Literal["zh-CN", "en"]
MobilePhone = Annotated[
    str, Field(pattern=r"^1[3-9][0-9]{9}$", description="A mainland China mobile number, 11 ASCII digits")
]
Password = Annotated[str, Field(min_length=1, max_length=128, description="At least 10 characters, not a common one")]
Username = Annotated[str, Field(pattern=r"^[a-z][a-z0-9._-]{2,63}$")]
# Characters a name is shown without, or shown wrong with: controls (Cc), formatting (Cf: the bidi overrides such as
# U+202E, which turn "Mallory" in a citizen's access log into another name read backwards, and the zero-width ones,
# which make two identical-looking names differ), private-use (Co), lone surrogates (Cs), line and paragraph
# separators (Zl, Zp).
_UNSHOWN_IN_NAMES = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})


def check_person_name(name: str) -> str:
    """Refuse a name holding a character it would not be shown faithfully with (see _UNSHOWN_IN_NAMES). Any script,
    spaces, hyphens, apostrophes and middle dots (阿卜杜·热合曼) are a name's own."""
    unshown = sorted({f"U+{ord(ch):04X}" for ch in name if unicodedata.category(ch) in _UNSHOWN_IN_NAMES})
    if unshown:
        raise ValueError(
            f"a name cannot contain control, invisible or direction-changing characters ({', '.join(unshown)})"
        )
    return name


# A person's name, trimmed: a name of blanks would become the default holder of a permit, and a staff member of blanks
# is who a citizen's access log says read their data; and shown as it is (check_person_name).
PersonName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(check_person_name)
]
DepartmentCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")]
StaffRole = Literal["officer", "supervisor", "talent_officer", "catalogue_editor", "publisher", "auditor", "admin"]
GrantType = Literal["authorization_code", "refresh_token", "client_credentials"]
AuthMethod = Literal["none", "client_secret_basic", "client_secret_post", "private_key_jwt"]
CLIENT_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,99}$"
ClientId = Annotated[str, Field(pattern=CLIENT_ID_PATTERN)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- accounts -------------------------------------------------------------------------------------------------------


class CitizenSignUp(Strict):
    phone: MobilePhone
    phone_code: str = Field(pattern=r"^[0-9]{6}$", description="The code sent to `phone` for `sign_up` (6 digits)")
    password: Password
    name: PersonName
    preferred_language: Language = "zh-CN"


class StaffCreate(Strict):
    username: Username
    name: PersonName
    password: Password
    department: DepartmentCode | None = None
    roles: list[StaffRole] = Field(min_length=1, max_length=len(STAFF_ROLES))
    preferred_language: Language = "zh-CN"


class AccountUpdate(Strict):
    """What an administrator may change. Everything else (phone, password hash, kind) is the owner's or the system's."""

    name: PersonName | None = None
    department: DepartmentCode | None = None
    roles: list[StaffRole] | None = Field(default=None, max_length=len(STAFF_ROLES))
    status: Literal["active", "disabled"] | None = None


class MeUpdate(Strict):
    name: PersonName | None = None
    preferred_language: Language | None = None


class RepresentationRead(BaseModel):
    """A partner system the citizen has given a mandate to file applications for them."""

    client_id: str
    client_name: Localized
    granted_at: datetime


class ConsentRead(BaseModel):
    """A client application the person has allowed to act for them, and with which scopes."""

    client_id: str
    client_name: Localized
    scopes: list[str] = Field(description="The scopes granted, as the consent page listed them")
    granted_at: datetime = Field(description="When last granted (granting more scopes later renews it)")


class Me(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    username: str | None
    phone: str | None = Field(
        description="Shown in full to its owner only, through a token with the `phone` or `account` scope; null "
        "through any other token (and when the account has no phone)"
    )
    id_number_masked: str | None = Field(
        description="The verified ID number, masked even to its owner; shown only through a token with the `account` "
        "scope, null through any other"
    )
    identity_verified_at: datetime | None
    status: str
    department: str | None
    roles: list[str]
    preferred_language: str
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    version: int


class AccountRead(BaseModel):
    """An account as an administrator sees it: personal data masked."""

    id: uuid.UUID
    kind: str
    name: str
    username: str | None
    phone_masked: str | None
    id_number_masked: str | None
    identity_verified_at: datetime | None
    status: str
    department: str | None
    roles: list[str]
    preferred_language: str
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    version: int


# -- clients --------------------------------------------------------------------------------------------------------


_LOOPBACK = {"127.0.0.1", "[::1]", "localhost"}
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+$")


def check_redirect_uri(uri: str) -> str:
    """Registered redirect URIs: https, loopback http for native and development apps (RFC 8252), or a reverse-domain
    private scheme; no fragment, no credentials, no wildcard."""
    parts = urlsplit(uri)
    if "*" in uri or parts.fragment or "#" in uri or parts.username or parts.password or "@" in parts.netloc:
        raise ValueError(f"{uri!r}: no wildcards, fragments or credentials")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.netloc.rsplit(":", 1)[0] in _LOOPBACK:
        return uri
    if _PRIVATE_SCHEME.match(parts.scheme) and not parts.netloc:
        return uri
    raise ValueError(f"{uri!r}: use https, http on a loopback address, or a reverse-domain private scheme")


# What a client's private_key_jwt assertion may be verified with (auth.grants.ASSERTION_ALGORITHMS): RSA (RS256, PS256)
# of 2048 bits at least, as NIST SP 800-131A has required since 2013 and as our own keys are (auth.keys); EC on P-256,
# the one curve ES256 signs on; OKP on Ed25519 or Ed448 (EdDSA), not X25519 / X448, which agree keys and sign nothing.
MIN_CLIENT_RSA_BITS = 2048
CLIENT_KEY_CURVES = {"EC": ("P-256",), "OKP": ("Ed25519", "Ed448")}


def client_key_problem(key: Key) -> str | None:
    """Why a client's public key may not verify its assertions; None when it may."""
    if key.key_type == "RSA":
        bits = key.raw_value.key_size
        if bits < MIN_CLIENT_RSA_BITS:
            return f"an RSA key of {bits} bits is too weak: at least {MIN_CLIENT_RSA_BITS} bits are required"
        return None
    curves = CLIENT_KEY_CURVES.get(key.key_type)
    if curves is None:
        return f"{key.key_type} keys are not accepted"
    if key.get("crv") not in curves:
        return f"an {key.key_type} key on {key.get('crv')} is not accepted: use {' or '.join(curves)}"
    return None


class ClientFields(Strict):
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    grant_types: list[GrantType] = Field(min_length=1)
    scopes: list[str] = Field(min_length=1, max_length=len(SCOPES))
    jwks: dict[str, Any] | None = Field(
        default=None,
        description="Public keys for private_key_jwt (no private parts): RSA of 2048 bits or more, EC on P-256, OKP on "
        "Ed25519 or Ed448",
    )
    skip_consent: bool = False
    can_introspect: bool = False

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _uris(cls, uris: list[str]) -> list[str]:
        return [check_redirect_uri(uri) for uri in uris]

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: list[str]) -> list[str]:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(unknown)}")
        return sorted(set(scopes))

    @field_validator("jwks")
    @classmethod
    def _public_keys_only(cls, jwks: dict[str, Any] | None) -> dict[str, Any] | None:
        if jwks is None:
            return None
        keys = jwks.get("keys")
        if not isinstance(keys, list) or not keys or len(keys) > 10:
            raise ValueError("a JWK set with 1-10 keys is required")
        for key in keys:
            if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC", "OKP"):
                raise ValueError("keys must be RSA, EC or OKP")
            if {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key):
                raise ValueError("register public keys only: the set contains private key material")
        try:
            # As the token endpoint will read them (auth.grants): a set it cannot read was registered with a 201, and
            # the client then failed every sign-in with "bad signature".
            imported = KeySet.import_key_set(jwks)
        except (JoseError, ValueError) as error:
            raise ValueError(f"a key of the set is not a usable public key: {error}") from None
        # Read, a 512-bit RSA key (factored in hours) or a key on a curve the token endpoint refuses was kept too.
        for number, key in enumerate(imported.keys, start=1):
            problem = client_key_problem(key)
            if problem:
                raise ValueError(f"key {number} of the set: {problem}")
        return jwks


class ClientCreate(ClientFields):
    client_id: ClientId | None = Field(default=None, description="Generated when omitted")
    kind: Literal["public", "confidential"]
    token_endpoint_auth_method: AuthMethod

    @model_validator(mode="after")
    def _consistent(self) -> "ClientCreate":
        check_client_consistency(
            self.kind, self.token_endpoint_auth_method, self.grant_types, self.scopes, self.redirect_uris, self.jwks
        )
        return self


class ClientUpdate(Strict):
    name_zh: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, min_length=1, max_length=200)
    redirect_uris: list[str] | None = Field(default=None, max_length=20)
    post_logout_redirect_uris: list[str] | None = Field(default=None, max_length=20)
    scopes: list[str] | None = Field(default=None, max_length=len(SCOPES))
    jwks: dict[str, Any] | None = None
    skip_consent: bool | None = None
    can_introspect: bool | None = None
    status: Literal["active", "disabled"] | None = None

    @field_validator(
        "name_zh",
        "name_en",
        "redirect_uris",
        "post_logout_redirect_uris",
        "scopes",
        "skip_consent",
        "can_introspect",
        "status",
        mode="before",
    )
    @classmethod
    def _left_out_not_null(cls, value: Any) -> Any:
        # Left out, a field keeps its value; null would have been written as it is (only `jwks` may be removed): a
        # null scope list was a 500, a null name or flag a 409 that blamed "data that already exists".
        if value is None:
            raise ValueError("leave the field out to keep it; it cannot be null")
        return value

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _uris(cls, uris: list[str] | None) -> list[str] | None:
        return None if uris is None else [check_redirect_uri(uri) for uri in uris]

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: list[str] | None) -> list[str] | None:
        return None if scopes is None else ClientFields._known_scopes(scopes)

    @field_validator("jwks")
    @classmethod
    def _public_keys_only(cls, jwks: dict[str, Any] | None) -> dict[str, Any] | None:
        return ClientFields._public_keys_only(jwks)


def check_client_consistency(
    kind: str, method: str, grants: list[str], scopes: list[str], redirect_uris: list[str], jwks: dict[str, Any] | None
) -> None:
    if kind == "public":
        if method != "none":
            raise ValueError("a public client authenticates with `none` (it cannot keep a secret)")
        if "client_credentials" in grants:
            raise ValueError("a public client cannot use client_credentials")
    elif method == "none":
        raise ValueError("a confidential client must authenticate (client_secret_basic, _post or private_key_jwt)")
    if method == "private_key_jwt" and not jwks:
        raise ValueError("private_key_jwt needs the client's public keys in `jwks`")
    if "authorization_code" in grants and not redirect_uris:
        raise ValueError("authorization_code needs at least one redirect URI")
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise ValueError("refresh_token only comes with authorization_code")
    client_only = {name for name in scopes if SCOPES[name].client_only}
    if client_only and "client_credentials" not in grants:
        raise ValueError(f"{', '.join(sorted(client_only))} can only be granted through client_credentials")


class ClientRead(BaseModel):
    client_id: str
    name_zh: str
    name_en: str
    kind: str
    token_endpoint_auth_method: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    jwks: dict[str, Any] | None
    skip_consent: bool
    can_introspect: bool
    status: str
    created_at: datetime
    updated_at: datetime
    version: int


class ClientWithSecret(ClientRead):
    client_secret: str | None = Field(description="Shown this once; only its SHA-256 is stored")


class AccessLogRead(BaseModel):
    """One read of your personal data by someone else."""

    id: uuid.UUID
    occurred_at: datetime
    reader_kind: str = Field(description="officer | administrator | partner")
    reader_name: str | None
    reader_department: str | None
    client_id: str | None = Field(description="the application they used")
    purpose: str
    object_type: str
    object_id: str
