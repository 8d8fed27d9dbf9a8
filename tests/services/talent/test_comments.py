"""A registration's conversation (core.comments, as permits have it): the talent office writes to the applicant and
keeps internal notes, the applicant and their sponsor answer, each side is told, and others' reads are logged."""

from tests.helpers import all_pages, assert_problem
from tests.oauth import bearer, token_for
from tests.services.talent.conftest import APPLICATIONS, DEGREE_MASTER_2019, act, declare

DEGREE = {
    "kind": "education",
    "level": "master",
    "institution": "Sun Yat-sen University",
    "year": 2019,
    "certificate_no": DEGREE_MASTER_2019,
}


async def _told(app, client, login: str, reference: str) -> list[tuple[str, str | None]]:
    """What `login` was told of the application, read with a token for their inbox (the `account` scope)."""
    client_id = "demo-web" if login.isdigit() else "officer-console"
    inbox_token = bearer(await token_for(app, login, "account", client_id=client_id))
    inbox = await client.get("/api/v1/me/notifications", headers=inbox_token, params={"limit": 100})
    assert inbox.status_code == 200, inbox.text
    return [(n["template"], n["sms_status"]) for n in inbox.json()["items"] if reference in n["body"]]


async def test_the_office_and_the_applicant_write_to_each_other_and_internal_notes_stay_internal(
    app, client, applicant, sponsor, officer, other_applicant, worker
) -> None:
    me = (await client.get("/api/v1/me", headers=applicant)).json()["id"]
    created = (await client.post(APPLICATIONS, json={"on_behalf_of": me}, headers=sponsor)).json()
    app_id, reference = created["id"], created["reference"]
    url = f"{APPLICATIONS}/{app_id}/comments"
    await declare(client, applicant, app_id, DEGREE)
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    await worker.drain()

    asked = await client.post(url, json={"body": "What else do you need?"}, headers=applicant)
    assert asked.status_code == 201, asked.text
    assert (asked.json()["author_role"], asked.json()["visibility"]) == ("applicant", "applicant")
    assert_problem(await client.post(url, json={"body": "x", "visibility": "internal"}, headers=applicant), 403)
    assert_problem(await client.post(url, json={"body": "x", "visibility": "internal"}, headers=sponsor), 403)
    note = await client.post(url, json={"body": "Registry answered slowly", "visibility": "internal"}, headers=officer)
    assert (note.status_code, note.json()["author_role"]) == (201, "officer")
    assert (await client.post(url, json={"body": "Nothing more for now."}, headers=officer)).status_code == 201
    assert (await client.post(url, json={"body": "Thanks, from the employer."}, headers=sponsor)).status_code == 201

    async def seen(headers) -> list[tuple[str, str]]:
        return [(c["author_role"], c["body"]) for c in await all_pages(client, url, headers, limit=2)]

    meant_for_the_applicant = [
        ("applicant", "What else do you need?"),
        ("officer", "Nothing more for now."),
        ("partner", "Thanks, from the employer."),
    ]
    assert await seen(applicant) == meant_for_the_applicant
    assert await seen(sponsor) == meant_for_the_applicant
    internal = ("officer", "Registry answered slowly")
    assert await seen(officer) == [meant_for_the_applicant[0], internal, *meant_for_the_applicant[1:]]
    assert_problem(await client.get(url, headers=other_applicant), 404)

    # The applicant is told of the office's words (inbox and SMS, not the words themselves); nobody was told of the
    # internal note, nor of the applicant's and sponsor's words while nobody had taken the registration.
    await worker.drain()
    messages = [
        notice for notice in await _told(app, client, "13800000003", reference) if notice[0] == "application_message"
    ]
    assert messages == [("application_message", "sent")]
    inbox_token = bearer(await token_for(app, "13800000003", "account", client_id="demo-web"))
    inbox = (await client.get("/api/v1/me/notifications", headers=inbox_token, params={"limit": 100})).json()["items"]
    [message] = [n for n in inbox if n["template"] == "application_message" and reference in n["body"]]
    sms = str(app.state.cloud.mock.sms[f"notification-{message['id']}"])
    assert reference in sms
    for words in ("Nothing more for now", "Registry answered slowly"):
        assert words not in message["title"] + message["body"] + sms
    assert await _told(app, client, "officer.talent", reference) == []
    # Once the officer has taken it, the applicant's words reach them, in the inbox only.
    assert (await act(client, officer, app_id, "claim")).status_code == 200
    assert (await client.post(url, json={"body": "I sent the payslips."}, headers=applicant)).status_code == 201
    await worker.drain()
    assert await _told(app, client, "officer.talent", reference) == [("application_reply", None)]


async def test_reading_the_conversation_is_logged_for_all_but_the_applicant(client, applicant, officer, worker) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, app_id, DEGREE)
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    await worker.drain()
    url = f"{APPLICATIONS}/{app_id}/comments"

    async def logged() -> int:
        entries = await all_pages(client, "/api/v1/me/access-log", applicant, limit=100)
        return sum(entry["object_id"] == app_id for entry in entries)

    before = await logged()
    assert (await client.get(url, headers=applicant)).status_code == 200
    assert await logged() == before  # one's own reads are not
    assert (await client.get(url, headers=officer)).status_code == 200
    assert await logged() == before + 1


async def test_a_retried_comment_is_written_once(client, applicant) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    url = f"{APPLICATIONS}/{app_id}/comments"
    headers = {**applicant, "Idempotency-Key": "comment-retry-1"}
    first = await client.post(url, json={"body": "Is a scanned diploma enough?"}, headers=headers)
    again = await client.post(url, json={"body": "Is a scanned diploma enough?"}, headers=headers)
    assert (first.status_code, again.status_code, again.json()["id"]) == (201, 201, first.json()["id"])
    assert [c["id"] for c in (await client.get(url, headers=applicant)).json()["items"]] == [first.json()["id"]]
    assert_problem(await client.post(url, json={"body": "   "}, headers=applicant), 422)
    assert_problem(await client.post(url, json={"body": "x" * 4001}, headers=applicant), 422)


async def test_words_waiting_unread_are_told_once(app, client, applicant, officer, worker) -> None:
    """Three notes from the office while the applicant has not read the notice about the first: one notice, one SMS.
    Once they have read it, the next note is told again."""
    created = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()
    app_id, reference = created["id"], created["reference"]
    await declare(client, applicant, app_id, DEGREE)
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    await worker.drain()
    url = f"{APPLICATIONS}/{app_id}/comments"
    inbox = bearer(await token_for(app, "13800000003", "account", client_id="demo-web"))

    async def messages() -> list[dict]:
        items = (await client.get("/api/v1/me/notifications", headers=inbox, params={"limit": 100})).json()["items"]
        return [n for n in items if n["template"] == "application_message" and reference in n["body"]]

    for n in range(3):
        assert (await client.post(url, json={"body": f"Note {n}"}, headers=officer)).status_code == 201
        await worker.drain()
    [notice] = await messages()
    assert (await client.post(f"/api/v1/me/notifications/{notice['id']}/read", headers=inbox)).status_code == 200
    assert (await client.post(url, json={"body": "One more"}, headers=officer)).status_code == 201
    await worker.drain()
    assert [n["read_at"] is None for n in await messages()] == [True, False]  # newest first


async def test_an_officer_writing_on_their_own_registration_writes_as_its_applicant(
    app, client, officer, supervisor, worker
) -> None:
    """A talent officer who applied sees their registration in the office's queue with their staff token too; what
    they write there is the applicant's (it was labelled as an officer's, which the officer handling it would take for
    the office's word), and no internal note of theirs nor any other reaches them."""
    both = bearer(await token_for(app, "officer.talent", "openid talent:apply talent:review"))
    app_id = (await client.post(APPLICATIONS, json={}, headers=both)).json()["id"]
    await declare(client, both, app_id, DEGREE)
    assert (await act(client, both, app_id, "submit")).status_code == 200, "submitted"
    await worker.drain()
    url = f"{APPLICATIONS}/{app_id}/comments"
    note = await client.post(
        url, json={"body": "Only the office reads this", "visibility": "internal"}, headers=supervisor
    )
    assert note.status_code == 201, note.text

    written = await client.post(url, json={"body": "My diploma is on its way."}, headers=officer)
    assert written.status_code == 201, written.text
    assert (written.json()["author_role"], written.json()["visibility"]) == ("applicant", "applicant")
    refused = await client.post(url, json={"body": "x", "visibility": "internal"}, headers=officer)
    assert_problem(refused, 403)
    assert [(c["author_role"], c["body"]) for c in await all_pages(client, url, officer)] == [
        ("applicant", "My diploma is on its way.")
    ]
    assert [(c["author_role"], c["visibility"]) for c in await all_pages(client, url, supervisor)] == [
        ("supervisor", "internal"),
        ("applicant", "applicant"),
    ]


async def test_who_reaches_a_registrations_conversation(app, client, applicant, sponsor, officer, worker) -> None:
    """The sponsor reads and writes while the citizen's mandate stands, and not once it is withdrawn (404, nothing
    written); staff of another department, and the talent office before the registration is sent, reach nothing."""
    me = (await client.get("/api/v1/me", headers=applicant)).json()
    app_id = (await client.post(APPLICATIONS, json={"on_behalf_of": me["id"]}, headers=sponsor)).json()["id"]
    url = f"{APPLICATIONS}/{app_id}/comments"
    assert (await client.post(url, json={"body": "Filed for our engineer."}, headers=sponsor)).status_code == 201
    assert_problem(await client.get(url, headers=officer), 404)  # a draft is not the office's yet
    assert_problem(await client.post(url, json={"body": "x"}, headers=officer), 404)
    market = bearer(await token_for(app, "officer.market", "openid permits:process talent:apply"))
    assert_problem(await client.get(url, headers=market), 404)
    assert_problem(await client.post(url, json={"body": "x"}, headers=market), 404)

    withdrawn = await client.delete("/api/v1/me/representations/demo-partner", headers=applicant)
    assert withdrawn.status_code == 204, withdrawn.text
    assert_problem(await client.get(url, headers=sponsor), 404)
    assert_problem(await client.post(url, json={"body": "Still here?"}, headers=sponsor), 404)
    assert [(c["author_role"], c["body"]) for c in await all_pages(client, url, applicant)] == [
        ("partner", "Filed for our engineer.")
    ]
