"""TC3-HMAC-SHA256 against the worked example published in Tencent Cloud's API 3.0 documentation ("Signature v3")."""

import hashlib

import pytest

from services.cloud import signing

# The documentation's example: POST https://cvm.tencentcloudapi.com/, DescribeInstances, 2017-03-12, ap-guangzhou.
DOC_SECRET_ID = "AKID**********************0123456789EXAMPLE"
DOC_SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
DOC_TIMESTAMP = 1551113065
DOC_BODY = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
DOC_HEADERS = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}
DOC_PAYLOAD_HASH = "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
DOC_CANONICAL_HASH = "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
DOC_SIGNATURE = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_each_step_matches_the_published_vector() -> None:
    canonical = signing.canonical_request(
        method="POST", uri="/", query="", headers=DOC_HEADERS, signed_headers=["content-type", "host"], body=DOC_BODY
    )
    assert canonical == (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
        f"content-type;host\n{DOC_PAYLOAD_HASH}"
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == DOC_CANONICAL_HASH
    to_sign = signing.string_to_sign(timestamp=DOC_TIMESTAMP, service="cvm", canonical=canonical)
    assert to_sign == f"TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n{DOC_CANONICAL_HASH}"
    assert signing.signature(secret_key=DOC_SECRET_KEY, timestamp=DOC_TIMESTAMP, service="cvm", to_sign=to_sign) == (
        DOC_SIGNATURE
    )


def test_authorization_header_matches_the_published_one() -> None:
    header = signing.authorization(
        secret_id=DOC_SECRET_ID,
        secret_key=DOC_SECRET_KEY,
        service="cvm",
        timestamp=DOC_TIMESTAMP,
        headers=DOC_HEADERS,
        body=DOC_BODY,
    )
    assert header == (
        f"TC3-HMAC-SHA256 Credential={DOC_SECRET_ID}/2019-02-25/cvm/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={DOC_SIGNATURE}"
    )


def test_the_date_is_utc_not_local() -> None:
    # 1551113065 is 2019-02-26 00:44:25 in UTC+8; the credential scope must still say 2019-02-25.
    assert signing.utc_date(DOC_TIMESTAMP) == "2019-02-25"


def _signed(**overrides) -> dict[str, str]:
    options = {
        "secret_id": "AKIDtest",
        "secret_key": "key",
        "service": "sms",
        "host": "sms.tencentcloudapi.com",
        "timestamp": 1_800_000_000,
        "body": b'{"a":1}',
        "extra": {"x-tc-action": "SendSms"},
    } | overrides
    return signing.signed_headers(**options)


def test_verify_accepts_what_sign_produces() -> None:
    verified = signing.verify(headers=_signed(), body=b'{"a":1}', secrets={"AKIDtest": "key"}, now=1_800_000_100)
    assert (verified.secret_id, verified.service) == ("AKIDtest", "sms")
    assert "x-tc-action" in verified.signed_headers


@pytest.mark.parametrize(
    ("headers", "body", "now", "code"),
    [
        (_signed(), b'{"a":2}', 1_800_000_000, "AuthFailure.SignatureFailure"),  # body tampered
        (_signed() | {"x-tc-action": "DeleteEverything"}, b'{"a":1}', 1_800_000_000, "AuthFailure.SignatureFailure"),
        (_signed(), b'{"a":1}', 1_800_000_301, "AuthFailure.SignatureExpire"),  # more than 5 minutes late
        (_signed(), b'{"a":1}', 1_799_999_699, "AuthFailure.SignatureExpire"),  # from the future
        (_signed(secret_id="AKIDother"), b'{"a":1}', 1_800_000_000, "AuthFailure.SecretIdNotFound"),
        (_signed(secret_key="wrong"), b'{"a":1}', 1_800_000_000, "AuthFailure.SignatureFailure"),
        (
            {k: v for k, v in _signed().items() if k != "authorization"},
            b'{"a":1}',
            1_800_000_000,
            "AuthFailure.InvalidAuthorization",
        ),
        (_signed() | {"x-tc-timestamp": "1800000001"}, b'{"a":1}', 1_800_000_000, "AuthFailure.SignatureFailure"),
    ],
    ids=["body", "signed-header", "stale", "future", "unknown-id", "wrong-key", "unsigned", "timestamp-changed"],
)
def test_verify_refuses(headers: dict[str, str], body: bytes, now: int, code: str) -> None:
    with pytest.raises(signing.SignatureError) as caught:
        signing.verify(headers=headers, body=body, secrets={"AKIDtest": "key"}, now=now)
    assert caught.value.code == code
