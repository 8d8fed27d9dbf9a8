"""The demo citizen portal may ask for the new `account` scope (a data fix)

Managing a person's account (their consents, partner mandates and access log) now takes the `account` scope, which
only the city's own apps are registered for. The seed registers the demo portal `demo-web` with it, but the seed
never changes a client already registered: a database seeded before would have left the portal unable to ask for it,
and its people unable to manage their accounts. A production deployment's own first-party clients are given the
scope by an administrator (`PATCH /api/v1/admin/clients/{client_id}`), as the README says. Reviewed by hand.

The downgrade takes the scope off `demo-web` again.

Revision ID: 9d4f1b6e2c87
Revises: 41154a52d1e1
Create Date: 2026-11-25 20:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "9d4f1b6e2c87"
down_revision: str | None = "41154a52d1e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PORTAL, SCOPE = "demo-web", "account"
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
clients = sa.table("oauth_client", sa.column("client_id"), sa.column("scopes", JSON))


def _change(change) -> None:
    connection = op.get_bind()
    row = connection.execute(sa.select(clients.c.scopes).where(clients.c.client_id == PORTAL)).first()
    if row is None:
        return  # not a demo database
    scopes = list(row.scopes or [])
    changed = change(scopes)
    if changed != scopes:
        connection.execute(clients.update().where(clients.c.client_id == PORTAL).values(scopes=changed))


def upgrade() -> None:
    _change(lambda scopes: scopes if SCOPE in scopes else [*scopes, SCOPE])


def downgrade() -> None:
    _change(lambda scopes: [scope for scope in scopes if scope != SCOPE])
