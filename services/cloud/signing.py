"""TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0, used in both directions.

Our adapter signs its calls to the cloud; the cloud (the mock) signs its callbacks to us with a second key pair and
the service name `callback`. The mock verifies exactly as the real API does: a missing or malformed Authorization, an
unknown SecretId, a timestamp more than five minutes off, or a wrong signature are each refused with their own code.

    CanonicalRequest = Method \\n URI \\n Query \\n CanonicalHeaders \\n SignedHeaders \\n hex(SHA256(body))
    StringToSign     = "TC3-HMAC-SHA256" \\n Timestamp \\n Date/service/tc3_request \\n hex(SHA256(CanonicalRequest))
    SigningKey       = HMAC(HMAC(HMAC("TC3" + SecretKey, Date), service), "tc3_request")
    Signature        = hex(HMAC(SigningKey, StringToSign))
"""

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
MAX_CLOCK_SKEW = 300  # seconds, as the real API

_AUTHORIZATION = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/\s,]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z0-9-]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def canonical_request(
    *, method: str, uri: str, query: str, headers: Mapping[str, str], signed_headers: list[str], body: bytes
) -> str:
    canonical_headers = "".join(f"{name}:{headers[name].strip().lower()}\n" for name in signed_headers)
    return "\n".join(
        [method.upper(), uri, query, canonical_headers, ";".join(signed_headers), hashlib.sha256(body).hexdigest()]
    )


def string_to_sign(*, timestamp: int, service: str, canonical: str) -> str:
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def signature(*, secret_key: str, timestamp: int, service: str, to_sign: str) -> str:
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), utc_date(timestamp)), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    headers: Mapping[str, str],
    body: bytes,
    method: str = "POST",
    uri: str = "/",
    query: str = "",
) -> str:
    """The Authorization header for a request whose (lower-cased) `headers` are all signed."""
    signed = sorted(headers)
    canonical = canonical_request(
        method=method, uri=uri, query=query, headers=headers, signed_headers=signed, body=body
    )
    to_sign = string_to_sign(timestamp=timestamp, service=service, canonical=canonical)
    value = signature(secret_key=secret_key, timestamp=timestamp, service=service, to_sign=to_sign)
    return f"{ALGORITHM} Credential={secret_id}/{utc_date(timestamp)}/{service}/tc3_request, " + (
        f"SignedHeaders={';'.join(signed)}, Signature={value}"
    )


def signed_headers(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    timestamp: int,
    body: bytes,
    extra: Mapping[str, str],
    uri: str = "/",
) -> dict[str, str]:
    """Everything a signed POST needs: content-type, host and `extra` (X-TC-Action, ...) signed, plus Authorization."""
    to_sign = {"content-type": CONTENT_TYPE, "host": host, **{k.lower(): v for k, v in extra.items()}}
    auth = authorization(
        secret_id=secret_id,
        secret_key=secret_key,
        service=service,
        timestamp=timestamp,
        headers=to_sign,
        body=body,
        uri=uri,
    )
    return {**to_sign, "x-tc-timestamp": str(timestamp), "authorization": auth}


class SignatureError(Exception):
    """A request the API refuses before it runs; `code` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Verified:
    secret_id: str
    service: str
    timestamp: int
    signed_headers: tuple[str, ...]


def verify(
    *,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, str],
    now: int,
    method: str = "POST",
    uri: str = "/",
    query: str = "",
) -> Verified:
    """Check a signed request the way the API does; `headers` keyed in lower case; `secrets` SecretId -> SecretKey."""
    match = _AUTHORIZATION.match(headers.get("authorization", ""))
    if match is None:
        raise SignatureError("AuthFailure.InvalidAuthorization", "The Authorization header is missing or malformed.")
    try:
        timestamp = int(headers.get("x-tc-timestamp", ""))
    except ValueError:
        raise SignatureError("AuthFailure.InvalidAuthorization", "X-TC-Timestamp is missing.") from None
    if abs(now - timestamp) > MAX_CLOCK_SKEW:
        raise SignatureError(
            "AuthFailure.SignatureExpire", "The signature expired: the timestamp is more than 5 minutes off."
        )
    secret_key = secrets.get(match["secret_id"])
    if secret_key is None:
        raise SignatureError("AuthFailure.SecretIdNotFound", "The SecretId does not exist.")
    if match["date"] != utc_date(timestamp):
        raise SignatureError("AuthFailure.SignatureFailure", "The credential date does not match X-TC-Timestamp.")
    names = match["signed"].split(";")
    if "content-type" not in names or "host" not in names or any(name not in headers for name in names):
        raise SignatureError("AuthFailure.SignatureFailure", "content-type and host must be signed, and present.")
    canonical = canonical_request(method=method, uri=uri, query=query, headers=headers, signed_headers=names, body=body)
    to_sign = string_to_sign(timestamp=timestamp, service=match["service"], canonical=canonical)
    expected = signature(secret_key=secret_key, timestamp=timestamp, service=match["service"], to_sign=to_sign)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError("AuthFailure.SignatureFailure", "The signature does not match.")
    return Verified(
        secret_id=match["secret_id"], service=match["service"], timestamp=timestamp, signed_headers=tuple(names)
    )


def presign(
    *, secret_key: str, method: str, path: str, expires: int, max_bytes: int = 0, write_once: bool = False
) -> str:
    """The signature of a presigned object URL (method, path, expiry, size cap and, for an upload, whether it may
    replace a stored object, as COS's x-cos-forbid-overwrite: all bound)."""
    message = f"{method.upper()}\n{path}\n{expires}\n{max_bytes}" + ("\nwrite-once" if write_once else "")
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()
