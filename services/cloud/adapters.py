"""The ports implemented over the signed cloud API (services, actions and versions modelled on Tencent Cloud)."""

import base64
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import httpx

from services.cloud.client import CloudClient
from services.cloud.exceptions import CloudError, CloudUnavailable
from services.cloud.ports import (
    DegreeRecord,
    DigestSignature,
    IdentityMatch,
    ObjectHead,
    PaymentOrder,
    PaymentStatus,
    PresignedUrl,
    SmsSent,
    TaxMonth,
)

# faceid IdCardVerification: "0" consistent, "-1" inconsistent, "-2" invalid number, "-3" no such record.
_ID_RESULTS = {
    "0": IdentityMatch.MATCH,
    "-1": IdentityMatch.MISMATCH,
    "-2": IdentityMatch.NOT_FOUND,
    "-3": IdentityMatch.NOT_FOUND,
}
_PAY_STATUS = {
    "NOTPAY": PaymentStatus.NOT_PAID,
    "SUCCESS": PaymentStatus.PAID,
    "PAYERROR": PaymentStatus.FAILED,
    "REFUND": PaymentStatus.REFUNDED,
}


class CloudObjectStorage:
    """Presigned URLs are computed here (no call), like COS: the signature binds method, path, expiry and size cap."""

    def __init__(self, client: CloudClient, *, public_base_url: str, bucket: str, ttl: int) -> None:
        self.client, self.public_base_url, self.bucket, self.ttl = client, public_base_url, bucket, ttl

    def _presigned(
        self,
        method: str,
        key: str,
        *,
        max_bytes: int = 0,
        write_once: bool = False,
        extra: dict[str, str] | None = None,
    ) -> PresignedUrl:
        expires = int(time.time()) + self.ttl
        path = f"/storage/{self.bucket}/{quote(key)}"
        signature = self.client.presign(
            method=method, path=path, expires=expires, max_bytes=max_bytes, write_once=write_once
        )
        query = {
            "q-ak": self.client.secret_id,
            "q-expires": str(expires),
            "q-max-bytes": str(max_bytes),
            **({"q-write-once": "1"} if write_once else {}),
            **(extra or {}),
        }
        query["q-signature"] = signature
        return PresignedUrl(
            url=f"{self.public_base_url}{path}?{urlencode(query)}",
            method=method,
            expires_at=datetime.fromtimestamp(expires, UTC),
            headers={},
        )

    async def presign_upload(self, key: str, *, content_type: str, max_bytes: int) -> PresignedUrl:
        # Write-once: the URL stays valid for its TTL after the upload is confirmed (and checked, even accepted), and a
        # second PUT to it would swap the file under the document.
        url = self._presigned("PUT", key, max_bytes=max_bytes, write_once=True)
        return PresignedUrl(url.url, url.method, url.expires_at, {"Content-Type": content_type})

    async def presign_download(self, key: str, *, filename: str | None = None) -> PresignedUrl:
        return self._presigned("GET", key)

    async def head(self, key: str) -> ObjectHead | None:
        response = await self.client.call(
            "cos", "HeadObject", "2024-01-01", {"Bucket": self.bucket, "Key": key}, idempotent=True
        )
        if not response.get("Exists"):
            return None
        return ObjectHead(
            key=key, size=response["ContentLength"], sha256=response["Sha256"], content_type=response["ContentType"]
        )

    async def read_prefix(self, key: str, length: int = 512) -> bytes:
        url = self._presigned("GET", key)
        path = url.url.removeprefix(self.public_base_url)  # the cloud's own address, not the one citizens use
        try:
            response = await self.client.http.get(path, headers={"Range": f"bytes=0-{length - 1}"})
        except httpx.HTTPError as exc:
            raise CloudUnavailable(f"cos.GetObject: {type(exc).__name__}") from exc
        if response.status_code not in (200, 206):
            raise CloudError(
                service="cos", action="GetObject", cloud_code=f"HTTP{response.status_code}", message="", request_id=None
            )
        return response.content[:length]

    async def delete(self, key: str) -> None:
        await self.client.call(
            "cos", "DeleteObject", "2024-01-01", {"Bucket": self.bucket, "Key": key}, idempotent=True
        )


class CloudSms:
    def __init__(self, client: CloudClient, *, app_id: str = "1400000001", sign_name: str = "江门人才岛") -> None:
        self.client, self.app_id, self.sign_name = client, app_id, sign_name

    async def send(self, *, phone: str, template: str, params: list[str], client_token: str) -> SmsSent:
        response = await self.client.call(
            "sms",
            "SendSms",
            "2021-01-11",
            {
                "SmsSdkAppId": self.app_id,
                "SignName": self.sign_name,
                "TemplateId": template,
                "TemplateParamSet": params,
                "PhoneNumberSet": [f"+86{phone}" if not phone.startswith("+") else phone],
                "ClientToken": client_token,
            },
            idempotent=True,  # safe: the ClientToken makes a retry the same message
        )
        status = response["SendStatusSet"][0]
        if status["Code"] != "Ok":
            raise CloudError(
                service="sms",
                action="SendSms",
                cloud_code=status["Code"],
                message=status["Message"],
                request_id=response.get("RequestId"),
            )
        return SmsSent(serial_no=status["SerialNo"], fee=status.get("Fee", 1))


class CloudIdentityVerification:
    def __init__(self, client: CloudClient) -> None:
        self.client = client

    async def verify_identity(self, *, name: str, id_number: str) -> IdentityMatch:
        response = await self.client.call(
            "faceid", "IdCardVerification", "2018-03-01", {"IdCard": id_number, "Name": name}, idempotent=True
        )
        return _ID_RESULTS.get(str(response["Result"]), IdentityMatch.NOT_FOUND)

    async def verify_degree(self, *, name: str, id_number: str, certificate_no: str) -> DegreeRecord | None:
        response = await self.client.call(
            "edu",
            "VerifyDegree",
            "2024-01-01",
            {"Name": name, "IdCard": id_number, "CertificateNo": certificate_no},
            idempotent=True,
        )
        if response.get("Result") != "Verified":
            return None
        return DegreeRecord(degree=response["Degree"], institution=response["Institution"], year=response["Year"])

    async def tax_records(self, *, id_number: str, months: int = 12) -> list[TaxMonth]:
        response = await self.client.call(
            "tax", "DescribeIncomeRecords", "2024-01-01", {"IdCard": id_number, "Months": months}, idempotent=True
        )
        return [TaxMonth(month=r["Month"], income=r["Income"], employer=r["Employer"]) for r in response["Records"]]


class CloudPayments:
    def __init__(self, client: CloudClient) -> None:
        self.client = client

    def _order(self, response: dict) -> PaymentOrder:
        return PaymentOrder(
            order_id=response["OrderId"],
            out_trade_no=response["OutTradeNo"],
            pay_url=response["PayUrl"],
            status=_PAY_STATUS[response["Status"]],
        )

    async def create_order(self, *, out_trade_no: str, amount: int, currency: str, description: str) -> PaymentOrder:
        response = await self.client.call(
            "pay",
            "CreateOrder",
            "2024-01-01",
            {"OutTradeNo": out_trade_no, "Amount": amount, "Currency": currency, "Description": description},
            idempotent=True,  # safe: the out-trade number is the idempotency key
        )
        return self._order(response)

    async def query(self, *, out_trade_no: str) -> PaymentOrder:
        response = await self.client.call(
            "pay", "QueryOrder", "2024-01-01", {"OutTradeNo": out_trade_no}, idempotent=True
        )
        return self._order(response)

    async def refund(self, *, out_trade_no: str, out_refund_no: str, amount: int, reason: str) -> str:
        response = await self.client.call(
            "pay",
            "RefundOrder",
            "2024-01-01",
            {"OutTradeNo": out_trade_no, "OutRefundNo": out_refund_no, "Amount": amount, "Reason": reason},
            idempotent=True,  # safe: the out-refund number is the idempotency key
        )
        return response["RefundId"]


class CloudESign:
    def __init__(self, client: CloudClient) -> None:
        self.client = client

    async def sign(self, *, sha256: str) -> DigestSignature:
        response = await self.client.call("ess", "SignDigest", "2020-11-11", {"Digest": sha256}, idempotent=True)
        return DigestSignature(
            signature=response["Signature"],
            key_id=response["KeyId"],
            signed_at=datetime.fromtimestamp(response["SignedAt"], UTC),
        )

    async def verify(self, *, sha256: str, signature: str, key_id: str) -> bool:
        try:
            base64.b64decode(signature, validate=True)
        except ValueError:
            return False
        response = await self.client.call(
            "ess",
            "VerifyDigest",
            "2020-11-11",
            {"Digest": sha256, "Signature": signature, "KeyId": key_id},
            idempotent=True,
        )
        return bool(response["Valid"])


def new_client_token() -> str:
    return uuid.uuid4().hex
