"""The kernel's housekeeping: rows past their retention go, a batch at a time; nothing still in use goes with them."""

from datetime import datetime, timedelta

from sqlalchemy import select

from core import jobs
from core.db import Database, delete_in_batches
from core.events import OutboxEvent
from core.http.idempotency import IdempotencyRecord
from core.models import first_id_at, new_id, utcnow
from tests.helpers import id_made_at


def test_first_id_at_bounds_the_ids_made_at_that_moment() -> None:
    moment = utcnow()
    made = new_id()
    assert first_id_at(moment - timedelta(milliseconds=1)) < made < first_id_at(moment + timedelta(milliseconds=2))
    assert first_id_at(moment).version == 7
    assert id_made_at(moment) >= first_id_at(moment) > id_made_at(moment - timedelta(milliseconds=1))


def _event(subject: str, status: str, processed_at: datetime | None) -> OutboxEvent:
    return OutboxEvent(name="test.retention", version=1, subject=subject, status=status, processed_at=processed_at)


async def _subjects(db: Database) -> set[str]:
    async with db.transaction(write=False) as session:
        rows = await session.execute(select(OutboxEvent.subject).where(OutboxEvent.name == "test.retention"))
        return set(rows.scalars())


async def test_handled_events_and_spent_keys_past_retention_are_removed(app, db: Database) -> None:
    now = utcnow()
    long_ago = now - jobs.OUTBOX_RETENTION - timedelta(hours=1)
    async with db.transaction() as session:
        session.add_all(
            [
                _event("done-long-ago", "done", long_ago),
                _event("done-yesterday", "done", now - timedelta(days=1)),
                _event("dead-long-ago", "dead", long_ago),  # waits for an administrator
                _event("pending", "pending", None),
            ]
        )
        for key, expires_at in (("spent", now - timedelta(minutes=1)), ("live", now + timedelta(hours=1))):
            session.add(
                IdempotencyRecord(
                    owner="test", key=key, method="POST", path="/x", fingerprint="f", expires_at=expires_at
                )
            )

    await jobs.expire_old_rows(app.state)

    assert await _subjects(db) == {"done-yesterday", "dead-long-ago", "pending"}
    async with db.transaction(write=False) as session:
        keys = await session.execute(select(IdempotencyRecord.key).where(IdempotencyRecord.owner == "test"))
        assert list(keys.scalars()) == ["live"]


async def test_a_purge_goes_batch_by_batch_until_nothing_matches(db: Database) -> None:
    async with db.transaction() as session:
        session.add_all([_event(f"old-{n}", "done", utcnow()) for n in range(7)] + [_event("kept", "pending", None)])

    removed = await delete_in_batches(
        db, OutboxEvent.__table__, OutboxEvent.subject.startswith("old-"), batch=3
    )  # 3 + 3 + 1

    assert removed == 7
    assert await _subjects(db) == {"kept"}


async def test_a_composite_key_is_purged_by_its_whole_key(db: Database) -> None:
    async with db.transaction() as session:
        for owner, key in (("a", "k"), ("b", "k"), ("a", "j")):
            session.add(
                IdempotencyRecord(owner=owner, key=key, method="POST", path="/x", fingerprint="f", expires_at=utcnow())
            )

    removed = await delete_in_batches(db, IdempotencyRecord.__table__, IdempotencyRecord.owner == "a", batch=1)

    assert removed == 2
    async with db.transaction(write=False) as session:
        left = await session.execute(select(IdempotencyRecord.owner, IdempotencyRecord.key))
        assert [tuple(row) for row in left if row.owner in ("a", "b")] == [("b", "k")]
