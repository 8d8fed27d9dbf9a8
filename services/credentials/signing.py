"""The credential token: signing with the key ring's credential key, checking a presented one, and its QR code.

A credential is a compact JWS (ES256, `typ: ti-credential+jwt`) under a key of its own purpose, published in the JWKS
for as long as anything it signed may be checked (auth/keys.py). Signing goes through auth.tokens.sign_compact;
checking through joserfc, with only our algorithm, only a published credential key and only our issuer accepted.
"""

import binascii
import re
import uuid
from io import BytesIO
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

import segno
from joserfc import jwt
from joserfc.errors import JoseError
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.identity import Identity
from auth.keys import LoadedKey
from auth.tokens import TokenError, sign_compact, unverified_header
from core.errors import field_error
from core.http.language import Bilingual
from core.settings import Settings
from services.credentials.exceptions import MalformedToken
from services.credentials.schemas import MAX_INPUT_BYTES, CredentialText
from services.credentials.workflow import KINDS

TOKEN_TYPE = "ti-credential+jwt"  # noqa: S105 (a media type, not a secret)
ALGORITHM = "ES256"
KEY_PURPOSE = "credential"
VERIFY_PATH = "/api/v1/credentials/verify"
# The longest link a QR code can hold at error correction level M (version 40, byte mode).
QR_CAPACITY_BYTES = 2331
_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


class InvalidSignature(Exception):
    """The token is not one this issuer signed with a published credential key: `reason` says why, in both languages
    (a verification answers whoever scanned the code, in their language)."""

    def __init__(self, reason: Bilingual) -> None:
        super().__init__(reason.en)
        self.reason = reason


NOT_A_TOKEN = Bilingual(zh="这不是电子证照", en="not a credential token")
UNEXPECTED_ALGORITHM = Bilingual(zh="签名算法不符", en="unexpected signature algorithm")
UNKNOWN_KEY = Bilingual(zh="不是用本系统公布的证照密钥签名的", en="not signed by a published credential key")
ALTERED = Bilingual(zh="签名与内容不符", en="the signature does not match the content")
OTHER_ISSUER = Bilingual(zh="不是本系统签发的", en="issued by someone else")
MALFORMED = Bilingual(zh="证照内容格式不正确", en="not a well-formed credential")


def verify_url(settings: Settings, token: str) -> str:
    """The link the QR code holds (a JWS is URL-safe as it is)."""
    return f"{settings.issuer}{VERIFY_PATH}?token={token}"


def fits_a_qr_code(url: str) -> bool:
    return len(url.encode()) <= QR_CAPACITY_BYTES


def qr_png(url: str) -> bytes:
    """A PNG QR code of `url` (error correction M, raised where it costs no extra size)."""
    qr = segno.make(url, error="m", micro=False)
    buffer = BytesIO()
    qr.save(buffer, kind="png", scale=5, border=4)
    return buffer.getvalue()


async def signing_key(session: AsyncSession, identity: Identity) -> LoadedKey:
    """The active credential key of the key ring."""
    try:
        return identity.keyring.signing_key(KEY_PURPOSE)
    except RuntimeError:
        # Not loaded in this process yet (a worker that just started). Load on the caller's connection: on SQLite a
        # second connection would wait for the write lock this transaction holds.
        connection = await session.connection()
        await connection.run_sync(identity.keyring.load)
        return identity.keyring.signing_key(KEY_PURPOSE)


def sign(key: LoadedKey, claims: dict[str, Any]) -> str:
    return sign_compact({"alg": ALGORITHM, "kid": key.kid, "typ": TOKEN_TYPE}, claims, key.key)


def extract_token(value: str, *, issuer: str, field: str = "token", location: str = "body") -> str:
    """The JWS in `value`: the bare token, or the verification link a QR code holds. 422 for anything else, naming
    the parameter `value` came in (`field` in the `location`: the query of a GET, the body of a POST)."""
    value = value.strip()
    if len(value.encode()) > MAX_INPUT_BYTES:
        raise MalformedToken(
            f"At most {MAX_INPUT_BYTES} bytes.",
            errors=[field_error(field, "too long", code="too_long", location=location)],
        )
    if value.lower().startswith(("https://", "http://")):
        link = urlsplit(value)
        tokens = parse_qs(link.query).get("token", [])
        # Our page and nowhere else: a genuine token in a link to another site is a QR code a camera would open
        # there (a look-alike page), so it is not ours to call valid. Scheme and host are case-insensitive.
        if not _our_verification_page(link, issuer) or len(tokens) != 1:
            raise MalformedToken(
                "A QR code of a Talent Island credential holds a verification link with one token.",
                errors=[field_error(field, "not a credential verification link", location=location)],
            )
        value = tokens[0]
    if not _JWS.match(value):
        raise MalformedToken(
            "A credential token is a compact JWS: three base64url parts separated by dots.",
            errors=[field_error(field, "not a compact JWS", location=location)],
        )
    return value


def _our_verification_page(link: SplitResult, issuer: str) -> bool:
    ours = urlsplit(f"{issuer}{VERIFY_PATH}")
    same_site = (link.scheme.lower(), link.netloc.lower()) == (ours.scheme.lower(), ours.netloc.lower())
    return same_site and link.path == ours.path and not link.fragment


def verified_claims(identity: Identity, token: str) -> tuple[dict[str, Any], str]:
    """The claims and kid of a token this issuer signed with a published credential key; InvalidSignature if not."""
    try:
        header = unverified_header(token)
    except TokenError as exc:
        raise InvalidSignature(NOT_A_TOKEN) from exc
    if header.get("typ") != TOKEN_TYPE:
        raise InvalidSignature(NOT_A_TOKEN)
    if header.get("alg") != ALGORITHM:
        raise InvalidSignature(UNEXPECTED_ALGORITHM)
    kid = header.get("kid")
    key = identity.keyring.verification_key(kid, KEY_PURPOSE) if isinstance(kid, str) else None
    if key is None:
        raise InvalidSignature(UNKNOWN_KEY)
    try:
        claims = dict(jwt.decode(token, key.key, algorithms=[ALGORITHM]).claims)
    except (JoseError, ValueError, TypeError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidSignature(ALTERED) from exc
    if claims.get("iss") != identity.settings.issuer:
        raise InvalidSignature(OTHER_ISSUER)
    try:
        uuid.UUID(str(claims["jti"]))
        if not (
            isinstance(claims["sub"], str)
            and claims["kind"] in KINDS
            and isinstance(claims["nbf"], int)
            and isinstance(claims["exp"], int)
        ):
            raise ValueError("claim types")
        CredentialText.model_validate(claims["title"])
        for condition in claims.get("conditions") or []:
            CredentialText.model_validate(condition)
    except (KeyError, ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidSignature(MALFORMED) from exc
    return claims, kid
