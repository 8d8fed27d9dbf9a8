"""Editors write drafts of their own department's services; publishers publish, deprecate and withdraw; a published
version never changes, and the version an application pinned stays readable."""

import json
from datetime import datetime

import pytest
from sqlalchemy import select, update

from auth.models import Account
from core.audit import chain_pending
from core.audit.models import AuditEvent
from core.events import OutboxEvent
from services.catalogue.models import ServiceVersion
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for

SERVICES = "/api/v1/catalogue/services"

NEW_SERVICE = {
    "code": "street-vendor-permit",
    "department": "market",
    "kind": "permit",
    "category": "business",
    "audience": ["citizen", "business"],
    "title": {"zh-CN": "流动摊贩经营许可", "en": "Street vendor permit"},
    "description": {
        "zh-CN": "在指定区域流动经营的许可。需提前申请。",
        "en": "Permission to trade in designated areas.",
    },
    "keywords": {"zh-CN": ["摊贩", "夜市"], "en": ["vendor", "night market"]},
}

COMPLETE = {
    "processing_time": {"duration": "P5D", "working_days": True},
    "legal_basis": {"zh-CN": "《无证无照经营查处办法》", "en": "Measures on Unlicensed Business Operations"},
    "channels": [{"type": "online", "url": "https://talentisland.jiangmen.gov.cn/vendor"}],
    "required_documents": [
        {
            "code": "id_card",
            "name": {"zh-CN": "身份证", "en": "ID card"},
            "media_types": ["image/jpeg", "application/pdf"],
            "max_size_bytes": 2_000_000,
        }
    ],
    "eligibility": {"description": {"zh-CN": "年满18周岁的个人。", "en": "Adults."}, "rules": {"min_age": 18}},
    "form": [
        {
            "code": "stall_type",
            "datatype": "singlevaluelist",
            "required": True,
            "order": 1,
            "label": {"zh-CN": "摊位类型", "en": "Stall type"},
            "values": [
                {"key": "food", "name": {"zh-CN": "餐饮", "en": "Food"}},
                {"key": "goods", "name": {"zh-CN": "百货", "en": "Goods"}},
            ],
        },
        {
            "code": "area_m2",
            "datatype": "number",
            "required": True,
            "order": 2,
            "label": {"zh-CN": "面积（平方米）", "en": "Area (m²)"},
            "validation": {"min": 1, "max": 20},
        },
    ],
}


AREA = {"code": "area_m2", "datatype": "number", "order": 1, "label": {"zh-CN": "面积", "en": "Area"}}


@pytest.fixture
async def editor(app) -> dict[str, str]:
    return bearer(await token_for(app, "editor.market", "catalogue:write"))


@pytest.fixture
async def publisher(app) -> dict[str, str]:
    return bearer(await token_for(app, "publisher", "catalogue:publish"))


async def _draft(client, editor, body=NEW_SERVICE) -> dict:
    response = await client.post(SERVICES, json=body, headers=editor)
    assert response.status_code == 201, response.text
    return response.json()


async def _put(client, editor, version: int, body: dict, etag: str):
    return await client.put(
        f"{SERVICES}/{body.get('code', 'street-vendor-permit')}/versions/{version}",
        json={k: v for k, v in body.items() if k != "code"},
        headers={**editor, "If-Match": etag},
    )


async def _act(client, who, code: str, version: int, action: str, etag: str, **body):
    return await client.post(
        f"{SERVICES}/{code}/versions/{version}/actions/{action}", json=body or None, headers={**who, "If-Match": etag}
    )


async def test_an_editor_drafts_and_a_publisher_publishes(client, editor, publisher) -> None:
    draft = await _draft(client, editor)
    assert (draft["status"], draft["version"]) == ("draft", 1)
    assert draft["allowed_actions"] == ["discard", "edit"]
    # Not public yet.
    assert_problem(await client.get(f"{SERVICES}/street-vendor-permit"), 404)
    read = await client.get(f"{SERVICES}/street-vendor-permit/versions/1", headers=editor)
    updated = await _put(client, editor, 1, {**NEW_SERVICE, **COMPLETE}, read.headers["etag"])
    assert updated.status_code == 200, updated.text
    seen_by_publisher = await client.get(f"{SERVICES}/street-vendor-permit/versions/1", headers=publisher)
    assert seen_by_publisher.json()["allowed_actions"] == ["publish"]
    in_english = await client.get(
        f"{SERVICES}/street-vendor-permit/versions", headers={**editor, "Accept-Language": "en"}
    )
    assert in_english.json()[0]["title"] == NEW_SERVICE["title"]["en"]
    assert (in_english.headers["content-language"], in_english.headers["vary"]) == ("en", "Accept-Language")
    published = await _act(client, publisher, "street-vendor-permit", 1, "publish", updated.headers["etag"])
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    public = await client.get(f"{SERVICES}/street-vendor-permit", params={"lang": "en"})
    assert public.json()["title"] == "Street vendor permit"
    assert "street-vendor-permit" in [
        i["code"] for i in (await client.get(SERVICES, params={"q": "摊贩"})).json()["items"]
    ]


async def test_publishing_an_incomplete_service_names_what_is_missing(client, editor, publisher) -> None:
    draft = await _draft(client, editor)
    response = await _act(client, publisher, "street-vendor-permit", 1, "publish", '"1"')
    body = assert_problem(response, 422, "incomplete-service")
    missing = {error["field"] for error in body["errors"]}
    assert missing == {"channels", "processing_time", "form", "required_documents", "eligibility", "legal_basis"}
    assert draft["status"] == "draft"


CONTENT_FIELDS = (
    "department",
    "kind",
    "category",
    "thematic_area",
    "audience",
    "title",
    "description",
    "keywords",
    "processing_time",
    "legal_basis",
    "channels",
    "required_documents",
    "costs",
    "eligibility",
    "form",
    "contact",
)


async def test_a_new_version_leaves_the_pinned_one_readable(client, editor, publisher) -> None:
    original = (await client.get(f"{SERVICES}/business-licence/versions/1", params={"lang": "all"})).json()
    draft = await client.post(f"{SERVICES}/business-licence/versions", headers=editor)
    assert draft.status_code == 201, draft.text
    assert draft.json()["version"] == 2
    assert_problem(await client.post(f"{SERVICES}/business-licence/versions", headers=editor), 409, "draft-exists")
    # An editor reads the draft in both languages, changes what changes, and puts it back.
    changed = {key: original[key] for key in CONTENT_FIELDS if original.get(key) is not None}
    changed["processing_time"] = {"duration": "P3D", "working_days": True}
    response = await client.put(
        f"{SERVICES}/business-licence/versions/2", json=changed, headers={**editor, "If-Match": draft.headers["etag"]}
    )
    assert response.status_code == 200, response.text
    published = await _act(client, publisher, "business-licence", 2, "publish", response.headers["etag"])
    assert published.status_code == 200
    current = (await client.get(f"{SERVICES}/business-licence")).json()
    assert (current["version"], current["processing_time"]["duration"]) == (2, "P3D")
    pinned = (await client.get(f"{SERVICES}/business-licence/versions/1")).json()
    assert pinned["status"] == "deprecated"
    assert pinned["processing_time"] == original["processing_time"]
    # A published version never changes.
    assert_problem(
        await client.put(
            f"{SERVICES}/business-licence/versions/2",
            json=changed,
            headers={**editor, "If-Match": published.headers["etag"]},
        ),
        409,
        "not-a-draft",
    )


async def test_the_version_a_publish_replaces_is_announced_deprecated(client, db, editor, publisher) -> None:
    """Publishing version 2 deprecates version 1: a transition like any other, so it is audited and announced (a
    partner mirroring the catalogue kept version 1 as published, as nothing told it otherwise)."""
    draft = await client.post(f"{SERVICES}/business-licence/versions", headers=editor)
    assert (await _act(client, publisher, "business-licence", 2, "publish", draft.headers["etag"])).status_code == 200
    async with db.transaction() as session:
        await chain_pending(session)
    async with db.engine.connect() as connection:
        events = (
            await connection.execute(
                select(OutboxEvent.__table__.c.name, OutboxEvent.__table__.c.payload).where(
                    OutboxEvent.__table__.c.subject == "service:business-licence"
                )
            )
        ).all()
        audited = (
            await connection.execute(
                select(AuditEvent.__table__.c.action, AuditEvent.__table__.c.detail).where(
                    AuditEvent.__table__.c.object_id == "business-licence", AuditEvent.__table__.c.seq.is_not(None)
                )
            )
        ).all()
    announced = {(name, payload["version"]) for name, payload in events}
    assert {("catalogue.service.published", 2), ("catalogue.service.deprecated", 1)} <= announced
    assert ("catalogue.service.deprecated", 1) in {(action, detail["version"]) for action, detail in audited}


async def test_editors_cannot_touch_another_departments_services(client, app) -> None:
    housing = bearer(await token_for(app, "editor.market", "catalogue:write"))
    # editor.market is in `market`: construction-permit belongs to `housing`.
    assert_problem(await client.post(f"{SERVICES}/construction-permit/versions", headers=housing), 404)
    valid = {k: v for k, v in NEW_SERVICE.items() if k != "code"} | {"department": "housing"}
    assert_problem(
        await client.put(
            f"{SERVICES}/construction-permit/versions/1", json=valid, headers={**housing, "If-Match": '"1"'}
        ),
        404,
    )
    assert_problem(
        await client.delete(f"{SERVICES}/construction-permit/versions/1", headers={**housing, "If-Match": '"1"'}), 404
    )
    assert_problem(await client.post(SERVICES, json={**NEW_SERVICE, "department": "housing"}, headers=housing), 403)


async def test_an_editor_of_no_department_edits_no_department(client, app, db) -> None:
    """An administrator could give the editor role to staff without a department (auth refuses it now, but an account
    made before may remain): such an editor drafted a new version of any department's service, which then kept that
    department's own editors out (409 draft-exists)."""
    async with db.transaction() as session:
        await session.execute(update(Account).where(Account.username == "editor.market").values(department=None))
    nowhere = bearer(await token_for(app, "editor.market", "catalogue:write"))
    assert_problem(await client.post(f"{SERVICES}/construction-permit/versions", headers=nowhere), 404)
    assert_problem(await client.post(SERVICES, json=NEW_SERVICE, headers=nowhere), 403)
    assert [v["version"] for v in (await client.get(f"{SERVICES}/construction-permit/versions")).json()] == [1]


@pytest.mark.parametrize("login", ["13800000001", "officer.market", "publisher"])
async def test_only_editors_write(client, app, login: str) -> None:
    headers = bearer(await token_for(app, login, "catalogue:write permits:apply"))
    assert_problem(await client.post(SERVICES, json=NEW_SERVICE, headers=headers), 403)
    assert_problem(await client.post(SERVICES, json=NEW_SERVICE), 401)


async def test_only_publishers_publish(client, editor) -> None:
    await _draft(client, editor)
    editor_with_scope = editor
    assert_problem(await _act(client, editor_with_scope, "street-vendor-permit", 1, "publish", '"1"'), 403)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"form": [{"code": "x", "datatype": "colour", "order": 1, "label": {"zh-CN": "色", "en": "C"}}]},
            "form.0.datatype",
        ),
        (
            {
                "form": [
                    {"code": "x", "datatype": "string", "order": 1, "label": {"zh-CN": "一", "en": "A"}},
                    {"code": "x", "datatype": "text", "order": 2, "label": {"zh-CN": "二", "en": "B"}},
                ]
            },
            "body",
        ),
        ({"title": {"zh-CN": "只有中文"}}, "title.en"),
        (
            {"form": [{"code": "x", "datatype": "singlevaluelist", "order": 1, "label": {"zh-CN": "一", "en": "A"}}]},
            "form.0",
        ),
        ({"processing_time": {"duration": "twenty days"}}, "processing_time.duration"),
        # A form no answer could satisfy, or checks the applications never make, are refused when written.
        (
            {"form": [{**AREA, "required": True, "validation": {"min": 20, "max": 1}}]},
            "form.0.validation",
        ),
        ({"form": [{**AREA, "validation": {"pattern": "^[0-9]{6}$"}}]}, "form.0"),
        ({"form": [{**AREA, "datatype": "datetime", "validation": {"max_length": 10}}]}, "form.0"),
        ({"form": [{**COMPLETE["form"][0], "validation": {"pattern": "^food$"}}]}, "form.0"),
        ({"status": "published"}, "status"),
    ],
)
async def test_bad_drafts_are_422_with_field_errors(client, editor, change: dict, field: str) -> None:
    body = assert_problem(await client.post(SERVICES, json={**NEW_SERVICE, **change}, headers=editor), 422)
    fields = [error["field"] for error in body["errors"]]
    assert any(f.startswith(field) for f in fields), fields
    assert_problem(await client.get(f"{SERVICES}/street-vendor-permit/versions/1", headers=editor), 404)


async def test_a_form_bound_past_what_a_number_can_hold_is_refused(client, editor) -> None:
    """1e999 reads as infinity: it was kept as no bound at all (null), so the editor's maximum silently vanished."""
    body = json.dumps({**NEW_SERVICE, "form": [{**AREA, "validation": {"min": 0}}]}).replace('"min": 0', '"max": 1e999')
    response = await client.post(SERVICES, content=body, headers={**editor, "Content-Type": "application/json"})
    errors = assert_problem(response, 422)["errors"]
    assert [error["field"] for error in errors] == ["form.0.validation.max"]


async def test_writes_need_if_match_and_refuse_stale_versions(client, editor) -> None:
    await _draft(client, editor)
    body = {k: v for k, v in NEW_SERVICE.items() if k != "code"}
    renamed = {**body, "title": {"zh-CN": "流动摊贩许可", "en": "Street trading permit"}}
    url = f"{SERVICES}/street-vendor-permit/versions/1"
    assert_problem(await client.put(url, json=renamed, headers=editor), 428)
    unchanged = await client.put(url, json=body, headers={**editor, "If-Match": '"1"'})
    assert unchanged.headers["etag"] == '"1"'  # nothing changed, nothing written
    first = await client.put(url, json=renamed, headers={**editor, "If-Match": '"1"'})
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    assert_problem(await client.put(url, json=body, headers={**editor, "If-Match": '"1"'}), 412)


async def test_withdraw_needs_a_reason_and_every_change_is_audited(client, db, publisher) -> None:
    current = await client.get(f"{SERVICES}/talent-startup-funding/versions/1", headers=publisher)
    assert_problem(await _act(client, publisher, "talent-startup-funding", 1, "withdraw", current.headers["etag"]), 422)
    done = await _act(
        client,
        publisher,
        "talent-startup-funding",
        1,
        "withdraw",
        current.headers["etag"],
        reason="Replaced by the 2027 programme",
    )
    assert done.json()["status"] == "withdrawn"
    assert (await client.get(SERVICES, params={"q": "创业", "status": "withdrawn"})).json()["items"]
    # Gone from what is offered (the default list and search, the Open311 services), still readable as withdrawn.
    assert "talent-startup-funding" not in {
        i["code"] for i in (await client.get(SERVICES, params={"q": "创业"})).json()["items"]
    }
    assert "talent-startup-funding" not in {
        s["service_code"] for s in (await client.get("/open311/v2/services.json")).json()
    }
    assert_problem(await client.get("/open311/v2/services/talent-startup-funding.json"), 404)
    assert (await client.get(f"{SERVICES}/talent-startup-funding")).json()["status"] == "withdrawn"
    jsonld = (await client.get(f"{SERVICES}/talent-startup-funding/jsonld")).json()
    assert jsonld["status"] == "http://purl.org/adms/status/Withdrawn"
    assert_problem(await _act(client, publisher, "talent-startup-funding", 1, "publish", done.headers["etag"]), 409)
    async with db.transaction() as session:
        await chain_pending(session)
    async with db.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(AuditEvent.__table__.c.action, AuditEvent.__table__.c.detail).where(
                    AuditEvent.__table__.c.object_id == "talent-startup-funding",
                    AuditEvent.__table__.c.seq.is_not(None),
                )
            )
        ).all()
    assert ("catalogue.service.withdrawn", {"version": 1, "reason": "Replaced by the 2027 programme"}) in [
        (action, detail) for action, detail in rows
    ]


async def test_unknown_action_is_404(client, publisher) -> None:
    assert_problem(await _act(client, publisher, "business-licence", 1, "explode", '"1"'), 404, "unknown-action")


async def test_administrators_manage_departments(client, app) -> None:
    admin = bearer(await token_for(app, "admin", "admin"))
    body = {
        "code": "ecology",
        "name": {"zh-CN": "生态环境局", "en": "Ecology and Environment Bureau"},
        "contact": {"phone": "0750-3000000"},
    }
    created = await client.post("/api/v1/catalogue/departments", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert_problem(await client.post("/api/v1/catalogue/departments", json=body, headers=admin), 409)
    renamed = {**body, "name": {"zh-CN": "生态环境局", "en": "Ecology Bureau"}}
    updated = await client.put(
        "/api/v1/catalogue/departments/ecology", json=renamed, headers={**admin, "If-Match": created.headers["etag"]}
    )
    assert updated.json()["name"] == "生态环境局"  # in Chinese unless the request asks otherwise
    assert updated.headers["content-language"] == "zh-CN"
    citizen = bearer(await token_for(app, "13800000001", "admin"))
    assert_problem(await client.post("/api/v1/catalogue/departments", json=body, headers=citizen), 403)


async def test_a_department_read_publicly_is_changed_with_the_etag_of_that_read(client, app) -> None:
    """The public GET answers a strong tag of the version in its language, so read-then-PUT works; a tag read before
    a change is 412; and each language is a variant of its own (a cache is never told its Chinese copy is the
    English one)."""
    admin = bearer(await token_for(app, "admin", "admin"))
    read = await client.get("/api/v1/catalogue/departments/market")
    assert read.headers["etag"] == f'"{read.json()["version"]}.zh-CN"'
    department = "/api/v1/catalogue/departments/market"
    assert (await client.get(department, headers={"If-None-Match": read.headers["etag"]})).status_code == 304
    english = await client.get(department, headers={"If-None-Match": read.headers["etag"], "Accept-Language": "en"})
    assert (english.status_code, english.headers["etag"]) == (200, f'"{read.json()["version"]}.en"')
    body = {
        "code": "market",
        "name": {"zh-CN": "市场监督管理局", "en": "Market Regulation"},
        "contact": {"phone": "0750-1"},
    }
    changed = await client.put(
        "/api/v1/catalogue/departments/market", json=body, headers={**admin, "If-Match": read.headers["etag"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == read.json()["version"] + 1
    assert changed.headers["etag"] == f'"{changed.json()["version"]}.zh-CN"'  # the variant it answers in
    reread = await client.get("/api/v1/catalogue/departments/market", params={"lang": "en"})
    assert (reread.headers["etag"], reread.json()["name"]) == (f'"{changed.json()["version"]}.en"', "Market Regulation")
    assert_problem(  # a weak tag never matches
        await client.put(department, json=body, headers={**admin, "If-Match": "W/" + reread.headers["etag"]}), 412
    )
    stale = await client.put(
        "/api/v1/catalogue/departments/market", json=body, headers={**admin, "If-Match": read.headers["etag"]}
    )
    assert_problem(stale, 412)


async def _stored_with_a_pattern_now_too_big(db) -> tuple[str, str]:
    """business-licence version 1 as if written before patterns had a budget: a text field's pattern the rules now
    refuse. The pattern and the field's code."""
    big = r"^\w{1,1000}$"
    async with db.transaction() as session:
        row = (
            await session.execute(
                select(ServiceVersion).where(ServiceVersion.code == "business-licence", ServiceVersion.version == 1)
            )
        ).scalar_one()
        form = [dict(field) for field in row.content["form"]]
        text = next(field for field in form if field["datatype"] == "string")
        text["validation"] = {**text.get("validation", {}), "pattern": big}
        row.content = {**row.content, "form": form}
        session.add(row)
    return big, text["code"]


async def test_a_version_written_under_older_rules_still_starts_the_draft_that_mends_it(client, db, editor) -> None:
    """A published form whose pattern the rules now refuse (too big to compile quickly) is copied into a new draft
    as it is, so its editor can mend it; the draft refuses the pattern when it is written back."""
    big, field = await _stored_with_a_pattern_now_too_big(db)
    draft = await client.post(f"{SERVICES}/business-licence/versions", headers=editor)
    assert draft.status_code == 201, draft.text
    original = await client.get(f"{SERVICES}/business-licence/versions/2", params={"lang": "all"}, headers=editor)
    body = {key: original.json()[key] for key in CONTENT_FIELDS if original.json().get(key) is not None}
    assert next(f for f in body["form"] if f["code"] == field)["validation"]["pattern"] == big
    refused = await client.put(
        f"{SERVICES}/business-licence/versions/2", json=body, headers={**editor, "If-Match": draft.headers["etag"]}
    )
    assert "too big to check quickly" in str(assert_problem(refused, 422)["errors"])


async def test_a_partner_syncs_what_changed_since_it_last_looked(client, editor, publisher) -> None:
    """modified_after lists the services whose version changed since (newly published, withdrawn), each with when."""
    listed = (await client.get(SERVICES, params={"limit": 100})).json()["items"]
    since = max(datetime.fromisoformat(item["updated_at"]) for item in listed)
    assert (await client.get(SERVICES, params={"modified_after": since.isoformat()})).json()["items"] == []

    draft = await _draft(client, editor)
    read = await client.get(f"{SERVICES}/street-vendor-permit/versions/1", headers=editor)
    updated = await _put(client, editor, 1, {**NEW_SERVICE, **COMPLETE}, read.headers["etag"])
    published = await _act(client, publisher, "street-vendor-permit", 1, "publish", updated.headers["etag"])
    assert (draft["version"], published.status_code) == (1, 200)
    changed = (await client.get(SERVICES, params={"modified_after": since.isoformat()})).json()["items"]
    assert [item["code"] for item in changed] == ["street-vendor-permit"]
    assert datetime.fromisoformat(changed[0]["updated_at"]) > since

    withdrawn = await _act(
        client, publisher, "street-vendor-permit", 1, "withdraw", published.headers["etag"], reason="Replaced"
    )
    assert withdrawn.status_code == 200, withdrawn.text
    gone = {"modified_after": changed[0]["updated_at"], "status": "withdrawn"}
    assert [item["code"] for item in (await client.get(SERVICES, params=gone)).json()["items"]] == [
        "street-vendor-permit"
    ]
    assert_problem(await client.get(SERVICES, params={"modified_after": "yesterday"}), 422)


async def test_a_draft_copied_under_older_rules_is_not_published_unmended(client, db, editor, publisher) -> None:
    """The copied draft starts the mending; publishing it as it is would put the refused pattern out again."""
    await _stored_with_a_pattern_now_too_big(db)
    draft = await client.post(f"{SERVICES}/business-licence/versions", headers=editor)
    assert draft.status_code == 201, draft.text
    published = await _act(client, publisher, "business-licence", 2, "publish", draft.headers["etag"])
    assert "too big to check quickly" in str(assert_problem(published, 422)["errors"])
