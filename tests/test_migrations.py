"""The migrations build exactly the models' schema, and they come back down to nothing."""

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import column, create_engine, insert, inspect, select, update
from sqlalchemy import table as table_clause
from sqlalchemy.sql.expression import TableClause

from auth.models import Account
from core.db import Database, sync_url
from core.migrate import downgrade, drift, upgrade
from core.models import metadata
from core.settings import Settings
from services.credentials.models import Credential
from services.seed import seed
from services.talent.models import TalentApplication
from tests.databases import fresh_database, take_snapshot


def _as_of(engine, table) -> TableClause:
    """`table` as a database migrated to an earlier revision has it: the columns added since (and their defaults,
    which an insert would otherwise send) left out."""
    existing = {column["name"] for column in inspect(engine).get_columns(table.name)}
    return table_clause(table.name, *(column(c.name, c.type) for c in table.columns if c.name in existing))


def _insert_as_of(engine, row) -> None:
    """Insert a model's row into a database migrated to an earlier revision: the columns added since are left out."""
    table = _as_of(engine, type(row).__table__)
    with engine.begin() as connection:
        connection.execute(insert(table).values(**{c.name: getattr(row, c.name) for c in table.columns}))


def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    assert drift(database_url, metadata) == []


def test_migrations_downgrade_to_base_and_up_again(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        upgrade(url)
        assert {table.name for table in metadata.sorted_tables} <= _tables(url)
        downgrade(url, "base")
        assert _tables(url) <= {"alembic_version"}
        upgrade(url)
        assert drift(url, metadata) == []


async def test_seed_is_idempotent(settings: Settings, db: Database) -> None:
    before = await take_snapshot(db)
    await seed(db, settings)
    assert await take_snapshot(db) == before


def test_one_open_application_migration_names_people_it_cannot_hold_to_one(backend: str, tmp_path: Path) -> None:
    """Two open talent applications of one person (left by the race the index closes) stop the upgrade, naming the
    person: which one to withdraw is for an officer to decide. Once one is withdrawn, it goes through."""
    with fresh_database(backend, tmp_path) as url:
        upgrade(url, "8118e064cb17")  # just before the index
        person, now = uuid.uuid4(), datetime.now(UTC)
        stamps = {"version": 1, "created_at": now, "updated_at": now}
        application = {**stamps, "applicant_id": person, "rule_set": "talent-island", "status": "draft"}
        application |= {"paused_seconds": 0, "rejection_proposed": False}
        engine = create_engine(sync_url(url))
        try:
            with engine.begin() as connection:
                account = {"id": person, "kind": "citizen", "name": "test", "password_hash": "x", **stamps}
                connection.execute(insert(Account.__table__).values(**account))
                connection.execute(
                    insert(_as_of(engine, TalentApplication.__table__)),
                    [{**application, "id": uuid.uuid4(), "reference": f"TI-T-TEST-{n}"} for n in (1, 2)],
                )
            with pytest.raises(RuntimeError, match=str(person)):
                upgrade(url)
            with engine.begin() as connection:
                table = TalentApplication.__table__
                first = connection.execute(select(table.c.id).where(table.c.reference == "TI-T-TEST-1")).scalar()
                connection.execute(update(table).where(table.c.id == first).values(status="withdrawn"))
            upgrade(url)
            assert drift(url, metadata) == []
        finally:
            engine.dispose()


def test_replaced_by_migration_names_the_renewal_each_replaced_credential_gave_as_its_reason(
    backend: str, tmp_path: Path
) -> None:
    """Credentials replaced before the column existed said so only in their reason: the upgrade reads the renewal's
    number from it, where that number is a credential's; a revocation for cause names none."""
    with fresh_database(backend, tmp_path) as url:
        upgrade(url, "1c9cc416a33e")  # just before the column
        holder, now = uuid.uuid4(), datetime.now(UTC)
        stamps = {"version": 1, "created_at": now, "updated_at": now}
        credential = {
            **stamps,
            "kind": "permit",
            "subject_type": "permit_application",
            "holder_account_id": holder,
            "holder_name": "test",
            "department": "market",
            "title": {"zh-CN": "许可", "en": "Permit"},
            "conditions": [],
            "valid_from": now,
            "valid_until": now,
            "kid": "k",
            "token": "t",
        }
        reasons = {"OLD": "replaced by NEW", "NEW": None, "LOST": "replaced by GONE", "CAUSE": "抽检不合格"}
        engine = create_engine(sync_url(url))
        try:
            with engine.begin() as connection:
                account = {"id": holder, "kind": "citizen", "name": "test", "password_hash": "x", **stamps}
                connection.execute(insert(Account.__table__).values(**account))
                for number, reason in reasons.items():
                    status = "revoked" if reason else "active"
                    row = {"id": uuid.uuid4(), "subject_id": uuid.uuid4(), "number": number, "status": status}
                    connection.execute(insert(Credential.__table__).values(**credential, **row, status_reason=reason))
            upgrade(url)
            with engine.connect() as connection:
                table = Credential.__table__
                replaced = dict(connection.execute(select(table.c.number, table.c.replaced_by)).all())
                filed = set(connection.execute(select(table.c.filed_by_client)).scalars())
            assert replaced == {"OLD": "NEW", "NEW": None, "LOST": None, "CAUSE": None}
            assert filed == {None}  # their applications are gone: no partner filed them
        finally:
            engine.dispose()


def test_person_holders_migration_masks_applicants_where_citizens_apply(backend: str, tmp_path: Path) -> None:
    """A holder taken from a form's applicant_name where citizens may apply was listed as public: masked again. An
    organisation's name (a business being registered; an applicant where only businesses apply) stays public."""
    from sqlmodel import Session

    from services.catalogue.models import Department, ServiceVersion
    from services.permits.models import PermitApplication

    with fresh_database(backend, tmp_path) as url:
        upgrade(url, "e88884f73e8c")  # just before the data fix
        engine = create_engine(sync_url(url))
        try:
            person = uuid.uuid4()
            with Session(engine) as session:
                session.add(Department(code="roads", name_zh="交通", name_en="Roads"))
                session.add(Account(id=person, kind="citizen", name="陈明", password_hash="x"))
                services = {
                    audiences: ServiceVersion(
                        code=f"svc-{index}",
                        version=1,
                        status="published",
                        department="roads",
                        kind="permit",
                        category="transport",
                        audiences=audiences,
                        title_zh="服务",
                        title_en="Service",
                        summary_zh="",
                        summary_en="",
                        content={},
                    )
                    for index, audiences in enumerate((",business,citizen,", ",business,"))
                }
                session.add_all(services.values())
                session.flush()
                cases = [
                    (",business,citizen,", {"applicant_name": "陈明"}),  # a person: masked again
                    (",business,citizen,", {"proposed_name": "江门示例有限公司"}),  # a business being registered
                    (",business,", {"applicant_name": "江门广告有限公司"}),  # only businesses apply
                ]
                session.commit()
                for index, (audiences, form) in enumerate(cases):
                    _insert_as_of(
                        engine,
                        PermitApplication(
                            reference=f"TI-P-TEST-{index}",
                            service_id=services[audiences].id,
                            service_code=services[audiences].code,
                            service_version=1,
                            department="roads",
                            applicant_id=person,
                            holder_name=next(iter(form.values())),
                            holder_public=True,
                            form=form,
                        ),
                    )
            upgrade(url)
            with engine.connect() as connection:
                table = PermitApplication.__table__
                public = dict(connection.execute(select(table.c.reference, table.c.holder_public)).all())
            assert public == {"TI-P-TEST-0": False, "TI-P-TEST-1": True, "TI-P-TEST-2": True}
        finally:
            engine.dispose()


def _service_version(code: str, form: list[dict], **columns):
    from services.catalogue.models import ServiceVersion

    return ServiceVersion(
        code=code,
        version=1,
        status="published",
        department=columns.pop("department", "talent"),
        kind=columns.pop("kind", "talent_benefit"),
        category="talent",
        audiences=",talent,",
        title_zh="服务",
        title_en="Service",
        summary_zh="",
        summary_en="",
        content={"form": form},
        **columns,
    )


def test_card_number_migration_makes_benefit_forms_take_the_numbers_cards_have(backend: str, tmp_path: Path) -> None:
    """The talent card number field of published versions takes TI-TALENT-2026-000004 after the upgrade; a pattern
    an editor chose is left as it is."""
    from sqlmodel import Session

    from services.catalogue.models import Department, ServiceVersion

    wrong = {
        "code": "talent_card_no",
        "datatype": "string",
        "description": {"en": "Issued after talent classification, e.g. RC-A-000123."},
        "validation": {"pattern": r"^RC-[ABC]-\d{6}$"},
    }
    with fresh_database(backend, tmp_path) as url:
        upgrade(url, "344776d36dd6")  # just before the data fix
        engine = create_engine(sync_url(url))
        try:
            with Session(engine) as session:
                session.add(Department(code="talent", name_zh="人才", name_en="Talent"))
                session.add(_service_version("benefit", [wrong, {"code": "other", "datatype": "number"}]))
                session.add(_service_version("own", [{**wrong, "validation": {"pattern": "^X$"}}]))
                session.commit()
            upgrade(url, "7d2c41a9e5b3")
            with engine.connect() as connection:
                table = ServiceVersion.__table__
                forms = dict(connection.execute(select(table.c.code, table.c.content)).all())
            card_field = forms["benefit"]["form"][0]
            assert card_field["validation"] == {"pattern": r"^TI-TALENT-\d{4}-\d{6,}$"}
            assert "TI-TALENT-2026-000123" in card_field["description"]["en"]
            assert forms["benefit"]["form"][1] == {"code": "other", "datatype": "number"}
            assert forms["own"]["form"][0]["validation"] == {"pattern": "^X$"}
        finally:
            engine.dispose()


def test_personal_answers_migration_seals_them_and_its_downgrade_puts_them_back(backend: str, tmp_path: Path) -> None:
    """The seeded services' personal fields are marked; an application's answers to them leave `form` for
    `form_sealed`, ciphertext bound to the application; a field of the same name in a service not known to collect
    personal data is left as it is. The downgrade puts the answers back and the mark off."""
    import json

    from sqlmodel import Session

    from core.crypto import FieldCipher
    from core.settings import get_settings
    from services.catalogue.models import Department, ServiceVersion
    from services.permits.models import PermitApplication

    id_number = "440703199001010023"
    fields = [{"code": "proposed_name", "datatype": "string"}, {"code": "legal_rep_id_number", "datatype": "string"}]
    form = {"proposed_name": "江门示例有限公司", "legal_rep_id_number": id_number}
    with fresh_database(backend, tmp_path) as url:
        upgrade(url, "7d2c41a9e5b3")  # just before the column
        engine = create_engine(sync_url(url))
        try:
            person = uuid.uuid4()
            with Session(engine) as session:
                session.add(Department(code="market", name_zh="市场", name_en="Market"))
                session.add(Account(id=person, kind="citizen", name="王芳", password_hash="x"))
                services = {
                    code: _service_version(code, fields, department="market", kind="permit")
                    for code in ("business-licence", "someone-elses")
                }
                session.add_all(services.values())
                session.commit()
                rows = {
                    code: PermitApplication(
                        reference=f"TI-P-TEST-{code}",
                        service_id=service.id,
                        service_code=code,
                        service_version=1,
                        department="market",
                        applicant_id=person,
                        holder_name="江门示例有限公司",
                        form=form,
                    )
                    for code, service in services.items()
                }
            for row in rows.values():
                _insert_as_of(engine, row)
            table, versions = PermitApplication.__table__, ServiceVersion.__table__

            def stored() -> tuple[dict, dict]:
                with engine.connect() as connection:
                    applications = connection.execute(select(table.c.service_code, table.c.form, table.c.form_sealed))
                    contents = dict(connection.execute(select(versions.c.code, versions.c.content)).all())
                return {code: (form, sealed) for code, form, sealed in applications}, contents

            upgrade(url, "b5f0c3d81a27")
            applications, contents = stored()
            marked = {code: [a.get("personal", False) for a in content["form"]] for code, content in contents.items()}
            assert marked == {"business-licence": [False, True], "someone-elses": [False, False]}
            plain, sealed = applications["business-licence"]
            assert plain == {"proposed_name": "江门示例有限公司"}
            assert id_number not in sealed
            cipher = FieldCipher.from_file(get_settings().data_key_file, create=False)
            context = f"permit_form:{rows['business-licence'].id}"
            assert json.loads(cipher.decrypt(sealed, context=context)) == {"legal_rep_id_number": id_number}
            assert applications["someone-elses"] == (form, None)

            downgrade(url, "7d2c41a9e5b3")
            with engine.connect() as connection:
                restored = dict(connection.execute(select(table.c.service_code, table.c.form)).all())
                contents = dict(connection.execute(select(versions.c.code, versions.c.content)).all())
            assert restored == {"business-licence": form, "someone-elses": form}
            assert all("personal" not in a for content in contents.values() for a in content["form"])
            assert "form_sealed" not in {column["name"] for column in inspect(engine).get_columns(table.name)}
        finally:
            engine.dispose()


def test_paused_clock_migration_keeps_the_deadlines_pauses_already_moved(backend: str, tmp_path: Path) -> None:
    """Deadlines already moved on by whole pauses keep them: what the clock counts of its pauses starts as all of
    them, so a recount on a calendar change gives the deadline the application has. The downgrade drops it."""
    with fresh_database(backend, tmp_path) as url:
        upgrade(url, "b5f0c3d81a27")  # just before the column
        engine = create_engine(sync_url(url))
        try:
            person, now = uuid.uuid4(), datetime.now(UTC)
            stamps = {"version": 1, "created_at": now, "updated_at": now}
            with engine.begin() as connection:
                account = {"id": person, "kind": "citizen", "name": "test", "password_hash": "x", **stamps}
                connection.execute(insert(Account.__table__).values(**account))
            application = TalentApplication(
                **stamps, reference="TI-T-TEST-1", applicant_id=person, rule_set="talent-island", status="verifying"
            )
            application.paused_seconds = 3 * 86400
            _insert_as_of(engine, application)
            upgrade(url)
            table = TalentApplication.__table__
            with engine.connect() as connection:
                counted = connection.execute(select(table.c.paused_seconds, table.c.paused_clock_seconds)).one()
            assert tuple(counted) == (3 * 86400, 3 * 86400)
            downgrade(url, "b5f0c3d81a27")
            assert "paused_clock_seconds" not in {c["name"] for c in inspect(engine).get_columns(table.name)}
        finally:
            engine.dispose()


HOME = "江门市蓬江区建设路 1 号"


def test_names_and_addresses_migration_seals_them_beside_the_answers_sealed_before(
    backend: str, tmp_path: Path
) -> None:
    """A residence permit's surname and local address join the passport number sealed by the earlier revision; the
    nationality stays plain; the downgrade takes out only what this revision sealed, and its marks."""
    import json

    from sqlmodel import Session

    from core.crypto import FieldCipher
    from core.settings import get_settings
    from services.catalogue.models import Department, ServiceVersion
    from services.permits.models import PermitApplication

    fields = [
        {"code": "surname", "datatype": "string"},
        {"code": "nationality", "datatype": "string"},
        {"code": "local_address", "datatype": "string"},
        {"code": "passport_number", "datatype": "string", "personal": True},
    ]
    cipher = FieldCipher.from_file(get_settings().data_key_file, create=True)
    with fresh_database(backend, tmp_path) as url:
        upgrade(url, "82822bbe6410")  # just before the data fix
        engine = create_engine(sync_url(url))
        try:
            person = uuid.uuid4()
            with Session(engine) as session:
                session.add(Department(code="police", name_zh="公安", name_en="Police"))
                session.add(Account(id=person, kind="citizen", name="John Smith", password_hash="x"))
                service = _service_version("residence-permit", fields, department="police", kind="permit")
                session.add(service)
                session.commit()
                row = PermitApplication(
                    reference="TI-P-TEST-1",
                    service_id=service.id,
                    service_code="residence-permit",
                    service_version=1,
                    department="police",
                    applicant_id=person,
                    holder_name="John Smith",
                    form={"surname": "SMITH", "nationality": "GB", "local_address": HOME},
                )
                row.form_sealed = cipher.encrypt(
                    json.dumps({"passport_number": "K12345678"}), context=f"permit_form:{row.id}"
                )
                _insert_as_of(engine, row)
            table, versions = PermitApplication.__table__, ServiceVersion.__table__

            def stored() -> tuple[dict, dict, list]:
                with engine.connect() as connection:
                    form, sealed = connection.execute(select(table.c.form, table.c.form_sealed)).one()
                    content = connection.execute(select(versions.c.content)).scalar_one()
                answers = json.loads(cipher.decrypt(sealed, context=f"permit_form:{row.id}"))
                return form, answers, [a["code"] for a in content["form"] if a.get("personal")]

            upgrade(url, "e3b9d4c7a215")
            form, answers, marked = stored()
            assert form == {"nationality": "GB"}
            assert answers == {
                "passport_number": "K12345678",
                "surname": "SMITH",
                "local_address": "江门市蓬江区建设路 1 号",
            }
            assert marked == ["surname", "local_address", "passport_number"]

            downgrade(url, "82822bbe6410")
            form, answers, marked = stored()
            assert form == {"surname": "SMITH", "nationality": "GB", "local_address": HOME}
            assert answers == {"passport_number": "K12345678"}
            assert marked == ["passport_number"]
        finally:
            engine.dispose()


def test_portal_scope_migration_lets_an_already_seeded_portal_ask_for_account(backend: str, tmp_path: Path) -> None:
    """The seed never changes a registered client: a portal seeded before the account scope gets it here."""
    from auth.models import OAuthClient

    with fresh_database(backend, tmp_path) as url:
        upgrade(url, "41154a52d1e1")  # just before the data fix
        engine = create_engine(sync_url(url))
        try:
            portal = OAuthClient(
                client_id="demo-web",
                name_zh="人才岛市民端（演示）",
                name_en="Talent Island web app (demo)",
                kind="public",
                token_endpoint_auth_method="none",
                redirect_uris=["http://127.0.0.1:8765/callback"],
                grant_types=["authorization_code", "refresh_token"],
                scopes=["openid", "profile", "phone", "permits:apply", "talent:apply"],
            )
            _insert_as_of(engine, portal)
            table = OAuthClient.__table__

            def scopes() -> list[str]:
                with engine.connect() as connection:
                    return connection.execute(select(table.c.scopes)).scalar_one()

            upgrade(url, "9d4f1b6e2c87")
            assert scopes() == ["openid", "profile", "phone", "permits:apply", "talent:apply", "account"]
            downgrade(url, "41154a52d1e1")
            assert scopes() == ["openid", "profile", "phone", "permits:apply", "talent:apply"]
        finally:
            engine.dispose()
