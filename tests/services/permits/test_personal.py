"""Personal answers of a form (the fields a service marks `personal`): sealed at rest, shown whole to the applicant
and the officer the application is assigned to, masked for everyone else, every staff read in the access log."""

import uuid

import pytest
from sqlalchemy import select

from services.permits.models import PermitApplication
from tests.oauth import bearer, token_for
from tests.services.permits.conftest import APPLICATIONS, FORM, STREET_VENDOR, act, fetch, upload

SERVICE = "street-vendor-personal"
ID_NUMBER = "440703199001010023"
ID_FIELD = {
    "code": "id_number",
    "datatype": "string",
    "personal": True,
    "order": 4,
    "label": {"zh-CN": "身份证号", "en": "ID number"},
    "validation": {"pattern": "^[0-9X]{18}$"},
}


@pytest.fixture
async def vendor(app, client) -> str:
    """The street vendor permit, asking also for the vendor's ID number, marked personal."""
    editor = bearer(await token_for(app, "editor.market", "catalogue:write"))
    publisher = bearer(await token_for(app, "publisher", "catalogue:publish"))
    body = {**STREET_VENDOR, "code": SERVICE, "form": [*STREET_VENDOR["form"], ID_FIELD]}
    created = await client.post("/api/v1/catalogue/services", json=body, headers=editor)
    assert created.status_code == 201, created.text
    assert created.json()["form"][-1]["personal"] is True
    published = await client.post(
        f"/api/v1/catalogue/services/{SERVICE}/versions/1/actions/publish",
        headers={**publisher, "If-Match": created.headers["etag"]},
    )
    assert published.status_code == 200, published.text
    return SERVICE


async def _apply(client, headers, **body) -> dict:
    form = {**FORM, "id_number": ID_NUMBER}
    created = await client.post(APPLICATIONS, json={"service_code": SERVICE, "form": form, **body}, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()


async def _sent(client, worker, citizen) -> dict:
    draft = await _apply(client, citizen)
    await upload(client, citizen, draft["id"])
    assert (await act(client, citizen, draft["id"], "submit")).status_code == 200
    await worker.drain()
    return draft


async def _stored(db, application_id: str) -> tuple[dict, str | None]:
    async with db.transaction(write=False) as session:
        table = PermitApplication.__table__
        statement = select(table.c.form, table.c.form_sealed).where(table.c.id == uuid.UUID(application_id))
        return tuple((await session.execute(statement)).one())


async def test_personal_answers_are_ciphertext_at_rest(client, db, vendor, citizen) -> None:
    draft = await _apply(client, citizen)
    form, sealed = await _stored(db, draft["id"])
    assert form == FORM
    assert sealed is not None
    assert ID_NUMBER not in sealed
    assert draft["form"] == {**FORM, "id_number": ID_NUMBER}  # the applicant sees what they gave
    assert draft["form_masked"] is False


async def test_only_the_applicant_and_the_assigned_officer_see_personal_answers(
    client, vendor, citizen, officer, supervisor, worker
) -> None:
    draft = await _sent(client, worker, citizen)
    for reader in (officer, supervisor):  # not assigned: masked, the rest whole
        view = (await fetch(client, reader, draft["id"])).json()
        assert view["form"] == {**FORM, "id_number": "***"}
        assert view["form_masked"] is True
    etag = (await fetch(client, officer, draft["id"])).headers["etag"]
    preview = await client.post(
        f"{APPLICATIONS}/{draft['id']}/actions/claim?dry_run=true", headers={**officer, "If-Match": etag}
    )
    assert preview.json()["form"]["id_number"] == "***"  # a preview of the claim does not unmask them
    assert (await act(client, officer, draft["id"], "claim")).status_code == 200
    assert (await fetch(client, officer, draft["id"])).json()["form"]["id_number"] == ID_NUMBER
    assert (await fetch(client, supervisor, draft["id"])).json()["form"]["id_number"] == "***"
    assert (await fetch(client, citizen, draft["id"])).json()["form"]["id_number"] == ID_NUMBER
    log = (await client.get("/api/v1/me/access-log", headers=citizen, params={"limit": 100})).json()["items"]
    assert {entry["reader_kind"] for entry in log if entry["object_id"] == draft["id"]} == {"officer"}


async def test_a_partner_sees_the_answers_it_sent_masked_and_may_send_them_back_so(
    app, client, vendor, partner, other_citizen
) -> None:
    me = (await client.get("/api/v1/me", headers=other_citizen)).json()
    draft = await _apply(client, partner, on_behalf_of=me["id"], holder_name="夜市 B-3 摊位")
    assert draft["form"]["id_number"] == "***"
    etag = (await fetch(client, partner, draft["id"])).headers["etag"]
    changed = {**draft["form"], "area_m2": 8}
    saved = await client.patch(
        f"{APPLICATIONS}/{draft['id']}", json={"form": changed}, headers={**partner, "If-Match": etag}
    )
    assert saved.status_code == 200, saved.text
    view = (await fetch(client, other_citizen, draft["id"])).json()
    assert view["form"] == {**FORM, "area_m2": 8, "id_number": ID_NUMBER}


def test_a_renewal_sent_with_a_masked_answer_keeps_the_permits_answer() -> None:
    """A partner renewing what it filed was shown the old answers masked: `***` sent back keeps the answer, as on an
    edit, instead of being stored as the vendor's ID number."""
    from types import SimpleNamespace

    from core.crypto import FieldCipher
    from services.permits.service import _renewal_form, store_form

    cipher = FieldCipher(b"k" * 32, b"h" * 32)
    content = {
        "form": [
            {"code": "id_number", "datatype": "string", "personal": True},
            {"code": "area_m2", "datatype": "number"},
        ]
    }
    renewed = PermitApplication(id=uuid.uuid4(), form={})
    store_form(cipher, renewed, {"id_number": ID_NUMBER, "area_m2": 6}, content)
    service = SimpleNamespace(content=content)
    form = _renewal_form(cipher, renewed, service, {"id_number": "***", "area_m2": 9}, masked=True)
    assert form == {"id_number": ID_NUMBER, "area_m2": 9}
    # The applicant, who sees the answers, means what they send; and only a personal answer is ever kept so.
    assert _renewal_form(cipher, renewed, service, {"id_number": "***"}, masked=False)["id_number"] == "***"
    content["form"][1] = {"code": "remarks", "datatype": "string"}
    renewed.form = {"remarks": "old"}
    assert _renewal_form(cipher, renewed, service, {"remarks": "***"}, masked=True)["remarks"] == "***"
