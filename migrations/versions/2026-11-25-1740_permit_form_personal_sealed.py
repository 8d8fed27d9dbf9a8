"""Personal answers of a permit application's form are sealed at rest (a schema change and a data fix)

A service's form attribute may be marked `personal` (an ID or passport number, a phone, a birth date, a salary, a
bank account). An application keeps those answers in `form_sealed`, AES-GCM under the data key and bound to the
application (`permit_form:<id>`), and the rest in `form`; they are shown whole only to the applicant and the officer
the application is assigned to.

The published versions already in the database are the seeded catalogue's, which collected such answers unmarked:
their fields are marked here, by service code and field code, as the catalogue data now marks them. Published versions
are otherwise immutable; the mark changes nothing an applicant is asked, only how the answer is kept and shown, and
without it the answers already given would stay plain and unmasked. Then every application's personal answers, as its
pinned version marks them, are sealed. Reviewed by hand.

The downgrade puts the answers back into `form`, drops the column and takes the mark off every version (the schema
before this revision refuses an attribute it does not know).

Revision ID: b5f0c3d81a27
Revises: 7d2c41a9e5b3
Create Date: 2026-11-25 17:40:00+00:00
"""

import json
from collections.abc import Sequence
from functools import cache

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.crypto import FieldCipher
from core.settings import get_settings

revision: str = "b5f0c3d81a27"
down_revision: str | None = "7d2c41a9e5b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The seeded services' personal fields as of this revision, written out: a migration does not follow the data file.
PERSONAL = {
    "business-licence": ("legal_rep_id_number",),
    "food-business-licence": ("safety_manager_phone",),
    "temporary-road-occupation": ("contact_mobile",),
    "foreign-talent-work-permit": ("passport_number", "date_of_birth", "annual_salary"),
    "residence-permit": ("passport_number",),
    "visa-extension": ("passport_number",),
    "talent-housing-subsidy": ("bank_account",),
    "talent-settlement-allowance": ("bank_account",),
    "talent-children-schooling": ("child_id_number",),
    "talent-medical-green-channel": ("contact_mobile",),
    "talent-spouse-employment": ("spouse_id_number",),
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


def _with_form(content: dict, change) -> dict | None:
    """`content` with each form attribute passed through `change`, or None when nothing changed."""
    form = [change(dict(attribute)) for attribute in content.get("form") or []]
    return {**content, "form": form} if form != (content.get("form") or []) else None


def _marked(attribute: dict, codes: Sequence[str]) -> dict:
    return {**attribute, "personal": True} if attribute.get("code") in codes else attribute


def upgrade() -> None:
    with op.batch_alter_table("permit_application") as batch_op:
        batch_op.add_column(sa.Column("form_sealed", sa.Text(), nullable=True))
    connection = op.get_bind()
    personal: dict[object, frozenset[str]] = {}
    for row in connection.execute(sa.select(services.c.id, services.c.code, services.c.content)).all():
        content = dict(row.content or {})
        changed = _with_form(content, lambda a, marked=PERSONAL.get(row.code, ()): _marked(a, marked))
        content = changed or content
        personal[row.id] = frozenset(a["code"] for a in content.get("form") or [] if a.get("personal"))
        if changed is not None:
            connection.execute(services.update().where(services.c.id == row.id).values(content=changed))
    for row in connection.execute(sa.select(applications.c.id, applications.c.service_id, applications.c.form)).all():
        form = dict(row.form or {})
        sealed = {code: value for code, value in form.items() if code in personal.get(row.service_id, ())}
        if not sealed:
            continue
        plain = {code: value for code, value in form.items() if code not in sealed}
        token = _cipher().encrypt(json.dumps(sealed), context=_context(row.id))
        connection.execute(
            applications.update().where(applications.c.id == row.id).values(form=plain, form_sealed=token)
        )


def downgrade() -> None:
    connection = op.get_bind()
    query = sa.select(applications.c.id, applications.c.form, applications.c.form_sealed).where(
        applications.c.form_sealed.is_not(None)
    )
    for row in connection.execute(query).all():
        answers = json.loads(_cipher().decrypt(row.form_sealed, context=_context(row.id)))
        connection.execute(
            applications.update().where(applications.c.id == row.id).values(form={**(row.form or {}), **answers})
        )
    for row in connection.execute(sa.select(services.c.id, services.c.content)).all():
        changed = _with_form(dict(row.content or {}), lambda a: {k: v for k, v in a.items() if k != "personal"})
        if changed is not None:
            connection.execute(services.update().where(services.c.id == row.id).values(content=changed))
    with op.batch_alter_table("permit_application") as batch_op:
        batch_op.drop_column("form_sealed")
