"""A holder a form named as its applicant, where citizens may apply, is not public (a data fix)

Until this revision a form's `applicant_name` always counted as a business's name, so a citizen who applied for a
temporary road occupation in their own name was listed, unmasked and searchable, on the public register (and a
renewal carried that on). The rule now (services/permits/service.py, `_holder_in`): a name taken from a form is
public only when it names an organisation. Rows it would not have made public are masked again here. Already signed
permits keep the name they carry (a signature cannot be changed). Reviewed by hand.

Revision ID: 344776d36dd6
Revises: e88884f73e8c
Create Date: 2026-11-25 15:57:00+00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "344776d36dd6"
down_revision: str | None = "e88884f73e8c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rule as of this revision, written out: a migration does not follow later changes of the code.
HOLDER_FIELDS = ("proposed_name", "operator_name", "applicant_name")
ORGANISATION_FIELDS = ("proposed_name", "operator_name")

PUBLIC_IN_CITIZEN_SERVICES = sa.text(
    "SELECT a.id, a.form, a.holder_name FROM permit_application a "
    "JOIN catalogue_service s ON s.id = a.service_id "
    "WHERE a.holder_public AND s.audiences LIKE '%,citizen,%'"
)


def _named_field(form: dict) -> str | None:
    return next((name for name in HOLDER_FIELDS if isinstance(form.get(name), str) and form[name].strip()), None)


def upgrade() -> None:
    connection = op.get_bind()
    masked = []
    for row in connection.execute(PUBLIC_IN_CITIZEN_SERVICES).mappings():
        form = json.loads(row["form"]) if isinstance(row["form"], str) else row["form"] or {}
        field = _named_field(form)
        if field is not None and field not in ORGANISATION_FIELDS:
            masked.append(row["id"])
    for application_id in masked:
        connection.execute(
            sa.text("UPDATE permit_application SET holder_public = false WHERE id = :id"), {"id": application_id}
        )


def downgrade() -> None:
    pass  # a data fix: the names masked again are not made public again
