"""Catalogue: departments, versioned services, and the bilingual full-text index over them

Revision ID: d7640bfcb668
Revises: c16adb0038c4
Create Date: 2026-11-24 16:00:01.813290+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d7640bfcb668"
down_revision: str | None = "c16adb0038c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "department",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_department")),
    )
    op.create_table(
        "catalogue_service",
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=63), nullable=False),
        sa.Column("audiences", sa.String(length=60), nullable=False),
        sa.Column("title_zh", sa.String(length=200), nullable=False),
        sa.Column("title_en", sa.String(length=200), nullable=False),
        sa.Column("summary_zh", sa.String(length=300), nullable=False),
        sa.Column("summary_en", sa.String(length=300), nullable=False),
        sa.Column("content", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("search_title", sa.String(), nullable=False),
        sa.Column("search_body", sa.String(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["department"], ["department.code"], name=op.f("fk_catalogue_service_department_department")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_service")),
        sa.UniqueConstraint("code", "version", name="uq_catalogue_service_code_version"),
    )
    with op.batch_alter_table("catalogue_service", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalogue_service_code"), ["code"], unique=False)
        batch_op.create_index("ix_catalogue_service_current_code", ["current", "code"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalogue_service_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalogue_service_status"), ["status"], unique=False)

    # The search index over the tokens services/catalogue/search.py writes into search_title and search_body.
    if op.get_bind().dialect.name == "postgresql":
        # Lexemes taken verbatim from the tokens, rewritten into tsvector input syntax ('token':1A), so no
        # text-search configuration or locale can drop or split the Chinese bigrams, and each carries its weight:
        # titles and keywords A, the rest B. Tokens hold only letters, digits and CJK characters: no quote can
        # break the syntax.
        op.execute(
            r"""
            ALTER TABLE catalogue_service ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
                CAST(regexp_replace(search_title, '(\S+)', '''\1''\:1A', 'g') AS tsvector)
                || CAST(regexp_replace(search_body, '(\S+)', '''\1''\:1B', 'g') AS tsvector)
            ) STORED
            """
        )
        op.execute("CREATE INDEX ix_catalogue_service_search ON catalogue_service USING gin (search_vector)")
    else:
        # FTS5 over the table's own columns (external content), kept in step by triggers.
        op.execute(
            "CREATE VIRTUAL TABLE catalogue_service_fts USING fts5(search_title, search_body, "
            "content='catalogue_service', content_rowid='rowid', tokenize='unicode61 remove_diacritics 0')"
        )
        op.execute(
            "CREATE TRIGGER catalogue_service_fts_insert AFTER INSERT ON catalogue_service BEGIN "
            "INSERT INTO catalogue_service_fts(rowid, search_title, search_body) "
            "VALUES (new.rowid, new.search_title, new.search_body); END"
        )
        op.execute(
            "CREATE TRIGGER catalogue_service_fts_delete AFTER DELETE ON catalogue_service BEGIN "
            "INSERT INTO catalogue_service_fts(catalogue_service_fts, rowid, search_title, search_body) "
            "VALUES ('delete', old.rowid, old.search_title, old.search_body); END"
        )
        op.execute(
            "CREATE TRIGGER catalogue_service_fts_update AFTER UPDATE OF search_title, search_body ON catalogue_service "
            "BEGIN "
            "INSERT INTO catalogue_service_fts(catalogue_service_fts, rowid, search_title, search_body) "
            "VALUES ('delete', old.rowid, old.search_title, old.search_body); "
            "INSERT INTO catalogue_service_fts(rowid, search_title, search_body) "
            "VALUES (new.rowid, new.search_title, new.search_body); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_catalogue_service_search")
        op.execute("ALTER TABLE catalogue_service DROP COLUMN IF EXISTS search_vector")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS catalogue_service_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS catalogue_service_fts")
    with op.batch_alter_table("catalogue_service", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalogue_service_status"))
        batch_op.drop_index(batch_op.f("ix_catalogue_service_department"))
        batch_op.drop_index("ix_catalogue_service_current_code")
        batch_op.drop_index(batch_op.f("ix_catalogue_service_code"))

    op.drop_table("catalogue_service")
    op.drop_table("department")
