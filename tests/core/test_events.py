"""The transactional outbox: an event exists if and only if its transaction committed, under a catalogued name."""

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from core.context import bind_request_id, unbind_request_id
from core.db import Database
from core.events import CATALOGUE, Event, OutboxEvent, define_event, emit

SUBMITTED = define_event("test.application.submitted", description="an application was submitted", version=2)


async def outbox(database: Database) -> list[dict]:
    async with database.engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(select(OutboxEvent.__table__))).mappings()]


async def test_emitted_event_commits_with_the_transaction(db: Database) -> None:
    application_id = uuid.uuid4()
    token = bind_request_id("req-77")
    try:
        async with db.transaction() as session:
            emit(
                session,
                Event(
                    SUBMITTED.name,
                    subject=f"test.application:{application_id}",
                    payload={"id": application_id, "at": datetime(2026, 11, 24, tzinfo=UTC), "fee": 12000},
                ),
            )
    finally:
        unbind_request_id(token)
    (event,) = await outbox(db)
    assert event["name"] == "test.application.submitted"
    assert event["version"] == 2
    assert event["subject"] == f"test.application:{application_id}"
    assert event["payload"] == {"id": str(application_id), "at": "2026-11-24T00:00:00Z", "fee": 12000}
    assert event["request_id"] == "req-77"
    assert event["id"].version == 7


async def test_rolled_back_transaction_emits_nothing(db: Database) -> None:
    with pytest.raises(ValueError, match="rejected"):
        async with db.transaction() as session:
            emit(session, Event(SUBMITTED.name, subject="test.application:1"))
            await session.flush()
            raise ValueError("rejected by a guard")
    assert await outbox(db) == []


async def test_unknown_event_name_is_refused(db: Database) -> None:
    async with db.transaction() as session:
        with pytest.raises(KeyError, match="not in the catalogue"):
            emit(session, Event("test.application.teleported", subject="x"))


def test_catalogue_rules() -> None:
    with pytest.raises(ValueError, match="dotted lowercase"):
        define_event("Submitted", description="no domain")
    with pytest.raises(ValueError, match="already declared"):
        define_event("test.application.submitted", description="again", version=3)
    assert define_event("test.application.submitted", description="again", version=2) is SUBMITTED
    assert CATALOGUE["test.application.submitted"].description == "an application was submitted"
