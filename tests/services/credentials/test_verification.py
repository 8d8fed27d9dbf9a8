"""Public verification: a credential's signature is checked against the published JWKS, its status read from the
register; a forged or altered one is a verification answer (200, integrity invalid), garbage is a 422."""

import base64
import json
from datetime import UTC, datetime, timedelta

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from auth.identity import Identity
from auth.tokens import sign_compact
from core.models import utcnow
from tests.helpers import assert_problem
from tests.oauth import token_for
from tests.services.credentials.conftest import CITIZEN, VERIFY

CLAIMS = {"iss", "jti", "sub", "iat", "nbf", "exp", "kind", "title", "department", "holder_name", "conditions"}


def _part(token: str, index: int) -> dict:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _tamper(token: str) -> str:
    """One character of the payload changed (in the middle, so it changes the decoded bytes)."""
    header, payload, signature = token.split(".")
    middle = len(payload) // 2
    swapped = "B" if payload[middle] == "A" else "A"
    return ".".join([header, payload[:middle] + swapped + payload[middle + 1 :], signature])


async def test_a_fresh_credential_verifies_valid_and_active_and_its_signed_claims_match(
    app, client, issue, settings
) -> None:
    row = await issue()
    answer = await client.get(VERIFY, params={"token": row.token})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["integrity"] == "valid"
    assert body["status"] == "active"
    assert body["detail"] is None
    assert (body["kind"], body["number"], body["department"]) == ("permit", row.number, "market")
    assert body["title"] == "食品经营许可证"  # in Chinese unless the request asks otherwise
    assert body["holder_name"] == "江门人才岛咖啡有限公司"
    assert body["conditions"] == ["仅限堂食"]
    assert body["issuer"] == settings.issuer
    assert datetime.fromisoformat(body["valid_from"]) == row.valid_from
    assert datetime.fromisoformat(body["valid_until"]) == row.valid_until
    assert abs(datetime.fromisoformat(body["checked_at"]) - utcnow()) < timedelta(seconds=30)

    # Independently of our code: the JWKS anyone can fetch verifies the token, and it says what the register says.
    jwks = (await client.get("/oauth2/jwks")).json()
    header = _part(row.token, 0)
    assert header == {"alg": "ES256", "kid": row.kid, "typ": "ti-credential+jwt"}
    published = next(key for key in jwks["keys"] if key["kid"] == row.kid)
    assert published["alg"] == "ES256"
    assert "d" not in published  # the public half only
    claims = jwt.decode(row.token, KeySet.import_key_set(jwks), algorithms=["ES256"]).claims
    assert set(claims) == CLAIMS
    assert claims["iss"] == settings.issuer
    assert claims["jti"] == str(row.id)
    assert claims["sub"] == row.number
    assert (claims["nbf"], claims["exp"]) == (int(row.valid_from.timestamp()), int(row.valid_until.timestamp()))
    assert claims["kind"] == "permit"
    # The credential carries both languages, signed; the answer shows the one asked for, or both with lang=all.
    both = (await client.get(VERIFY, params={"token": row.token, "lang": "all"})).json()
    assert claims["title"] == both["title"] == {"zh-CN": "食品经营许可证", "en": "Food business licence"}
    assert claims["conditions"] == both["conditions"]
    # A different key from the access tokens': a credential key signs nothing else.
    access_kid = _part(await token_for(app, CITIZEN, "openid"), 0)["kid"]
    assert access_kid != row.kid


async def test_neither_the_answer_nor_the_token_holds_personal_data(app, client, issue, holder_id, citizen) -> None:
    verified = await client.post(
        "/api/v1/me/identity-verification", headers=citizen, json={"name": "陈明", "id_number": "440703199203150034"}
    )
    assert verified.status_code == 200, verified.text
    row = await issue()
    answer = await client.get(VERIFY, params={"token": row.token})
    payload = json.dumps(_part(row.token, 1), ensure_ascii=False)
    for text in (answer.text, payload):
        for secret in (str(holder_id), holder_id.hex, CITIZEN, "440703199203150034", "陈明"):
            assert secret not in text, secret
    assert set(answer.json()) == {
        "integrity",
        "status",
        "detail",
        "replaced_by",
        "kind",
        "number",
        "title",
        "holder_name",
        "department",
        "conditions",
        "issuer",
        "valid_from",
        "valid_until",
        "checked_at",
    }
    assert answer.headers["cache-control"] == "no-store"  # the status may change any minute


async def test_the_qr_content_and_a_posted_token_verify_alike(client, issue, settings) -> None:
    row = await issue()
    link = f"{settings.issuer}{VERIFY}?token={row.token}"
    answers = [
        await client.post(VERIFY, json={"qr": link}),
        await client.post(VERIFY, json={"token": row.token}),
        await client.get(VERIFY, params={"token": link}),  # a scanner that passes the whole link along
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert (answer.json()["integrity"], answer.json()["status"], answer.json()["number"]) == (
            "valid",
            "active",
            row.number,
        )


async def test_a_tampered_token_is_integrity_invalid_and_says_nothing_else(client, issue) -> None:
    row = await issue()
    tampered = _tamper(row.token)
    assert tampered != row.token
    answer = await client.get(VERIFY, params={"token": tampered})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["integrity"], body["status"], body["detail"]) == ("invalid", "unknown", "签名与内容不符")
    assert all(
        body[name] is None
        for name in ("kind", "number", "title", "holder_name", "issuer", "valid_until", "replaced_by")
    )

    # A changed claim re-encoded cleanly (a "revoked" permit made to look valid longer) fails the same way.
    header, _payload, signature = row.token.split(".")
    claims = _part(row.token, 1) | {"exp": int((utcnow() + timedelta(days=3650)).timestamp())}
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = (await client.get(VERIFY, params={"token": f"{header}.{forged_payload}.{signature}"})).json()
    assert (forged["integrity"], forged["status"], forged["number"]) == ("invalid", "unknown", None)


async def test_a_token_signed_by_a_key_we_do_not_publish_is_invalid(app, client, issue, settings) -> None:
    row = await issue()
    claims = _part(row.token, 1)
    stranger = ECKey.generate_key("P-256")
    stranger.ensure_kid()
    unknown_kid = sign_compact({"alg": "ES256", "kid": stranger.kid, "typ": "ti-credential+jwt"}, claims, stranger)
    # Our published kid in the header, someone else's key behind the signature.
    stolen_kid = sign_compact({"alg": "ES256", "kid": row.kid, "typ": "ti-credential+jwt"}, claims, stranger)
    # A real signature of ours, but of an access token, not a credential.
    access_token = await token_for(app, CITIZEN, "openid")
    # Unsigned ("alg": "none") with our kid.
    unsigned = ".".join(
        [
            base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": row.kid, "typ": "ti-credential+jwt"}).encode())
            .rstrip(b"=")
            .decode(),
            row.token.split(".")[1],
            "AAAA",
        ]
    )
    for token in (unknown_kid, stolen_kid, access_token, unsigned):
        answer = await client.get(VERIFY, params={"token": token})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["integrity"], body["status"], body["number"]) == ("invalid", "unknown", None), body
    # Signed by our credential key, but not with our issuer: not ours to vouch for.
    key = app.state.identity.keyring.signing_key("credential")
    elsewhere = sign_compact(
        {"alg": "ES256", "kid": key.kid, "typ": "ti-credential+jwt"}, claims | {"iss": "https://evil.example"}, key.key
    )
    body = (await client.get(VERIFY, params={"token": elsewhere})).json()
    assert (body["integrity"], body["detail"]) == ("invalid", "不是本系统签发的")  # in the scanner's language
    english = (await client.get(VERIFY, params={"token": elsewhere}, headers={"Accept-Language": "en"})).json()
    assert english["detail"] == "issued by someone else"


async def test_malformed_or_oversized_input_is_a_422_problem(client, issue, settings) -> None:
    row = await issue()
    body = assert_problem(await client.get(VERIFY, params={"token": "not-a-token"}), 422, "credential-token-malformed")
    assert body["errors"][0]["field"] == "token"
    oversized = row.token + "A" * 9000
    assert_problem(await client.get(VERIFY, params={"token": oversized}), 422)
    assert_problem(await client.post(VERIFY, json={"token": oversized}), 422)
    assert_problem(await client.post(VERIFY, json={"token": row.token, "qr": row.token}), 422)
    assert_problem(await client.post(VERIFY, json={}), 422)
    assert_problem(await client.post(VERIFY, json={"token": row.token, "extra": 1}), 422)
    assert_problem(await client.get(VERIFY), 422)
    elsewhere = f"{settings.issuer}/api/v1/catalogue/services?token={row.token}"
    body = assert_problem(await client.post(VERIFY, json={"qr": elsewhere}), 422, "credential-token-malformed")
    assert body["errors"][0]["field"] == "qr"


async def test_a_qr_link_to_anywhere_but_our_verification_page_is_not_ours(client, issue, settings) -> None:
    # A genuine token copied into a QR code of someone else's: a phone camera would open their page, not ours, so a
    # scanner app that asks us must not be told it is a valid credential.
    row = await issue()
    ours = f"{settings.issuer}{VERIFY}?token={row.token}"
    assert (await client.post(VERIFY, json={"qr": ours.replace("http://", "HTTP://", 1)})).json()["integrity"] == (
        "valid"  # a scheme and host differ in case only: the same place
    )
    issuer = settings.issuer.split("://", 1)[1]
    for foreign in (
        f"https://evil.example{VERIFY}?token={row.token}",
        f"{settings.issuer}.evil.example{VERIFY}?token={row.token}",
        f"http://{issuer}@evil.example{VERIFY}?token={row.token}",
        f"{settings.issuer}/phish{VERIFY}?token={row.token}",
        f"{'https' if settings.issuer.startswith('http:') else 'http'}://{issuer}{VERIFY}?token={row.token}",
        f"{ours}#https://evil.example",
    ):
        body = assert_problem(await client.post(VERIFY, json={"qr": foreign}), 422, "credential-token-malformed")
        assert body["errors"][0]["field"] == "qr", foreign
        assert_problem(await client.get(VERIFY, params={"token": foreign}), 422, "credential-token-malformed")


async def test_a_refused_input_names_the_parameter_it_came_in(client, issue, settings) -> None:
    row = await issue()
    foreign = f"https://evil.example{VERIFY}?token={row.token}"
    for request, where in [
        (client.get(VERIFY, params={"token": "not-a-token"}), ("query", "token")),
        (client.get(VERIFY, params={"token": foreign}), ("query", "token")),
        (client.get(VERIFY, params={"token": "中" * 3000}), ("query", "token")),  # within 8192 characters, not bytes
        (client.post(VERIFY, json={"qr": "not-a-token"}), ("body", "qr")),
        (client.post(VERIFY, json={"qr": foreign}), ("body", "qr")),
        (client.post(VERIFY, json={"token": foreign}), ("body", "token")),
        (client.post(VERIFY, json={"token": "not-a-token"}), ("body", "token")),
    ]:
        body = assert_problem(await request, 422, "credential-token-malformed")
        assert [(error["location"], error["field"]) for error in body["errors"]] == [where]


async def test_status_comes_from_the_register(client, issue, db) -> None:
    expired = await issue(valid_from=utcnow() - timedelta(days=400), valid_until=utcnow() - timedelta(days=1))
    body = (await client.get(VERIFY, params={"token": expired.token})).json()
    assert (body["integrity"], body["status"]) == ("valid", "expired")
    assert datetime.fromisoformat(body["valid_until"]) < datetime.now(UTC)

    # A validly signed credential the register does not know (it was never committed, or is gone).
    kept = await issue()
    async with db.transaction() as session:
        row = await session.get(type(kept), kept.id)
        await session.delete(row)
    body = (await client.get(VERIFY, params={"token": kept.token, "lang": "all"})).json()
    assert (body["integrity"], body["status"]) == ("valid", "unknown")
    assert body["detail"] == {"zh-CN": "登记簿中没有这份证照", "en": "not in the register"}


async def test_a_process_that_has_not_loaded_its_keys_yet_issues_with_the_published_key(
    app, client, db, issue, settings
) -> None:
    fresh = Identity(settings, db)  # a worker that just started: an empty key ring
    row = await issue(identity=fresh)
    assert row.kid == app.state.identity.keyring.signing_key("credential").kid
    body = (await client.get(VERIFY, params={"token": row.token})).json()
    assert (body["integrity"], body["status"]) == ("valid", "active")
    link = f"{settings.issuer}{VERIFY}?token={row.token}"
    assert len(link) < 1500, len(link)  # comfortably within what a phone scans from a printed permit
