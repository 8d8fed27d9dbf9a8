"""The whole path over HTTP with real tokens: apply, upload, request for information, answer, review, pay through the
mock cloud (its signed callback included), approve, issue, verify publicly, revoke, verify again."""

import base64
import hashlib
import json

from services.cloud.mock_server import MockCloud
from tests.helpers import assert_problem
from tests.services.permits.conftest import APPLICATIONS, PDF, act, fetch, upload

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_a_permit_from_application_to_public_verification_and_revocation(
    app, client, db, street_vendor, citizen, officer, supervisor, worker
) -> None:
    mock: MockCloud = app.state.cloud.mock
    # -- the citizen drafts, uploads the required document, and submits ------------------------------------------
    draft = await client.post(
        APPLICATIONS,
        json={"service_code": street_vendor, "form": {"stall_type": "food", "area_m2": 6, "location": "夜市 A-12"}},
        headers={**citizen, "Idempotency-Key": "e2e-apply-1"},
    )
    assert draft.status_code == 201, draft.text
    application = draft.json()
    app_id = application["id"]
    assert application["status"] == "draft"
    assert application["reference"].startswith("TI-P-")
    assert [(f["code"], f["due"]) for f in application["fees"]] == [("licence_fee", 5000)]  # 6 m²: no large-stall fee
    assert application["fee_total"] == 5000
    assert application["allowed_actions"] == ["edit", "submit", "withdraw"]

    refused = await act(client, citizen, app_id, "submit")
    body = assert_problem(refused, 409, "action-refused")
    assert [e["field"] for e in body["errors"]] == ["documents.id_card"]

    confirmed = await upload(client, citizen, app_id, "id_card", PDF)
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["status"], confirmed.json()["sha256"]) == ("uploaded", hashlib.sha256(PDF).hexdigest())

    submitted = await act(client, citizen, app_id, "submit")
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    assert submitted.json()["sla"]["risk"] == "on_track"
    assert submitted.json()["sla"]["due_at"]

    await worker.drain()  # the completeness check
    assert (await fetch(client, citizen, app_id)).json()["status"] == "screening"

    # -- the officer finds it in the queue, claims it and asks for a photo of the stall ------------------------------
    queue = (
        await client.get(APPLICATIONS, headers=officer, params={"status": "screening", "service": street_vendor})
    ).json()
    assert [item["id"] for item in queue["items"]] == [app_id]
    claimed = await act(client, officer, app_id, "claim")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "under_review"
    assert "request_info" in claimed.json()["allowed_actions"]

    asked = await act(
        client, officer, app_id, "request_info", reason="请补充摊位照片。", documents=["stall_photo"], due_in_days=7
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "awaiting_applicant"
    assert asked.json()["sla"]["paused"] is True
    assert asked.json()["information_request"]["question"] == "请补充摊位照片。"

    # -- the citizen answers, with the photo -------------------------------------------------------------------------
    assert_problem(await act(client, citizen, app_id, "answer", reason="已上传。"), 409, "action-refused")
    assert (await upload(client, citizen, app_id, "stall_photo", PNG, "image/png")).status_code == 200
    answered = await act(client, citizen, app_id, "answer", reason="已上传摊位照片。")
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "under_review"
    assert answered.json()["sla"]["paused"] is False
    assert answered.json()["information_request"] is None

    # -- the officer accepts the documents and passes the review ---------------------------------------------------
    checklist = (await client.get(f"{APPLICATIONS}/{app_id}/documents", headers=officer)).json()["items"]
    for item in checklist:
        reviewed = await client.post(
            f"{APPLICATIONS}/{app_id}/documents/{item['document']['id']}/review",
            json={"decision": "accepted"},
            headers=officer,
        )
        assert reviewed.json()["status"] == "accepted"
    passed = await act(client, officer, app_id, "pass")
    assert passed.status_code == 200, passed.text
    assert passed.json()["status"] == "pending_payment"
    assert "pay" in (await fetch(client, citizen, app_id)).json()["allowed_actions"]
    assert_problem(await act(client, supervisor, app_id, "approve"), 409, "action-refused")  # not paid yet

    # -- the citizen pays on the cloud's payment page; the signed callback records it ------------------------------
    order = await client.post(f"{APPLICATIONS}/{app_id}/payment", headers={**citizen, "Idempotency-Key": "e2e-pay-1"})
    assert order.status_code == 201, order.text
    assert order.json()["amount"] == 5000
    paid = await client.post(order.json()["pay_url"], data={"card": "4111111111111111"})
    assert paid.json()["Status"] == "SUCCESS"
    await mock.idle()
    await worker.drain()
    assert (await fetch(client, citizen, app_id)).json()["paid_at"]

    # -- the supervisor approves; the worker issues the signed permit ---------------------------------------------
    approved = await act(client, supervisor, app_id, "approve", conditions=["仅限夜市时段经营"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    await worker.drain()
    issued = (await fetch(client, citizen, app_id)).json()
    assert issued["status"] == "issued"
    assert issued["permit_number"] == issued["reference"].replace("TI-P-", "TI-PERMIT-")

    # -- anyone verifies it; the register lists it ------------------------------------------------------------------
    mine = await client.get("/api/v1/me/credentials", headers=citizen)
    assert mine.status_code == 200, mine.text
    mine = mine.json()["items"]
    [credential] = [c for c in mine if c["number"] == issued["permit_number"]]
    assert credential["title"] == "流动摊贩经营许可"
    verify = "/api/v1/credentials/verify"
    verified = (await client.get(verify, params={"token": credential["token"]})).json()
    in_english = await client.post(verify, json={"token": credential["token"]}, headers={"Accept-Language": "en"})
    assert (in_english.json()["title"], in_english.json()["status"]) == ("Street vendor permit", "active")
    assert (verified["integrity"], verified["status"], verified["number"]) == (
        "valid",
        "active",
        issued["permit_number"],
    )
    assert "13800000001" not in str(verified)
    assert "applicant" not in str(verified)
    # The holder is a person (the citizen's own name): masked in the signed permit anyone verifies, as on the register.
    masked = "陈**"  # a person: masked, and not its length either
    assert (verified["holder_name"], credential["holder_name"]) == (masked, masked)
    payload = credential["token"].split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["holder_name"] == masked
    register = (await client.get("/api/v1/permits/register", params={"number": issued["permit_number"]})).json()
    assert [(e["permit_number"], e["status"], e["service_code"], e["service_title"]) for e in register["items"]] == [
        (issued["permit_number"], "active", street_vendor, "流动摊贩经营许可")
    ]
    assert register["items"][0]["holder_name"] == masked  # a person: masked
    by_name = (await client.get("/api/v1/permits/register", params={"holder": "陈明"})).json()
    assert by_name["items"] == []  # and not searchable by name
    assert_problem(await client.get("/api/v1/permits/register"), 422)

    # -- the supervisor revokes it; verification says so -----------------------------------------------------------
    current = await client.get(f"/api/v1/credentials/{credential['id']}", headers=supervisor)
    revoked = await client.post(
        f"/api/v1/credentials/{credential['id']}/actions/revoke",
        json={"reason": "经营地点不符"},
        headers={**supervisor, "If-Match": current.headers["etag"]},
    )
    assert revoked.status_code == 200, revoked.text
    verified = (await client.get("/api/v1/credentials/verify", params={"token": credential["token"]})).json()
    # Revoked for cause: no permit stands in its place.
    assert (verified["integrity"], verified["status"], verified["replaced_by"]) == ("valid", "revoked", None)
    register = (await client.get("/api/v1/permits/register", params={"number": issued["permit_number"]})).json()
    assert (register["items"][0]["status"], register["items"][0]["replaced_by"]) == ("revoked", None)

    # -- the record: every step, and the applicant was told at each change ----------------------------------------
    steps = (await client.get(f"{APPLICATIONS}/{app_id}/history", headers=citizen)).json()["items"]
    assert [(s["action"], s["to_status"]) for s in steps] == [
        ("create", "draft"),
        ("submit", "submitted"),
        ("screen", "screening"),
        ("claim", "under_review"),
        ("request_info", "awaiting_applicant"),
        ("answer", "under_review"),
        ("pass", "pending_payment"),
        ("pay", "pending_payment"),
        ("approve", "approved"),
        ("issue", "issued"),
    ]
    inbox = (await client.get("/api/v1/me/notifications", headers=citizen, params={"limit": 50})).json()["items"]
    told = [n["body"] for n in inbox if n["template"] == "permit_status_changed"]
    assert any("审查中" in text for text in told)
    assert any("已发证" in text for text in told)
    assert any(n["template"] == "payment_received" for n in inbox)
