"""The mock government cloud: a real HTTP API (FastAPI) that behaves like the real one, failures included.

- API 3.0 at `POST /`: the service comes from the Host (`sms.tencentcloudapi.com`), the action from `X-TC-Action`;
  every request's TC3-HMAC-SHA256 signature and timestamp are verified, and answers use the `{"Response": {...,
  "RequestId"}}` envelope with `Error.Code` / `Error.Message`, always HTTP 200, as the real API does.
- Objects: presigned `PUT` / `GET /storage/{bucket}/{key}`, stored on disk; `HeadObject` reports size and sha256.
- Callbacks: SMS delivery receipts and payment notifications are POSTed, TC3-signed with the callback key pair, to
  the backend, and re-delivered with backoff until it answers 2xx (at least once, like a real cloud).
- Personas (deterministic outcomes, listed in PERSONAS and the README) and fault injection per action (latency,
  error rate, timeout rate) from configuration or `PUT /_mock/faults`.

It runs in-process (httpx's ASGI transport, mounted at /mock-cloud for browsers) or alone:
`python main.py cloud-mock --port N`.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from services.cloud import signing

logger = logging.getLogger("ti.mock_cloud")

PERSONAS = {
    "id_mismatch": "440703198801010010",  # IdCardVerification: name and number do not match
    "id_not_found": "440703197001010026",  # IdCardVerification: no such record; no tax records either
    "sms_fails": "13900000404",  # SendSms accepted, the delivery receipt says FAIL (number out of service)
    "card_declined": "4000000000000002",  # the payment page declines this card
    "card_notified_twice": "4000000000000077",  # paid, and the notification is delivered twice
    "degree_unverifiable": "1055820242024404",  # VerifyDegree: no such certificate in the registry
}

# The SMS templates registered with the cloud (their ids are ours: services/notifications/templates.py); the cloud
# adds the signature 【人才岛政务】. The mock renders what the phone would show, for `GET /_mock/sms`.
SMS_TEMPLATES = {
    "100001": "【人才岛政务】您的注册验证码为{1}，10分钟内有效。请勿将验证码告诉他人。",
    "100002": "【人才岛政务】您正在重设密码，验证码为{1}，10分钟内有效。请勿将验证码告诉他人。",
    "100101": "【人才岛政务】{1}，您的实名认证已通过，现在可以在线办理人才岛政务服务。",
    "100103": "【人才岛政务】您的实名认证已通过，现在可以在线办理人才岛政务服务。",
    "100102": "【人才岛政务】您的账户密码已于{1}{2}，其他设备上的登录已退出。如非本人操作，请立即重设密码。",
    "100201": "【人才岛政务】您的申请{1}当前状态：{2}。",
    "100301": "【人才岛政务】您的人才认定申请{1}当前状态：{2}。",
    "100202": "【人才岛政务】经办人员就您的申请{1}给您留言，请登录查看。",
}

# Degree certificate numbers: 5-digit institution code, level digit, 4-digit year, 6-digit serial.
INSTITUTIONS = {
    "10001": "Peking University",
    "10003": "Tsinghua University",
    "10558": "Sun Yat-sen University",
    "10561": "South China University of Technology",
    "10590": "Shenzhen University",
    "11349": "Wuyi University",
}
LEVELS = {"2": "doctorate", "3": "master", "4": "bachelor"}
_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
_PHONE = re.compile(r"^\+861[0-9]{10}$")


class MockError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Fault:
    latency_ms: float = 0
    error_rate: float = 0
    timeout_rate: float = 0
    fail_next: int = 0  # the next N calls fail with InternalError, then the rates apply (deterministic tests)


class FaultSpec(BaseModel):
    latency_ms: float = Field(default=0, ge=0, le=60_000)
    error_rate: float = Field(default=0, ge=0, le=1)
    timeout_rate: float = Field(default=0, ge=0, le=1)
    fail_next: int = Field(default=0, ge=0, le=1000)


@dataclass
class MockCloud:
    """The mock's state. `callback` is the HTTP client it reaches the backend with (None: callbacks are dropped)."""

    api_secrets: dict[str, str]
    callback_secret_id: str
    callback_secret_key: str
    data_dir: Path
    public_base_url: str
    callback: httpx.AsyncClient | None = None
    faults: dict[str, Fault] = field(default_factory=dict)
    seed: int = 2026
    hang_seconds: float = 30.0
    receipt_delay: float = 0.2
    clock: Callable[[], float] = time.time
    received: Counter = field(default_factory=Counter)
    executed: Counter = field(default_factory=Counter)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    sms: dict[str, dict[str, Any]] = field(default_factory=dict)
    callbacks: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 (reproducible faults)
        self.tasks: set[asyncio.Task] = set()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._esign_key = _load_or_create_key(self.data_dir / "esign-ed25519.pem")
        raw = self._esign_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.esign_key_id = "ess-" + hashlib.sha256(raw).hexdigest()[:16]

    # --- faults and bookkeeping ----------------------------------------------------------------------------------

    def set_faults(self, faults: dict[str, dict[str, float]]) -> None:
        self.faults = {action: Fault(**spec) for action, spec in faults.items()}

    def fault_for(self, action: str) -> Fault:
        return self.faults.get(action) or self.faults.get("*") or Fault()

    async def idle(self) -> None:
        """Wait until every scheduled callback has been delivered or given up (tests)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def schedule(self, delay: float, path: str, payload: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(delay, path, payload))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, delay: float, path: str, payload: Any, attempts: int = 8) -> None:
        await asyncio.sleep(delay)
        if self.callback is None:
            return
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        for attempt in range(attempts):
            headers = signing.signed_headers(
                secret_id=self.callback_secret_id,
                secret_key=self.callback_secret_key,
                service="callback",
                host=self.callback.base_url.netloc.decode(),
                timestamp=int(self.clock()),
                body=body,
                extra={"x-tc-nonce": uuid.uuid4().hex},  # fresh per delivery: a redelivery is not a replay
                uri=path,
            )
            try:
                response = await self.callback.post(path, content=body, headers=headers)
                if response.status_code < 300:
                    self.callbacks["delivered"] += 1
                    return
            except httpx.HTTPError:
                pass
            self.callbacks["retried"] += 1
            await asyncio.sleep(min(0.1 * 2**attempt, 5.0))
        self.callbacks["given_up"] += 1
        logger.warning("mock cloud gave up a callback", extra={"path": path})

    # --- objects -------------------------------------------------------------------------------------------------

    def object_path(self, bucket: str, key: str) -> Path:
        # Keys are quoted whole (slashes too), so no key can climb out of its bucket's folder.
        return self.data_dir / "objects" / quote(bucket, safe="") / quote(key, safe="")

    def check_presigned(self, method: str, bucket: str, key: str, query: dict[str, str]) -> tuple[int, bool]:
        """The size cap and whether the URL may only create the object (never replace it), once its signature
        holds."""
        try:
            expires, max_bytes = int(query["q-expires"]), int(query["q-max-bytes"])
            secret_key = self.api_secrets[query["q-ak"]]
            given = query["q-signature"]
        except (KeyError, ValueError):
            raise MockError("AccessDenied", "The URL is not presigned.") from None
        if expires < self.clock():
            raise MockError("AccessDenied", "Request has expired.")
        write_once = query.get("q-write-once") == "1"
        path = f"/storage/{bucket}/{quote(key)}"
        expected = signing.presign(
            secret_key=secret_key, method=method, path=path, expires=expires, max_bytes=max_bytes, write_once=write_once
        )
        if not hmac.compare_digest(expected, given):
            raise MockError("SignatureDoesNotMatch", "The presigned URL's signature does not match.")
        return max_bytes, write_once

    # --- e-signature ---------------------------------------------------------------------------------------------

    def sign_digest(self, digest: str) -> str:
        return base64.b64encode(self._esign_key.sign(bytes.fromhex(digest))).decode()

    def verify_digest(self, digest: str, signature: str) -> bool:
        try:
            self._esign_key.public_key().verify(base64.b64decode(signature), bytes.fromhex(digest))
        except Exception:
            return False
        return True


def _load_or_create_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise RuntimeError(f"{path} is not an Ed25519 key")
        return key
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key


# --- API actions -----------------------------------------------------------------------------------------------------

Handler = Callable[[MockCloud, dict[str, Any]], Awaitable[dict[str, Any]]]
ACTIONS: dict[tuple[str, str], Handler] = {}


def action(service: str, name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ACTIONS[(service, name)] = handler
        return handler

    return register


def _required(params: dict[str, Any], name: str, kind: type = str) -> Any:
    if name not in params:
        raise MockError("MissingParameter", f"The parameter `{name}` is missing.")
    value = params[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MockError("InvalidParameter", f"The parameter `{name}` has the wrong type.")
    return value


def _id_number(params: dict[str, Any]) -> str:
    number = _required(params, "IdCard").upper()
    if not _ID_NUMBER.match(number):
        raise MockError("InvalidParameterValue.IdCardFormat", "IdCard is not an 18-character ID number.")
    return number


@action("faceid", "IdCardVerification")
async def _id_card_verification(mock: MockCloud, params: dict[str, Any]) -> dict[str, Any]:
    number, name = _id_number(params), _required(params, "Name")
    if not name.strip():
        raise MockError("InvalidParameterValue.Name", "Name is empty.")
    mock.executed["identity_checks"] += 1
    if number == PERSONAS["id_mismatch"]:
        return {"Result": "-1", "Description": "姓名和身份证号不一致"}
    if number == PERSONAS["id_not_found"]:
        return {"Result": "-3", "Description": "库中无此号"}
    return {"Result": "0", "Description": "姓名和身份证号一致"}


@action("edu", "VerifyDegree")
async def _verify_degree(mock: MockCloud, params: dict[str, Any]) -> dict[str, Any]:
    _id_number(params)
    certificate = _required(params, "CertificateNo")
    institution, level = INSTITUTIONS.get(certificate[:5]), LEVELS.get(certificate[5:6])
    if (
        certificate == PERSONAS["degree_unverifiable"]
        or not re.fullmatch(r"\d{16}", certificate)
        or institution is None
        or level is None
    ):
        return {"Result": "NotFound"}
    return {"Result": "Verified", "Degree": level, "Institution": institution, "Year": int(certificate[6:10])}


@action("tax", "DescribeIncomeRecords")
async def _income_records(mock: MockCloud, params: dict[str, Any]) -> dict[str, Any]:
    number = _id_number(params)
    months = _required(params, "Months", int)
    if not 1 <= months <= 36:
        raise MockError("InvalidParameterValue.Months", "Months must be between 1 and 36.")
    if number == PERSONAS["id_not_found"]:
        return {"Records": []}
    # A stable monthly income per person, 20,000-59,999 yuan, in fen.
    monthly = (20_000 + int(hashlib.sha256(number.encode()).hexdigest()[:8], 16) % 40_000) * 100
    year, month = time.gmtime(mock.clock())[:2]
    records = []
    for back in range(1, months + 1):
        y, m = divmod((year * 12 + month - 1) - back, 12)
        records.append({"Month": f"{y:04d}-{m + 1:02d}", "Income": monthly, "Employer": "江门人才岛科技有限公司"})
    return {"Records": records}


@action("sms", "SendSms")
async def _send_sms(mock: MockCloud, params: dict[str, Any]) -> dict[str, Any]:
    phones = _required(params, "PhoneNumberSet", list)
    template, values = _required(params, "TemplateId"), _required(params, "TemplateParamSet", list)
    token = _required(params, "ClientToken")
    if len(phones) != 1 or not isinstance(phones[0], str) or not _PHONE.match(phones[0]):
        raise MockError("InvalidParameterValue.IncorrectPhoneNumber", "PhoneNumberSet holds one +86 mobile number.")
    if not all(isinstance(value, str) for value in values) or not template.isdigit():
        raise MockError("InvalidParameterValue.TemplateParameterFormatError", "Template id or parameters are wrong.")
    # As the provider does: a registered template takes exactly as many parameters as it has places for.
    text = SMS_TEMPLATES.get(template)
    if text is not None and len(values) != len(re.findall(r"\{\d+\}", text)):
        raise MockError("InvalidParameterValue.TemplateParameterFormatError", "The parameters do not fit the template.")
    known = mock.sms.get(token)
    if known is None:  # a retried send (same ClientToken) is the same message
        known = {
            "SerialNo": f"2433:{uuid.uuid4().int % 10**20:020d}",
            "Phone": phones[0],
            "Template": template,
            "Params": list(values),
            "SentAt": mock.clock(),
        }
        mock.sms[token] = known
        mock.executed["sms_messages"] += 1
        failed = phones[0].endswith(PERSONAS["sms_fails"])
        receipt = {
            "user_receive_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(mock.clock() + 8 * 3600)),
            "nationcode": "86",
            "mobile": phones[0][3:],
            "report_status": "FAIL" if failed else "SUCCESS",
            "errmsg": "MK:0005" if failed else "DELIVRD",
            "description": "用户号码已停机或空号" if failed else "用户接收成功",
            "sid": known["SerialNo"],
        }
        mock.schedule(mock.receipt_delay, "/callbacks/cloud/sms", [receipt])
    return {
        "SendStatusSet": [
            {"SerialNo": known["SerialNo"], "PhoneNumber": phones[0], "Fee": 1, "Code": "Ok", "Message": "send success"}
        ]
    }


def _render_sms(template: str, params: list[str]) -> str | None:
    text = SMS_TEMPLATES.get(template)
    if text is None:
        return None
    for number, value in enumerate(params, start=1):
        text = text.replace(f"{{{number}}}", value)
    return text


def _order_view(mock: MockCloud, order: dict[str, Any]) -> dict[str, Any]:
    return {
        "OrderId": order["OrderId"],
        "OutTradeNo": order["OutTradeNo"],
        "Amount": order["Amount"],
        "Currency": order["Currency"],
        "Status": order["Status"],
        "PayUrl": f"{mock.public_base_url}/pay/{order['OrderId']}",
    }


@action("pay", "CreateOrder")
async def _create_order(mock: MockCloud, params: dict[str, Any]) -> dict[str, Any]:
    out_trade_no = _required(params, "OutTradeNo")
    amount, currency = _required(params, "Amount", int), _required(params, "Currency")
    description = _required(params, "Description")
    if not re.fullmatch(r"[A-Za-z0-9_-]{6,32}", out_trade_no):
        raise MockError("InvalidParameterValue.OutTradeNo", "OutTradeNo is 6-32 letters, digits, _ or -.")
    if amount <= 0 or currency != "CNY":
        raise MockError("InvalidParameterValue.Amount", "Amount must be positive, in CNY fen.")
    order = mock.orders.get(out_trade_no)
    if order is not None:
        if (order["Amount"], order["Currency"]) != (amount, currency):
            raise MockError("FailedOperation.OutTradeNoConflict", "This OutTradeNo was used with another amount.")
        return _order_view(mock, order)
    order = {
        "OrderId": f"PAY{uuid.uuid4().hex[:20].upper()}",
        "OutTradeNo": out_trade_no,
        "Amount": amount,
        "Currency": currency,
        "Description": description[:128],
        "Status": "NOTPAY",
        "Refunded": 0,
    }
    mock.orders[out_trade_no] = order
    mock.executed["orders"] += 1
    return _order_view(mock, order)


def _order(mock: MockCloud, out_trade_no: str) -> dict[str, Any]:
    order = mock.orders.get(out_trade_no)
    if order is None:
        raise MockError("ResourceNotFound.Order", "No order with this OutTradeNo.")
    return order


@action("pay", "QueryOrder")
async def _query_order(mock: MockCloud, params: dict[str, Any]) -> dict[str, Any]:
    return _order_view(mock, _order(mock, _required(params, "OutTradeNo")))


@action("pay", "RefundOrder")
async def _refund_order(mock: MockCloud, params: dict[str, Any]) -> dict[str, Any]:
    order = _order(mock, _required(params, "OutTradeNo"))
    refund_no, amount = _required(params, "OutRefundNo"), _required(params, "Amount", int)
    known = mock.refunds.get(refund_no)
    if known is not None:  # the same refund asked again
        return {"RefundId": known["RefundId"], "Status": "SUCCESS"}
    if order["Status"] not in ("SUCCESS", "REFUND") or not 0 < amount <= order["Amount"] - order["Refunded"]:
        raise MockError("FailedOperation.RefundNotAllowed", "The order is not paid, or the amount exceeds it.")
    refund = {"RefundId": f"RFD{uuid.uuid4().hex[:20].upper()}", "Amount": amount}
    mock.refunds[refund_no] = refund
    order["Refunded"] += amount
    order["Status"] = "REFUND"
    mock.executed["refunds"] += 1
    mock.schedule(mock.receipt_delay, "/callbacks/cloud/payments", _notification(order, "REFUND.SUCCESS", refund_no))
    return {"RefundId": refund["RefundId"], "Status": "SUCCESS"}


def _notification(order: dict[str, Any], event: str, refund_no: str | None = None) -> dict[str, Any]:
    return {
        "NotificationId": uuid.uuid4().hex,
        "EventType": event,
        "OutTradeNo": order["OutTradeNo"],
        "OrderId": order["OrderId"],
        "Amount": order["Amount"],
        "Currency": order["Currency"],
        "Status": order["Status"],
        "OutRefundNo": refund_no,
        "OccurredAt": int(time.time()),
    }


@action("cos", "HeadObject")
async def _head_object(mock: MockCloud, params: dict[str, Any]) -> dict[str, Any]:
    path = mock.object_path(_required(params, "Bucket"), _required(params, "Key"))
    meta = path.with_name(path.name + ".meta.json")
    if not path.exists() or not meta.exists():
        return {"Exists": False}
    return {"Exists": True, **json.loads(meta.read_text())}


@action("cos", "DeleteObject")
async def _delete_object(mock: MockCloud, params: dict[str, Any]) -> dict[str, Any]:
    path = mock.object_path(_required(params, "Bucket"), _required(params, "Key"))
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".meta.json").unlink(missing_ok=True)
    return {}


@action("ess", "SignDigest")
async def _sign_digest(mock: MockCloud, params: dict[str, Any]) -> dict[str, Any]:
    digest = _required(params, "Digest")
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise MockError("InvalidParameterValue.Digest", "Digest is a lower-case hex SHA-256.")
    mock.executed["signatures"] += 1
    return {"Signature": mock.sign_digest(digest), "KeyId": mock.esign_key_id, "SignedAt": int(mock.clock())}


@action("ess", "VerifyDigest")
async def _verify_digest(mock: MockCloud, params: dict[str, Any]) -> dict[str, Any]:
    digest, signature, key_id = _required(params, "Digest"), _required(params, "Signature"), _required(params, "KeyId")
    valid = key_id == mock.esign_key_id and bool(re.fullmatch(r"[0-9a-f]{64}", digest))
    return {"Valid": valid and mock.verify_digest(digest, signature)}


# --- the app ---------------------------------------------------------------------------------------------------------


def _envelope(request_id: str, body: dict[str, Any] | None = None, error: MockError | None = None) -> JSONResponse:
    response: dict[str, Any] = dict(body or {})
    if error is not None:
        response = {"Error": {"Code": error.code, "Message": error.message}}
    response["RequestId"] = request_id
    return JSONResponse({"Response": response})


def create_mock_app(mock: MockCloud) -> FastAPI:
    app = FastAPI(title="Mock government cloud", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.mock = mock

    @app.post("/")
    async def api(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        body = await request.body()
        headers = {key.lower(): value for key, value in request.headers.items()}
        try:
            verified = signing.verify(headers=headers, body=body, secrets=mock.api_secrets, now=int(mock.clock()))
            service = headers.get("host", "").split(".", 1)[0]
            if verified.service != service:
                raise MockError("AuthFailure.SignatureFailure", "The credential's service does not match the host.")
            name = headers.get("x-tc-action", "")
            handler = ACTIONS.get((service, name))
            if handler is None:
                raise MockError("InvalidAction", f"The action {service}.{name} does not exist.")
            if not headers.get("x-tc-version"):
                raise MockError("MissingParameter", "X-TC-Version is missing.")
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                raise MockError("InvalidParameter", "The body is not JSON.") from None
            if not isinstance(params, dict):
                raise MockError("InvalidParameter", "The body is not a JSON object.")
            mock.received[f"{service}.{name}"] += 1
            fault = mock.fault_for(name)
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.fail_next > 0 or (fault.error_rate and mock.rng.random() < fault.error_rate):
                fault.fail_next = max(0, fault.fail_next - 1)
                raise MockError("InternalError", "An internal error occurred; try again.")
            result = await handler(mock, params)
            mock.executed[f"{service}.{name}"] += 1
            if fault.timeout_rate and mock.rng.random() < fault.timeout_rate:
                await asyncio.sleep(mock.hang_seconds)  # applied, but the answer never arrives in time
            return _envelope(request_id, result)
        except signing.SignatureError as exc:
            return _envelope(request_id, error=MockError(exc.code, exc.message))
        except MockError as exc:
            return _envelope(request_id, error=exc)

    @app.put("/storage/{bucket}/{key:path}")
    async def put_object(bucket: str, key: str, request: Request) -> Response:
        try:
            max_bytes, write_once = mock.check_presigned("PUT", bucket, key, dict(request.query_params))
        except MockError as exc:
            return JSONResponse({"Error": {"Code": exc.code, "Message": exc.message}}, status_code=403)
        path = mock.object_path(bucket, key)
        if write_once and path.exists():  # as COS answers a PUT with x-cos-forbid-overwrite: true
            return JSONResponse(
                {"Error": {"Code": "FileAlreadyExists", "Message": "The object exists and may not be replaced."}},
                status_code=409,
            )
        digest, size, chunks = hashlib.sha256(), 0, []
        async for chunk in request.stream():
            size += len(chunk)
            if max_bytes and size > max_bytes:
                return JSONResponse(
                    {"Error": {"Code": "EntityTooLarge", "Message": f"The object exceeds {max_bytes} bytes."}},
                    status_code=400,
                )
            digest.update(chunk)
            chunks.append(chunk)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(chunks))
        meta = {
            "ContentLength": size,
            "Sha256": digest.hexdigest(),
            "ContentType": request.headers.get("content-type", "application/octet-stream"),
        }
        path.with_name(path.name + ".meta.json").write_text(json.dumps(meta))
        mock.executed["objects_stored"] += 1
        return Response(status_code=200, headers={"ETag": f'"{meta["Sha256"]}"'})

    @app.get("/storage/{bucket}/{key:path}")
    async def get_object(bucket: str, key: str, request: Request) -> Response:
        try:
            mock.check_presigned("GET", bucket, key, dict(request.query_params))
        except MockError as exc:
            return JSONResponse({"Error": {"Code": exc.code, "Message": exc.message}}, status_code=403)
        path = mock.object_path(bucket, key)
        meta_path = path.with_name(path.name + ".meta.json")
        if not path.exists() or not meta_path.exists():
            return JSONResponse({"Error": {"Code": "NoSuchKey", "Message": "No such object."}}, status_code=404)
        meta = json.loads(meta_path.read_text())
        headers = {"Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff", "Accept-Ranges": "bytes"}
        wanted = re.fullmatch(r"bytes=0-(\d+)", request.headers.get("range", ""))
        if wanted:  # the one range form the backend uses: the first N bytes
            with path.open("rb") as file:
                part = file.read(int(wanted.group(1)) + 1)
            headers["Content-Range"] = f"bytes 0-{max(len(part) - 1, 0)}/{meta['ContentLength']}"
            return Response(part, status_code=206, media_type=meta["ContentType"], headers=headers)
        return Response(path.read_bytes(), media_type=meta["ContentType"], headers=headers)

    @app.get("/pay/{order_id}", response_class=HTMLResponse)
    async def payment_page(order_id: str) -> HTMLResponse:
        order = next((o for o in mock.orders.values() if o["OrderId"] == order_id), None)
        if order is None:
            return HTMLResponse("<h1>订单不存在 / No such order</h1>", status_code=404)
        return HTMLResponse(
            f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>模拟支付 / Mock payment</title>
<h1>模拟支付 / Mock payment</h1><p>{escape(order["Description"])}</p>
<p>金额 / Amount: ¥{order["Amount"] / 100:.2f}</p><p>状态 / Status: {order["Status"]}</p>
<form method="post"><label>卡号 / Card <input name="card" value="4111111111111111" inputmode="numeric"></label>
<button type="submit">支付 / Pay</button></form></html>"""
        )

    @app.post("/pay/{order_id}")
    async def pay(order_id: str, request: Request) -> Response:
        order = next((o for o in mock.orders.values() if o["OrderId"] == order_id), None)
        if order is None:
            return JSONResponse({"Error": {"Code": "ResourceNotFound.Order", "Message": "No such order."}}, 404)
        card = str((await request.form()).get("card", "")).replace(" ", "")
        if order["Status"] != "NOTPAY":
            return JSONResponse({"Status": order["Status"]}, status_code=409)
        if card == PERSONAS["card_declined"]:
            order["Status"] = "PAYERROR"
            mock.schedule(0, "/callbacks/cloud/payments", _notification(order, "TRANSACTION.FAIL"))
        else:
            order["Status"] = "SUCCESS"
            notification = _notification(order, "TRANSACTION.SUCCESS")
            mock.schedule(0, "/callbacks/cloud/payments", notification)
            if card == PERSONAS["card_notified_twice"]:
                mock.schedule(0.05, "/callbacks/cloud/payments", notification)
        mock.executed["payments"] += 1
        return JSONResponse({"OrderId": order_id, "Status": order["Status"]})

    @app.get("/_mock/faults")
    async def read_faults() -> dict[str, Any]:
        return {action: asdict(fault) for action, fault in mock.faults.items()}

    @app.put("/_mock/faults")
    async def write_faults(faults: dict[str, FaultSpec]) -> dict[str, Any]:
        mock.set_faults({action: spec.model_dump() for action, spec in faults.items()})
        return {action: asdict(fault) for action, fault in mock.faults.items()}

    @app.get("/_mock/stats")
    async def stats() -> dict[str, Any]:
        return {
            "received": dict(mock.received),
            "executed": dict(mock.executed),
            "callbacks": dict(mock.callbacks),
            "pending": len(mock.tasks),
        }

    @app.get("/_mock/sms")
    async def messages(phone: str | None = None) -> list[dict[str, Any]]:
        """What the phones received, newest first (`?phone=13800000001` for one): the handset of the demo and tests,
        e.g. to read a one-time code."""
        wanted = f"+86{phone}" if phone and not phone.startswith("+") else phone
        sent = [message for message in mock.sms.values() if wanted is None or message["Phone"] == wanted]
        return [
            {
                "phone": message["Phone"],
                "template": message["Template"],
                "params": message.get("Params", []),
                "text": _render_sms(message["Template"], message.get("Params", [])),
                "sent_at": message.get("SentAt"),
            }
            for message in sorted(sent, key=lambda message: message.get("SentAt", 0), reverse=True)
        ]

    @app.get("/_mock/personas")
    async def personas() -> dict[str, str]:
        return PERSONAS

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
