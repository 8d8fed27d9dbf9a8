"""A talent benefit's form takes the talent card numbers actually issued (a data fix)

The six talent benefits asked for the card number in a format no card ever had (`RC-A-000123`, pattern
`^RC-[ABC]-\\d{6}$`), while cards are numbered like `TI-TALENT-2026-000004`: the draft a card opens, filled in with
the card's number, could be neither saved nor sent. Published versions are otherwise immutable; this corrects the
field's pattern (and the description that gave the wrong example) where it is still the wrong one, in every version,
so the drafts already pinned to them can go on. Reviewed by hand.

The downgrade leaves the pattern corrected: the code before this revision reads any pattern, and putting back one that
no card matches would only make the benefit drafts unsendable again.

Revision ID: 7d2c41a9e5b3
Revises: 344776d36dd6
Create Date: 2026-11-25 17:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7d2c41a9e5b3"
down_revision: str | None = "344776d36dd6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELD = "talent_card_no"
WRONG_PATTERN = r"^RC-[ABC]-\d{6}$"
PATTERN = r"^TI-TALENT-\d{4}-\d{6,}$"
DESCRIPTIONS = {
    "人才分类认定后发放，格式如 RC-A-000123。": "人才分类认定后发放的人才卡号，格式如 TI-TALENT-2026-000123。",
    "Issued after talent classification, e.g. RC-A-000123.": (
        "The number of the talent card issued after talent classification, e.g. TI-TALENT-2026-000123."
    ),
}

services = sa.table(
    "catalogue_service",
    sa.column("id", sa.Uuid()),
    sa.column("content", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)


def _corrected(attribute: dict) -> bool:
    """Correct the card number field in place; whether it needed it."""
    validation = attribute.get("validation") or {}
    if attribute.get("code") != FIELD or validation.get("pattern") != WRONG_PATTERN:
        return False
    attribute["validation"] = {**validation, "pattern": PATTERN}
    for language, text in (attribute.get("description") or {}).items():
        attribute["description"][language] = DESCRIPTIONS.get(text, text)
    return True


def upgrade() -> None:
    connection = op.get_bind()
    for row in connection.execute(sa.select(services.c.id, services.c.content)).all():
        content = dict(row.content or {})
        form = [dict(attribute) for attribute in content.get("form") or []]
        corrected = [_corrected(attribute) for attribute in form]  # every field, not only the first
        if any(corrected):
            connection.execute(
                services.update().where(services.c.id == row.id).values(content={**content, "form": form})
            )


def downgrade() -> None:
    pass  # a data fix: see the module's docstring
