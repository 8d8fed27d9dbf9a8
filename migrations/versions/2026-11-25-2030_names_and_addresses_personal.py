"""People's names and home addresses in permit forms are personal answers too (a data fix)

Revision b5f0c3d81a27 sealed ID and passport numbers, phones, birth dates, salaries and bank accounts, but the names
of natural persons the forms ask for (a legal representative, a food safety manager, a foreign worker, a child, a
spouse, a beneficiary) and where people live (a residence or visa holder's local address, the rented home of a
housing subsidy) stayed plain in `form` and were shown to every officer of the department. Here the seeded services'
fields are marked as the catalogue data now marks them, and each application's answers to them join its sealed
answers (`form_sealed`, AES-GCM bound to the application), as that revision did for the others. The names that
become a permit's holder (`proposed_name`, `operator_name`, `applicant_name`) stay in `form`: the holder is shown
on the permit and, for an organisation, on the register. Reviewed by hand.

The downgrade takes these answers out of the seal, back into `form`, and the mark off these fields only.

Revision ID: e3b9d4c7a215
Revises: 82822bbe6410
Create Date: 2026-11-25 20:30:00+00:00
"""

import json
from collections.abc import Sequence
from functools import cache

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.crypto import FieldCipher
from core.settings import get_settings

revision: str = "e3b9d4c7a215"
down_revision: str | None = "82822bbe6410"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The seeded services' fields this revision marks, written out: a migration does not follow the data file.
NAMES_AND_ADDRESSES = {
    "business-licence": ("legal_rep_name",),
    "food-business-licence": ("safety_manager",),
    "foreign-talent-work-permit": ("full_name",),
    "residence-permit": ("surname", "given_names", "local_address"),
    "visa-extension": ("full_name", "local_address"),
    "talent-housing-subsidy": ("housing_address",),
    "talent-children-schooling": ("child_name",),
    "talent-medical-green-channel": ("beneficiary_name",),
    "talent-spouse-employment": ("spouse_name",),
}

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
services = sa.table("catalogue_service", sa.column("id", sa.Uuid()), sa.column("code"), sa.column("content", JSON))
applications = sa.table(
    "permit_application",
    sa.column("id", sa.Uuid()),
    sa.column("service_id", sa.Uuid()),
    sa.column("form", JSON),
    sa.column("form_sealed", sa.Text()),
)


@cache
def _cipher() -> FieldCipher:
    """The data key, read only when there is something to seal or unseal."""
    settings = get_settings()
    return FieldCipher.from_file(settings.data_key_file, create=not settings.is_production)


def _context(application_id: object) -> str:
    return f"permit_form:{application_id}"


def _sealed(row: sa.Row) -> dict:
    return json.loads(_cipher().decrypt(row.form_sealed, context=_context(row.id))) if row.form_sealed else {}


def _seal(application_id: object, answers: dict) -> str | None:
    return _cipher().encrypt(json.dumps(answers), context=_context(application_id)) if answers else None


def _mark(connection: sa.Connection, personal: bool) -> dict[object, frozenset[str]]:
    """Put the mark on (or take it off) these fields in every version of these services; which fields of which
    version (by id) this revision is about."""
    fields: dict[object, frozenset[str]] = {}
    query = sa.select(services.c.id, services.c.code, services.c.content).where(
        services.c.code.in_(list(NAMES_AND_ADDRESSES))
    )
    for row in connection.execute(query).all():
        codes = NAMES_AND_ADDRESSES[row.code]
        content = dict(row.content or {})
        form = [dict(attribute) for attribute in content.get("form") or []]
        for attribute in form:
            if attribute.get("code") in codes:
                if personal:
                    attribute["personal"] = True
                else:
                    attribute.pop("personal", None)
        fields[row.id] = frozenset(a["code"] for a in form if a.get("code") in codes)
        connection.execute(services.update().where(services.c.id == row.id).values(content={**content, "form": form}))
    return fields


def upgrade() -> None:
    connection = op.get_bind()
    fields = _mark(connection, personal=True)
    query = sa.select(applications.c.id, applications.c.service_id, applications.c.form, applications.c.form_sealed)
    for row in connection.execute(query.where(applications.c.service_id.in_(list(fields)))).all():
        form = dict(row.form or {})
        moving = {code: value for code, value in form.items() if code in fields[row.service_id]}
        if not moving:
            continue
        plain = {code: value for code, value in form.items() if code not in moving}
        sealed = _seal(row.id, {**_sealed(row), **moving})
        connection.execute(
            applications.update().where(applications.c.id == row.id).values(form=plain, form_sealed=sealed)
        )


def downgrade() -> None:
    connection = op.get_bind()
    fields = _mark(connection, personal=False)
    query = sa.select(applications.c.id, applications.c.service_id, applications.c.form, applications.c.form_sealed)
    query = query.where(applications.c.service_id.in_(list(fields)), applications.c.form_sealed.is_not(None))
    for row in connection.execute(query).all():
        answers = _sealed(row)
        back = {code: value for code, value in answers.items() if code in fields[row.service_id]}
        if not back:
            continue
        kept = {code: value for code, value in answers.items() if code not in back}
        connection.execute(
            applications.update()
            .where(applications.c.id == row.id)
            .values(form={**(row.form or {}), **back}, form_sealed=_seal(row.id, kept))
        )
