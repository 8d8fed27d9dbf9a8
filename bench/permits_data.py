"""Grow the bench database to N permit applications, spread over every permit service (so over their departments:
the market officer's queue holds a quarter of them), in the states an officer's queue shows, with deadlines around
now. PostgreSQL builds them in one INSERT ... SELECT over generate_series; SQLite in batches."""

import sys
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, func, insert, select, text

from core.db import sync_url
from services.catalogue.models import ServiceVersion
from services.permits.models import PermitApplication

STATES = ["screening", "under_review", "awaiting_applicant", "pending_payment", "submitted"]


def grow(database_url: str, total: int) -> None:
    engine = create_engine(sync_url(database_url))
    with engine.begin() as connection:
        have = connection.execute(select(func.count()).select_from(PermitApplication)).scalar_one()
        missing = total - have
        if missing <= 0:
            return
        services = connection.execute(
            select(ServiceVersion.id, ServiceVersion.code, ServiceVersion.version, ServiceVersion.department)
            .where(ServiceVersion.kind == "permit", ServiceVersion.current.is_(True))
            .order_by(ServiceVersion.code)
        ).all()
        applicant = connection.execute(
            text("SELECT id FROM account WHERE kind = 'citizen' ORDER BY id LIMIT 1")
        ).scalar()
        if engine.dialect.name == "postgresql":
            _postgres(connection, services, applicant, have, missing)
        else:
            _batches(connection, services, applicant, have, missing)
    if engine.dialect.name == "postgresql":
        # Settle the bulk load before measuring: statistics, visibility map, and the dirty pages written out, so the
        # load is not timed against a checkpoint flushing a million fresh rows.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE) permit_application"))
            connection.execute(text("CHECKPOINT"))
    engine.dispose()


def _postgres(connection, services, applicant, start: int, count: int) -> None:
    values = ", ".join(
        f"({i}, '{row.id}'::uuid, '{row.code}', {row.version}, '{row.department}')" for i, row in enumerate(services)
    )
    states = "ARRAY[" + ", ".join(f"'{state}'" for state in STATES) + "]"
    connection.execute(
        text(
            f"""
            WITH services(n, id, code, version, department) AS (VALUES {values})
            INSERT INTO permit_application (
                id, version, created_at, updated_at, reference, service_id, service_code, service_version,
                department, applicant_id, holder_name, status, form, fees, fee_total, rejection_proposed, conditions,
                paused_seconds, submitted_at, due_at, risk_at
            )
            SELECT gen_random_uuid(), 1, now(), now(), 'BENCH-' || lpad(g::text, 8, '0'), s.id, s.code, s.version,
                   s.department, :applicant, '压测企业 ' || g, ({states})[1 + g % {len(STATES)}], '{{}}'::jsonb,
                   '[]'::jsonb, 0, false, '[]'::jsonb, 0,
                   now() - (g % 20) * interval '1 day', now() + ((g % 31) - 10) * interval '1 day',
                   now() + ((g % 31) - 12) * interval '1 day'
            FROM generate_series(:first, :last) AS g
            JOIN services s ON s.n = g % {len(services)}
            """  # noqa: S608 (our own catalogue rows and constants, no outside input)
        ),
        {"applicant": applicant, "first": start + 1, "last": start + count},
    )


def _batches(connection, services, applicant, start: int, count: int) -> None:
    now = datetime.now(UTC)
    for first in range(start + 1, start + count + 1, 10_000):
        rows = []
        for g in range(first, min(first + 10_000, start + count + 1)):
            service = services[g % len(services)]
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "reference": f"BENCH-{g:08d}",
                    "service_id": service.id,
                    "service_code": service.code,
                    "service_version": service.version,
                    "department": service.department,
                    "applicant_id": applicant,
                    "holder_name": f"压测企业 {g}",
                    "status": STATES[g % len(STATES)],
                    "form": {},
                    "fees": [],
                    "conditions": [],
                    "submitted_at": now - timedelta(days=g % 20),
                    "due_at": now + timedelta(days=g % 31 - 10),
                    "risk_at": now + timedelta(days=g % 31 - 12),
                }
            )
        connection.execute(insert(PermitApplication), rows)


if __name__ == "__main__":
    grow(sys.argv[1], int(sys.argv[2]))
