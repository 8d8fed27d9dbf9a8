"""The adapter against the mock cloud: signatures, retries, the breaker, every persona, storage and e-signature."""

import asyncio
import time

import httpx
import pytest
from prometheus_client import REGISTRY

from core.breaker import CircuitBreaker
from services.cloud.adapters import (
    CloudESign,
    CloudIdentityVerification,
    CloudObjectStorage,
    CloudPayments,
    CloudSms,
)
from services.cloud.exceptions import CloudError, CloudUnavailable
from services.cloud.mock_server import PERSONAS, MockCloud, create_mock_app
from services.cloud.ports import IdentityMatch, PaymentStatus
from tests.helpers import Clock
from tests.services.cloud.conftest import sha256_hex

MATCHING_ID = "440703199203150034"


def _calls(service: str, action: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value("cloud_calls_total", {"service": service, "action": action, "outcome": outcome})
    return value or 0.0


async def test_a_wrong_key_is_refused_by_the_mock(make_client, mock: MockCloud) -> None:
    client = make_client(secret_key="not-the-key")
    with pytest.raises(CloudError) as caught:
        await CloudIdentityVerification(client).verify_identity(name="陈明", id_number=MATCHING_ID)
    assert caught.value.cloud_code == "AuthFailure.SignatureFailure"
    assert caught.value.cloud_request_id
    assert mock.executed["identity_checks"] == 0


async def test_a_stale_timestamp_is_refused_by_the_mock(make_client, mock: MockCloud) -> None:
    client = make_client(clock=lambda: time.time() - 600)
    with pytest.raises(CloudError) as caught:
        await CloudIdentityVerification(client).verify_identity(name="陈明", id_number=MATCHING_ID)
    assert caught.value.cloud_code == "AuthFailure.SignatureExpire"


async def test_an_unknown_secret_id_is_refused(make_client) -> None:
    with pytest.raises(CloudError) as caught:
        await CloudIdentityVerification(make_client(secret_id="AKIDnobody")).verify_identity(
            name="陈明", id_number=MATCHING_ID
        )
    assert caught.value.cloud_code == "AuthFailure.SecretIdNotFound"


async def test_a_retryable_error_is_retried_then_succeeds(make_client, mock: MockCloud, sleeps: list[float]) -> None:
    mock.set_faults({"IdCardVerification": {"fail_next": 2}})
    before = _calls("faceid", "IdCardVerification", "ok")
    result = await CloudIdentityVerification(make_client()).verify_identity(name="陈明", id_number=MATCHING_ID)
    assert result is IdentityMatch.MATCH
    assert mock.received["faceid.IdCardVerification"] == 3
    assert mock.executed["identity_checks"] == 1
    # exponential backoff with full jitter: the n-th wait is within [0, backoff * 2^(n-1)]
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.1
    assert 0 <= sleeps[1] <= 0.2
    assert _calls("faceid", "IdCardVerification", "ok") == before + 1


async def test_the_retry_budget_runs_out(make_client, mock: MockCloud) -> None:
    mock.set_faults({"IdCardVerification": {"fail_next": 10}})
    with pytest.raises(CloudUnavailable) as caught:
        await CloudIdentityVerification(make_client()).verify_identity(name="陈明", id_number=MATCHING_ID)
    assert "InternalError after 3 attempt(s)" in caught.value.reason
    assert mock.received["faceid.IdCardVerification"] == 3
    assert caught.value.headers["Retry-After"]


async def test_a_call_that_is_not_safe_to_repeat_is_not_retried(make_client, mock: MockCloud) -> None:
    mock.set_faults({"IdCardVerification": {"fail_next": 1}})
    with pytest.raises(CloudUnavailable):
        await make_client().call(
            "faceid", "IdCardVerification", "2018-03-01", {"IdCard": MATCHING_ID, "Name": "陈明"}, idempotent=False
        )
    assert mock.received["faceid.IdCardVerification"] == 1


async def test_a_business_error_is_not_retried(make_client, mock: MockCloud) -> None:
    with pytest.raises(CloudError) as caught:
        await CloudIdentityVerification(make_client()).verify_identity(name="陈明", id_number="12345")
    assert caught.value.cloud_code == "InvalidParameterValue.IdCardFormat"
    assert mock.received["faceid.IdCardVerification"] == 1


async def test_a_timeout_is_retried_and_a_client_token_keeps_it_one_message(make_client, mock: MockCloud) -> None:
    # The first attempt is applied but its answer never comes (timeout); the retry carries the same ClientToken.
    mock.set_faults({"SendSms": {"timeout_rate": 1.0}})
    sms = CloudSms(make_client(timeout=0.2))
    task = asyncio.create_task(sms.send(phone="13800000001", template="100001", params=["1"], client_token="tok-1"))
    await asyncio.sleep(0.1)  # the first attempt is in, and hanging (the client's timeout is 0.2 s)
    assert mock.received["sms.SendSms"] == 1
    mock.set_faults({})
    sent = await task
    assert mock.received["sms.SendSms"] == 2
    assert mock.executed["sms_messages"] == 1
    assert sent.serial_no == mock.sms["tok-1"]["SerialNo"]


async def test_the_breaker_opens_fails_fast_then_recovers_half_open(make_client, mock: MockCloud) -> None:
    clock = Clock()
    client = make_client(max_attempts=1, breaker_failures=3, breaker_reset=30, breaker_clock=clock)
    identity = CloudIdentityVerification(client)
    mock.set_faults({"IdCardVerification": {"fail_next": 100}})
    for _ in range(3):
        with pytest.raises(CloudUnavailable):
            await identity.verify_identity(name="陈明", id_number=MATCHING_ID)
    assert client.breaker("faceid").state == "open"

    with pytest.raises(CloudUnavailable) as caught:
        await identity.verify_identity(name="陈明", id_number=MATCHING_ID)
    assert caught.value.reason == "circuit open"
    assert mock.received["faceid.IdCardVerification"] == 3  # failed fast: the cloud never saw it
    assert int(caught.value.headers["Retry-After"]) <= 31
    # Another service is not affected by faceid's breaker.
    assert (await CloudESign(client).sign(sha256="ab" * 32)).key_id == mock.esign_key_id

    clock.now += 31  # half-open: one probe goes through; it fails, so the breaker opens again
    with pytest.raises(CloudUnavailable) as caught:
        await identity.verify_identity(name="陈明", id_number=MATCHING_ID)
    assert caught.value.reason != "circuit open"
    assert client.breaker("faceid").state == "open"

    clock.now += 31
    mock.set_faults({})
    assert await identity.verify_identity(name="陈明", id_number=MATCHING_ID) is IdentityMatch.MATCH
    assert client.breaker("faceid").state == "closed"


@pytest.mark.parametrize(
    ("id_number", "expected"),
    [
        (MATCHING_ID, IdentityMatch.MATCH),
        (PERSONAS["id_mismatch"], IdentityMatch.MISMATCH),
        (PERSONAS["id_not_found"], IdentityMatch.NOT_FOUND),
    ],
)
async def test_identity_personas(make_client, id_number: str, expected: IdentityMatch) -> None:
    assert await CloudIdentityVerification(make_client()).verify_identity(name="陈明", id_number=id_number) is expected


async def test_degree_and_tax_personas(make_client) -> None:
    identity = CloudIdentityVerification(make_client())
    degree = await identity.verify_degree(name="陈明", id_number=MATCHING_ID, certificate_no="1055832018000123")
    assert (degree.degree, degree.institution, degree.year) == ("master", "Sun Yat-sen University", 2018)
    unverifiable = PERSONAS["degree_unverifiable"]
    assert await identity.verify_degree(name="陈明", id_number=MATCHING_ID, certificate_no=unverifiable) is None

    records = await identity.tax_records(id_number=MATCHING_ID)
    assert len(records) == 12
    assert len({r.month for r in records}) == 12
    assert records == await identity.tax_records(id_number=MATCHING_ID)  # deterministic
    assert await identity.tax_records(id_number=PERSONAS["id_not_found"]) == []


async def test_payment_orders_are_idempotent_by_out_trade_number(make_client, mock: MockCloud) -> None:
    payments = CloudPayments(make_client())
    first = await payments.create_order(out_trade_no="TI0001", amount=5000, currency="CNY", description="fee")
    again = await payments.create_order(out_trade_no="TI0001", amount=5000, currency="CNY", description="fee")
    assert first == again
    assert first.status is PaymentStatus.NOT_PAID
    assert mock.executed["orders"] == 1
    with pytest.raises(CloudError) as caught:
        await payments.create_order(out_trade_no="TI0001", amount=9999, currency="CNY", description="fee")
    assert caught.value.cloud_code == "FailedOperation.OutTradeNoConflict"
    with pytest.raises(CloudError) as caught:
        await payments.refund(out_trade_no="TI0001", out_refund_no="R1", amount=5000, reason="unpaid")
    assert caught.value.cloud_code == "FailedOperation.RefundNotAllowed"


async def test_esign_signs_and_verifies_and_detects_tampering(make_client) -> None:
    esign = CloudESign(make_client())
    digest = sha256_hex(b"permit TI-P-2026-000123")
    signed = await esign.sign(sha256=digest)
    assert await esign.verify(sha256=digest, signature=signed.signature, key_id=signed.key_id)
    assert not await esign.verify(sha256=sha256_hex(b"forged"), signature=signed.signature, key_id=signed.key_id)
    assert not await esign.verify(sha256=digest, signature=signed.signature, key_id="ess-unknown")
    assert not await esign.verify(sha256=digest, signature="not base64!", key_id=signed.key_id)


async def test_storage_presigned_upload_head_download_delete(make_client, mock: MockCloud) -> None:
    storage = CloudObjectStorage(make_client(), public_base_url="http://mock-cloud.test", bucket="docs", ttl=600)
    content = b"%PDF-1.7 a licence scan"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(create_mock_app(mock))) as browser:
        upload = await storage.presign_upload(
            "applications/a1/licence.pdf", content_type="application/pdf", max_bytes=100
        )
        assert upload.method == "PUT"
        assert "q-signature=" in upload.url
        too_big = await browser.put(upload.url, content=b"x" * 101)
        assert too_big.status_code == 400
        assert too_big.json()["Error"]["Code"] == "EntityTooLarge"
        assert (await browser.put(upload.url, content=content, headers=upload.headers)).status_code == 200

        head = await storage.head("applications/a1/licence.pdf")
        assert (head.size, head.sha256, head.content_type) == (len(content), sha256_hex(content), "application/pdf")

        # The URL writes once: a second PUT is refused and the stored file stays; the flag cannot be dropped.
        again = await browser.put(upload.url, content=b"%PDF-1.7 another", headers=upload.headers)
        assert (again.status_code, again.json()["Error"]["Code"]) == (409, "FileAlreadyExists")
        assert (await storage.head("applications/a1/licence.pdf")).sha256 == sha256_hex(content)
        for forged in (
            upload.url.replace("q-max-bytes=100", "q-max-bytes=100000"),
            upload.url.replace("&q-write-once=1", ""),
        ):
            tampered = await browser.put(forged, content=content)
            assert tampered.status_code == 403
            assert tampered.json()["Error"]["Code"] == "SignatureDoesNotMatch"
        other_key = await browser.put(upload.url.replace("licence.pdf", "other.pdf"), content=content)
        assert other_key.status_code == 403

        download = await storage.presign_download("applications/a1/licence.pdf")
        fetched = await browser.get(download.url)
        assert fetched.content == content
        assert fetched.headers["content-disposition"] == "attachment"
        assert (await browser.put(download.url, content=content)).status_code == 403  # a GET URL cannot upload

        mock.clock = lambda: time.time() + 3600  # after expiry
        assert (await browser.get(download.url)).status_code == 403
        mock.clock = time.time

    await storage.delete("applications/a1/licence.pdf")
    assert await storage.head("applications/a1/licence.pdf") is None


async def test_keys_cannot_escape_the_bucket(mock: MockCloud) -> None:
    path = mock.object_path("docs", "../../etc/passwd")
    assert path.parent == mock.data_dir / "objects" / "docs"


async def test_the_api_answers_in_the_envelope_even_for_unknown_actions(make_client) -> None:
    with pytest.raises(CloudError) as caught:
        await make_client().call("sms", "LaunchMissiles", "2021-01-11", {}, idempotent=True)
    assert caught.value.cloud_code == "InvalidAction"


async def test_no_secret_or_personal_data_in_logs(make_client, mock: MockCloud, caplog) -> None:
    mock.set_faults({"IdCardVerification": {"fail_next": 1}})
    client = make_client()
    with caplog.at_level("DEBUG"):
        await CloudIdentityVerification(client).verify_identity(name="陈明", id_number=MATCHING_ID)
    text = caplog.text + repr(client)
    assert "cloud call failed" in caplog.text
    for secret in ("adapter-test-key", MATCHING_ID, "陈明"):
        assert secret not in text


def test_a_call_cut_short_frees_the_probe_and_judges_nothing() -> None:
    clock = Clock()
    breaker = CircuitBreaker("receiver", failures=2, reset=30, clock=clock)
    breaker.failed()
    breaker.abandoned()  # cancelled while closed: not a failure
    breaker.failed()
    assert breaker.state == "open"
    clock.now += 30
    assert breaker.admits()  # the probe ...
    assert not breaker.admits()
    breaker.abandoned()  # ... cut short: another may go
    assert breaker.admits()
