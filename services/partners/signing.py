"""Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(secret, "{webhook-id}.{webhook-timestamp}.{body}")).

The secret is `whsec_` + base64 of 24 random bytes; the HMAC key is the decoded bytes. Receivers should refuse a
timestamp more than 5 minutes off and remember ids they have processed (deliveries are at-least-once).
"""

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, *, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    message = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def verify(secret: str, *, headers: dict[str, str], body: bytes, now: int) -> bool:
    """What a receiver does (and what the tests' receiver uses)."""
    try:
        webhook_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, webhook_id=webhook_id, timestamp=timestamp, body=body)
    return any(hmac.compare_digest(expected, given) for given in headers.get("webhook-signature", "").split())
