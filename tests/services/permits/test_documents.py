"""Documents: the checklist, presigned uploads checked against what storage holds, reviews, downloads, comments."""

import asyncio
import hashlib
import uuid

from sqlalchemy import select

from core.accesslog import AccessLogEntry
from services.permits.models import PermitDocument
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for
from tests.services.permits.conftest import APPLICATIONS, PDF, act, create, fetch, upload


async def _start(client, citizen, app_id: str, **overrides):
    body = {"code": "id_card", "filename": "id.pdf", "media_type": "application/pdf", "size": len(PDF), **overrides}
    return await client.post(f"{APPLICATIONS}/{app_id}/documents", json=body, headers=citizen)


async def test_a_file_that_is_not_what_it_claims_is_refused_and_deleted(app, client, street_vendor, citizen) -> None:
    draft = await create(client, citizen)
    fake = b"MZ\x90\x00 this is an executable, not a PDF"
    refused = await upload(client, citizen, draft["id"], "id_card", fake, "application/pdf")
    body = assert_problem(refused, 415, "document-type-refused")
    assert "not a PDF, PNG or JPEG" in body["detail"]
    checklist = (await client.get(f"{APPLICATIONS}/{draft['id']}/documents", headers=citizen)).json()["items"]
    line = next(item for item in checklist if item["code"] == "id_card")
    assert line["document"]["status"] == "awaiting_upload"
    key = f"permits/{draft['id']}/{line['document']['id']}"
    assert await app.state.cloud.cloud.storage.head(key) is None  # the bad file is gone from storage


async def test_a_checksum_that_does_not_match_is_refused(client, street_vendor, citizen) -> None:
    draft = await create(client, citizen)
    refused = await upload(client, citizen, draft["id"], confirm_sha256=hashlib.sha256(b"other").hexdigest())
    body = assert_problem(refused, 422, "document-checksum-mismatch")
    assert [e["field"] for e in body["errors"]] == ["sha256"]


async def test_sizes_types_and_codes_are_checked_before_any_upload(client, street_vendor, citizen) -> None:
    draft = await create(client, citizen)
    assert_problem(await _start(client, citizen, draft["id"], size=200_001), 413, "document-too-large")
    assert_problem(await _start(client, citizen, draft["id"], code="stall_photo", media_type="image/gif"), 422)
    assert_problem(await _start(client, citizen, draft["id"], media_type="image/png"), 415, "document-type-refused")
    assert_problem(await _start(client, citizen, draft["id"], code="passport"), 422)
    names = await _start(client, citizen, draft["id"], filename="../../etc/pass\x01wd;.pdf")
    assert names.status_code == 201
    assert names.json()["document"]["filename"] == "passwd_.pdf"  # no path, no control character, no separator
    assert_problem(await _start(client, citizen, draft["id"], filename="pass\x00wd.pdf"), 400, "bad-request")
    assert "etc" not in names.json()["upload"]["url"]


async def test_uploads_are_closed_while_the_officer_reviews(client, street_vendor, citizen, officer, worker) -> None:
    draft = await create(client, citizen)
    await upload(client, citizen, draft["id"])
    await act(client, citizen, draft["id"], "submit")
    await worker.drain()
    await act(client, officer, draft["id"], "claim")
    assert_problem(await _start(client, citizen, draft["id"]), 409, "action-refused")


async def test_an_officers_download_is_in_the_citizens_access_log(
    app, client, db, street_vendor, citizen, officer, worker
):
    draft = await create(client, citizen)
    document = (await upload(client, citizen, draft["id"])).json()
    await act(client, citizen, draft["id"], "submit")
    await worker.drain()
    link = await client.get(f"{APPLICATIONS}/{draft['id']}/documents/{document['id']}/download", headers=officer)
    assert link.status_code == 200, link.text
    fetched = await client.get(link.json()["url"])
    assert fetched.content == PDF
    assert fetched.headers["content-disposition"] == "attachment"
    log = (await client.get("/api/v1/me/access-log", headers=citizen)).json()["items"]
    assert [(e["reader_kind"], e["reader_department"], e["object_type"], e["purpose"]) for e in log] == [
        ("officer", "market", "permit_document", f"application {draft['reference']}: document id_card")
    ]
    # the applicant's own download is not "someone else reading"
    own = await client.get(f"{APPLICATIONS}/{draft['id']}/documents/{document['id']}/download", headers=citizen)
    assert own.status_code == 200
    async with db.transaction(write=False) as session:
        assert len((await session.execute(select(AccessLogEntry.id))).all()) == 1


async def test_internal_comments_stay_internal(app, client, street_vendor, citizen, officer, worker) -> None:
    draft = await create(client, citizen)
    await upload(client, citizen, draft["id"])
    await act(client, citizen, draft["id"], "submit")
    await worker.drain()
    url = f"{APPLICATIONS}/{draft['id']}/comments"
    assert (await client.post(url, json={"body": "请问需要多久？"}, headers=citizen)).status_code == 201
    internal = await client.post(url, json={"body": "申请人曾有违规记录", "visibility": "internal"}, headers=officer)
    assert internal.status_code == 201
    assert (await client.post(url, json={"body": "约三个工作日。"}, headers=officer)).status_code == 201
    assert_problem(await client.post(url, json={"body": "x", "visibility": "internal"}, headers=citizen), 403)
    seen_by_citizen = [c["body"] for c in (await client.get(url, headers=citizen)).json()["items"]]
    assert seen_by_citizen == ["请问需要多久？", "约三个工作日。"]
    seen_by_officer = [
        (c["author_role"], c["visibility"]) for c in (await client.get(url, headers=officer)).json()["items"]
    ]
    assert seen_by_officer == [("applicant", "applicant"), ("officer", "internal"), ("officer", "applicant")]
    assert (await fetch(client, citizen, draft["id"])).json()["status"] == "screening"

    # The other side is told: the officer's words to the citizen reach the citizen (inbox, and SMS, saying only that
    # there is a message); the internal note reaches nobody; the citizen's question reached nobody, for nobody had
    # taken the application yet.
    await worker.drain()
    reference = (await fetch(client, citizen, draft["id"])).json()["reference"]

    officers_inbox = bearer(await token_for(app, "officer.market", "account"))

    async def told(headers) -> list[tuple[str, str | None]]:
        inbox = await client.get("/api/v1/me/notifications", headers=headers, params={"limit": 100})
        assert inbox.status_code == 200, inbox.text
        inbox = inbox.json()
        return [(n["template"], n["sms_status"]) for n in inbox["items"] if reference in n["body"]]

    assert [t for t, _ in await told(citizen) if t == "application_message"] == ["application_message"]
    assert ("application_message", "sent") in await told(citizen)
    # Neither the inbox nor the SMS (which goes through the provider) carries the words, the internal note's least.
    inbox = (await client.get("/api/v1/me/notifications", headers=citizen, params={"limit": 100})).json()["items"]
    [message] = [n for n in inbox if n["template"] == "application_message"]
    assert reference in message["body"]
    sms = str(app.state.cloud.mock.sms[f"notification-{message['id']}"])
    assert reference in sms
    for words in ("约三个工作日", "申请人曾有违规记录"):
        assert words not in message["title"] + message["body"] + sms
    assert await told(officers_inbox) == []
    # Once an officer has it, the citizen's words reach that officer, in the inbox only.
    await act(client, officer, draft["id"], "claim")
    assert (await client.post(url, json={"body": "材料已补充。"}, headers=citizen)).status_code == 201
    await worker.drain()
    assert await told(officers_inbox) == [("application_reply", None)]
    # A page of the conversation at a time, oldest first.
    first = (await client.get(url, headers=officer, params={"limit": 2})).json()
    rest = (await client.get(url, headers=officer, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [c["body"] for c in first["items"] + rest["items"]] == [
        "请问需要多久？",
        "申请人曾有违规记录",
        "约三个工作日。",
        "材料已补充。",
    ]
    assert rest["next_cursor"] is None


async def test_a_file_is_uploaded_once_and_one_changed_in_storage_is_not_accepted(
    app, client, db, street_vendor, citizen, officer, worker
):
    draft = await create(client, citizen)
    started = await _start(client, citizen, draft["id"])
    target = started.json()["upload"]
    await client.put(target["url"], content=PDF, headers=target["headers"])
    document_id = started.json()["document"]["id"]
    confirmed = await client.post(
        f"{APPLICATIONS}/{draft['id']}/documents/{document_id}/confirm",
        json={"sha256": hashlib.sha256(PDF).hexdigest()},
        headers=citizen,
    )
    assert confirmed.json()["status"] == "uploaded"
    await act(client, citizen, draft["id"], "submit")
    await worker.drain()
    await act(client, officer, draft["id"], "claim")
    # The upload URL is still within its time, but it writes once: the confirmed file cannot be swapped through it.
    swapped = await client.put(target["url"], content=b"%PDF-1.7 something else entirely", headers=target["headers"])
    assert (swapped.status_code, swapped.json()["Error"]["Code"]) == (409, "FileAlreadyExists")

    # Changed in storage all the same (by another writer to the bucket): the confirmed sha256 still decides.
    storage = app.state.cloud.cloud.storage
    async with db.transaction(write=False) as session:
        key = (await session.get(PermitDocument, uuid.UUID(document_id))).object_key
    overwrite = storage._presigned("PUT", key, max_bytes=1 << 20)  # a URL that may replace the object
    assert (await client.put(overwrite.url, content=b"%PDF-1.7 something else entirely")).status_code == 200
    review = await client.post(
        f"{APPLICATIONS}/{draft['id']}/documents/{document_id}/review",
        json={"decision": "accepted"},
        headers=officer,
    )
    assert_problem(review, 409, "document-changed")
    link = await client.get(f"{APPLICATIONS}/{draft['id']}/documents/{document_id}/download", headers=officer)
    assert_problem(link, 409, "document-changed")


async def test_a_retried_announcement_comment_or_subscription_is_made_once(app, client, db, street_vendor, citizen):
    """The POSTs that create, with an Idempotency-Key: the retry is the first answer, and one row."""
    from sqlalchemy import func

    from services.partners.models import WebhookSubscription
    from services.permits.models import PermitComment
    from tests.oauth import bearer, client_token
    from tests.services.partners.test_webhooks import Receiver

    draft = await create(client, citizen)
    of_draft = uuid.UUID(draft["id"])
    manage = bearer(await client_token(app, "demo-partner", "webhooks:manage"))
    announce = {"code": "id_card", "filename": "id.pdf", "media_type": "application/pdf", "size": len(PDF)}
    receiver = Receiver()  # a URL the guard lets tests subscribe (loopback); nothing is delivered to it here
    receiver.server.shutdown()
    hook = {"url": receiver.url, "events": ["permits.application.submitted"]}
    attempts = [
        (f"{APPLICATIONS}/{draft['id']}/documents", citizen, announce, PermitDocument.application_id == of_draft),
        (
            f"{APPLICATIONS}/{draft['id']}/comments",
            citizen,
            {"body": "请尽快处理"},
            PermitComment.application_id == of_draft,
        ),
        ("/api/v1/partners/webhooks", manage, hook, WebhookSubscription.client_id == "demo-partner"),
    ]
    for index, (url, headers, body, rows) in enumerate(attempts):
        keyed = {**headers, "Idempotency-Key": f"retry-{index}"}
        first, again = [await client.post(url, json=body, headers=keyed) for _ in range(2)]
        assert first.status_code == 201, first.text
        assert (again.status_code, again.headers["idempotent-replayed"], again.json()) == (201, "true", first.json())
        async with db.transaction(write=False) as session:
            assert (await session.execute(select(func.count()).where(rows))).scalar_one() == 1


async def _under_review(client, citizen, officer, worker) -> tuple[dict, dict]:
    """A street vendor application with its ID card uploaded, submitted and claimed by the officer; and the card."""
    draft = await create(client, citizen)
    document = (await upload(client, citizen, draft["id"])).json()
    assert (await act(client, citizen, draft["id"], "submit")).status_code == 200
    await worker.drain()
    assert (await act(client, officer, draft["id"], "claim")).status_code == 200
    return draft, document


async def test_a_document_rejected_while_the_application_passes_does_not_leave_both_standing(
    client, street_vendor, citizen, officer, supervisor, worker
) -> None:
    """The officer passes the application while the supervisor rejects its document: one of the two wins, the other
    is refused (on PostgreSQL they ran side by side and both stood, 7 times in 10: fees fell due on a rejected
    document). A document's change moves the application's version, which pass read."""
    for _ in range(4):
        draft, document = await _under_review(client, citizen, officer, worker)
        review = f"{APPLICATIONS}/{draft['id']}/documents/{document['id']}/review"
        assert (await client.post(review, json={"decision": "accepted"}, headers=officer)).status_code == 200
        etag = (await fetch(client, officer, draft["id"])).headers["etag"]
        passed, rejected = await asyncio.gather(
            act(client, officer, draft["id"], "pass", etag=etag),
            client.post(review, json={"decision": "rejected", "reason": "照片模糊"}, headers=supervisor),
        )
        assert sorted([passed.status_code, rejected.status_code]) != [200, 200], (passed.text, rejected.text)
        now = (await fetch(client, officer, draft["id"])).json()
        [item] = [
            i
            for i in (await client.get(f"{APPLICATIONS}/{draft['id']}/documents", headers=officer)).json()["items"]
            if i["document"]
        ]
        assert (now["status"], item["document"]["status"]) in {
            ("pending_payment", "accepted"),
            ("under_review", "rejected"),
        }


async def test_blanks_are_no_reason_no_question_and_no_comment(client, street_vendor, citizen, officer, worker) -> None:
    draft, document = await _under_review(client, citizen, officer, worker)
    review = f"{APPLICATIONS}/{draft['id']}/documents/{document['id']}/review"
    blank = await client.post(review, json={"decision": "rejected", "reason": "   "}, headers=officer)
    assert [e["field"] for e in assert_problem(blank, 422)["errors"]] == ["reason"]
    asked = await act(client, officer, draft["id"], "request_info", reason=" \t ", due_in_days=3)
    assert [e["field"] for e in assert_problem(asked, 422)["errors"]] == ["reason"]
    said = await client.post(f"{APPLICATIONS}/{draft['id']}/comments", json={"body": "  "}, headers=officer)
    assert [e["field"] for e in assert_problem(said, 422)["errors"]] == ["body"]
    assert (await fetch(client, citizen, draft["id"])).json()["status"] == "under_review"


async def test_an_officers_step_shows_the_application_and_lands_in_the_access_log(
    client, street_vendor, citizen, officer, worker
) -> None:
    """The answer to a step shows the whole application (to the assigned officer, the personal answers too): logged
    like a read, a dry run's preview as well."""
    draft = await create(client, citizen)
    await upload(client, citizen, draft["id"])
    assert (await act(client, citizen, draft["id"], "submit")).status_code == 200
    await worker.drain()
    etag = (await fetch(client, citizen, draft["id"])).headers["etag"]  # the applicant's own read: not logged

    async def entries() -> list[str]:
        log = (await client.get("/api/v1/me/access-log", headers=citizen, params={"limit": 100})).json()["items"]
        return [entry["purpose"] for entry in log]

    before = await entries()
    claim = f"{APPLICATIONS}/{draft['id']}/actions/claim"
    previewed = await client.post(claim, params={"dry_run": "true"}, headers={**officer, "If-Match": etag}, json={})
    assert previewed.status_code == 200, previewed.text
    taken = await client.post(claim, headers={**officer, "If-Match": etag}, json={})
    assert taken.status_code == 200, taken.text
    assert await entries() == [f"application {draft['reference']}"] * 2 + before


async def test_each_document_answer_gives_the_applications_new_version_for_its_next_step(
    client, street_vendor, citizen, officer, worker
) -> None:
    """A document's change moves the application's version; each answer says the new one, so the next step needs no
    read in between (the applicant's submit after an upload got 412 with the version it had)."""
    draft = await create(client, citizen)
    started = await _start(client, citizen, draft["id"])
    assert started.json()["application_version"] == draft["version"] + 1
    target = started.json()["upload"]
    await client.put(target["url"], content=PDF, headers=target["headers"])
    confirm = f"{APPLICATIONS}/{draft['id']}/documents/{started.json()['document']['id']}/confirm"
    confirmed = await client.post(confirm, json={"sha256": hashlib.sha256(PDF).hexdigest()}, headers=citizen)
    version = confirmed.json()["application_version"]
    assert version == draft["version"] + 2
    assert (await fetch(client, citizen, draft["id"])).headers["etag"] == f'"{version}"'
    again = await client.post(confirm, json={"sha256": hashlib.sha256(PDF).hexdigest()}, headers=citizen)
    assert again.json()["application_version"] == version  # confirming twice changes nothing, the version neither

    submitted = await act(client, citizen, draft["id"], "submit", etag=f'"{version}"')
    assert submitted.status_code == 200, submitted.text
    await worker.drain()
    claimed = await act(client, officer, draft["id"], "claim")
    review = f"{APPLICATIONS}/{draft['id']}/documents/{started.json()['document']['id']}/review"
    reviewed = await client.post(review, json={"decision": "accepted"}, headers=officer)
    assert reviewed.json()["application_version"] == claimed.json()["version"] + 1
    passed = await act(client, officer, draft["id"], "pass", etag=f'"{reviewed.json()["application_version"]}"')
    assert passed.status_code == 200, passed.text
