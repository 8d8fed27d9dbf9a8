"""The audit trail: gapless under concurrency, atomic with the change, and every kind of tampering is located."""

import asyncio
import base64
import hashlib
import itertools
import json
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from core import audit
from core.audit.chain import GENESIS_HASH, chain_hash, entry_body, hashed_message
from core.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from core.audit.sequencer import AuditSequencer
from core.context import Actor
from core.db import Database
from core.events import Event, OutboxEvent, define_event, emit
from core.models import new_id, utcnow
from core.settings import Settings
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for

TAMPER = define_event("test.audit.tampered", description="a test event")


async def chain(database: Database) -> int:
    """One sequencer pass (PostgreSQL chains in the background; SQLite already chained at commit)."""
    async with database.transaction() as session:
        return await audit.chain_pending(session)


async def append(database: Database, n: int, *, prefix: str = "test.entry") -> None:
    for i in range(n):
        async with database.transaction() as session:
            audit.record(session, action=prefix, object_type="thing", object_id=i, detail={"i": i})
        await chain(database)


async def verify(database: Database) -> audit.VerifyReport:
    async with database.transaction(write=False) as session:
        return await audit.verify(session)


async def tamper(database: Database, *statements: str, **params: object) -> None:
    """Run raw SQL as a database superuser would, past the append-only triggers."""
    async with database.write_engine.begin() as connection:
        if not database.is_sqlite:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await connection.execute(text(statement), params)


async def head(database: Database) -> int:
    """The sequence number of the newest chained entry (the seed writes some before every test)."""
    async with database.engine.connect() as connection:
        return (await connection.execute(select(AuditHead.__table__.c.seq))).scalar_one()


async def rows(database: Database) -> list[dict]:
    """The chained entries in order."""
    table = AuditEvent.__table__
    async with database.engine.connect() as connection:
        result = await connection.execute(select(table).where(table.c.seq.is_not(None)).order_by(table.c.seq))
        return [dict(row) for row in result.mappings()]


async def chain_with_checkpoints(database: Database) -> int:
    """30 entries after the current head `base`, signed checkpoints at base + 10, 20 and 30; returns `base`."""
    base = await head(database)
    for _ in range(3):
        await append(database, 10)
        async with database.transaction() as session:
            await audit.checkpoint_now(session)
    return base


async def test_entries_chain_and_verify(db: Database) -> None:
    base = await head(db)
    await append(db, 5)
    entries = await rows(db)
    assert [entry["seq"] for entry in entries] == list(range(1, base + 6))
    assert entries[0]["prev_hash"] == GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after["prev_hash"] == before["hash"]
        assert after["hash"] == chain_hash(before["hash"], after["seq"], entry_body(after))
    report = await verify(db)
    assert report.ok
    assert (report.checked, report.head_seq) == (base + 5, base + 5)


async def test_entry_records_who_what_when(db: Database) -> None:
    async with db.transaction() as session:
        audit.record(
            session,
            action="permit.application.approved",
            object_type="application",
            object_id="A-1",
            outcome="success",
            detail={"reason": "complete", "password": "hunter2", "nested": {"refresh_token": "r"}},
            actor=Actor(subject="officer-7", client_id="officer-console", address="10.1.2.3"),
        )
    await chain(db)
    entry = (await rows(db))[-1]
    assert entry["subject"] == "officer-7"
    assert entry["client_id"] == "officer-console"
    assert entry["address"] == "10.1.2.3"
    assert (entry["action"], entry["object_type"], entry["object_id"]) == (
        "permit.application.approved",
        "application",
        "A-1",
    )
    assert entry["occurred_at"].tzinfo is not None
    # No secrets in the trail, whatever the caller passed.
    assert entry["detail"] == {
        "reason": "complete",
        "password": "[redacted]",
        "nested": {"refresh_token": "[redacted]"},
    }


def _entry(**overrides: object) -> dict:
    return {
        "occurred_at": datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
        "subject": "s",
        "client_id": None,
        "address": None,
        "request_id": None,
        "action": "x",
        "object_type": None,
        "object_id": None,
        "outcome": "success",
        "detail": {},
        **overrides,
    }


def test_canonical_form_ignores_key_order_and_unicode_form() -> None:
    composed = unicodedata.normalize("NFC", "Zoë 张三")
    decomposed = unicodedata.normalize("NFD", "Zoë 张三")
    assert composed != decomposed
    first = _entry(detail={"name": composed, "a": 1, "b": [1, 2]})
    second = dict(reversed(_entry(detail={"b": [1, 2], "a": 1, "name": decomposed}).items()))
    assert audit.canonical_json(first) == audit.canonical_json(second)
    assert entry_body(first) == entry_body(second)
    assert chain_hash(GENESIS_HASH, 1, entry_body(first)) == chain_hash(GENESIS_HASH, 1, entry_body(second))
    assert chain_hash(GENESIS_HASH, 1, entry_body(first)) != chain_hash(GENESIS_HASH, 2, entry_body(first))


def test_hashed_bytes_are_the_canonical_json_of_entry_and_seq() -> None:
    entry = _entry(detail={"名称": "人才岛", "n": 3})
    body = entry_body(entry)
    assert hashed_message(42, body) == audit.canonical_json({"entry": json.loads(body), "seq": 42})
    assert hashlib.sha256(bytes(32) + hashed_message(1, body)).hexdigest() == chain_hash(GENESIS_HASH, 1, body)


async def test_rolled_back_transaction_leaves_no_entry_and_no_event(db: Database) -> None:
    base = await head(db)
    before = await rows(db)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            audit.record(session, action="test.entry")
            emit(session, Event(TAMPER.name, subject="thing:1", payload={"x": 1}))
            await session.flush()
            raise RuntimeError("the change failed")
    assert await rows(db) == before
    async with db.engine.connect() as connection:
        events = select(func.count()).select_from(OutboxEvent.__table__).where(OutboxEvent.name == TAMPER.name)
        assert (await connection.execute(events)).scalar() == 0
        pending = select(func.count()).select_from(AuditEvent.__table__).where(AuditEvent.__table__.c.seq.is_(None))
        assert (await connection.execute(pending)).scalar() == 0
    assert await head(db) == base
    # And the next transaction continues the chain without a gap.
    await append(db, 1)
    assert (await rows(db))[-1]["seq"] == base + 1
    assert (await verify(db)).ok


async def test_entries_are_written_with_the_change_then_chained(db: Database, backend: str) -> None:
    base = await head(db)
    async with db.transaction() as session:
        audit.record(session, action="test.entry")
    report = await verify(db)
    assert report.ok
    if backend == "postgresql":
        # Written (it committed with its change), waiting for the sequencer.
        assert (report.pending, report.head_seq) == (1, base)
        assert await chain(db) == 1
    else:
        # SQLite chains inside the write transaction.
        assert (report.pending, report.head_seq) == (0, base + 1)
        assert await chain(db) == 0
    report = await verify(db)
    assert (report.ok, report.pending, report.head_seq, report.checked) == (True, 0, base + 1, base + 1)


async def test_sequencer_task_chains_in_the_background(db: Database) -> None:
    base = await head(db)
    sequencer = AuditSequencer(db, idle_seconds=0.02)
    sequencer.start()
    try:
        for i in range(5):
            async with db.transaction() as session:
                audit.record(session, action="test.background", object_id=i)
        for _ in range(100):
            if (await verify(db)).head_seq == base + 5:
                break
            await asyncio.sleep(0.02)
    finally:
        await sequencer.stop()
    report = await verify(db)
    assert (report.ok, report.head_seq, report.pending) == (True, base + 5, 0)


async def test_hundred_concurrent_appends_leave_no_fork_and_no_gap(db: Database) -> None:
    async def one(i: int) -> None:
        async with db.transaction() as session:
            audit.record(session, action="test.concurrent", object_id=i)
            if i % 3 == 0:
                audit.record(session, action="test.concurrent.second", object_id=i)
        if i % 10 == 0:
            await chain(db)  # sequencers racing the writers and each other

    base = await head(db)
    await asyncio.gather(*(one(i) for i in range(100)), *(chain(db) for _ in range(5)))
    await chain(db)
    entries = await rows(db)
    assert [entry["seq"] for entry in entries] == list(range(1, base + 135))
    assert len({entry["prev_hash"] for entry in entries}) == base + 134  # no two entries share a predecessor
    assert sorted(int(entry["object_id"]) for entry in entries if entry["action"] == "test.concurrent") == list(
        range(100)
    )
    assert (await verify(db)).ok


async def test_checkpoints_every_n_entries(settings: Settings, db: Database) -> None:
    frequent = Database(settings.model_copy(update={"audit_checkpoint_every": 5}))  # chains after each append
    base = await head(db)
    try:
        await append(frequent, 12)
        async with frequent.engine.connect() as connection:
            seqs = (await connection.execute(select(AuditCheckpoint.__table__.c.seq))).scalars().all()
    finally:
        await frequent.dispose()
    # The seed's entries were checkpointed at `base`; then one every 5 entries.
    assert sorted(seqs) == [base, base + 5, base + 10]


async def test_changed_byte_is_located(db: Database) -> None:
    base = await chain_with_checkpoints(db)
    await tamper(db, "UPDATE audit_event SET object_id = '99' WHERE seq = :seq", seq=base + 5)
    report = await verify(db)
    assert (report.ok, report.broken_at) == (False, base + 5)
    assert "content was changed" in report.reason


async def test_deleted_row_is_located(db: Database) -> None:
    base = await chain_with_checkpoints(db)
    await tamper(db, "DELETE FROM audit_event WHERE seq = :seq", seq=base + 7)
    report = await verify(db)
    assert (report.ok, report.broken_at) == (False, base + 7)
    assert "missing" in report.reason


async def test_swapped_rows_are_located(db: Database) -> None:
    base = await chain_with_checkpoints(db)
    await tamper(
        db,
        "UPDATE audit_event SET seq = -1 WHERE seq = :a",
        "UPDATE audit_event SET seq = :a WHERE seq = :b",
        "UPDATE audit_event SET seq = :b WHERE seq = -1",
        a=base + 12,
        b=base + 13,
    )
    report = await verify(db)
    assert (report.ok, report.broken_at) == (False, base + 12)
    assert "does not link" in report.reason


async def _insert_forged(db: Database, *, at: int, rewrite_tail: bool) -> None:
    """Shift entries >= `at` up by one and insert a forged entry with a valid hash at `at`."""
    entries = await rows(db)
    before = entries[at - 2]
    forged = {
        **before,
        "id": new_id(),
        "seq": at,
        "action": "forged.grant",
        "detail": {"role": "admin"},
        "prev_hash": before["hash"],
    }
    forged["hash"] = chain_hash(before["hash"], at, entry_body(forged))
    shifted = [{**entry, "seq": entry["seq"] + 1} for entry in entries[at - 1 :]]
    if rewrite_tail:
        # A careful forger recomputes every later hash so the chain links again.
        prev = forged["hash"]
        for entry in shifted:
            entry["prev_hash"] = prev
            entry["hash"] = prev = chain_hash(prev, entry["seq"], entry_body(entry))
    async with db.write_engine.begin() as connection:
        if not db.is_sqlite:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        table = AuditEvent.__table__
        await connection.execute(table.delete().where(table.c.seq >= at))
        await connection.execute(table.insert(), [forged, *shifted])
        last = shifted[-1]
        await connection.execute(AuditHead.__table__.update().values(seq=last["seq"], hash=last["hash"]))


async def test_inserted_forged_row_is_located(db: Database) -> None:
    base = await chain_with_checkpoints(db)
    await _insert_forged(db, at=base + 15, rewrite_tail=False)
    report = await verify(db)
    assert (report.ok, report.broken_at) == (False, base + 16)
    assert "does not link" in report.reason


async def test_forged_row_with_rewritten_tail_is_caught_by_the_next_checkpoint(db: Database) -> None:
    base = await chain_with_checkpoints(db)
    await _insert_forged(db, at=base + 15, rewrite_tail=True)
    report = await verify(db)
    assert (report.ok, report.broken_at, report.last_good_checkpoint) == (False, base + 20, base + 10)
    assert f"rewritten after checkpoint {base + 10}" in report.reason


async def test_truncated_tail_is_caught_against_the_last_checkpoint(db: Database) -> None:
    base = await chain_with_checkpoints(db)
    entries = await rows(db)
    await tamper(
        db,
        "DELETE FROM audit_event WHERE seq > :keep",
        "UPDATE audit_head SET seq = :keep, hash = :hash",
        keep=base + 25,
        hash=entries[base + 24]["hash"],
    )
    report = await verify(db)
    assert (report.ok, report.broken_at) == (False, base + 26)
    assert f"checkpoint {base + 30} signed them" in report.reason


async def test_forged_checkpoint_is_refused(db: Database) -> None:
    base = await chain_with_checkpoints(db)
    await tamper(db, "UPDATE audit_checkpoint SET hash = :fake WHERE seq = :seq", fake="f" * 64, seq=base + 20)
    report = await verify(db)
    assert (report.ok, report.broken_at) == (False, base + 20)
    assert "not signed by a trusted audit key" in report.reason


async def test_trail_refuses_update_and_delete_on_postgresql(db: Database, backend: str) -> None:
    await append(db, 2)
    statements = ["UPDATE audit_event SET action = 'x'", "DELETE FROM audit_event", "TRUNCATE audit_event"]
    if backend == "postgresql":
        for statement in statements:
            with pytest.raises(DBAPIError, match="append-only"):
                async with db.write_engine.begin() as connection:
                    await connection.execute(text(statement))
        assert (await verify(db)).ok
    else:
        # The embedded SQLite file has no trigger; the chain still exposes the change.
        async with db.write_engine.begin() as connection:
            await connection.execute(text(statements[0]))
        assert (await verify(db)).broken_at == 1


@pytest.fixture
async def auditor(app) -> dict[str, str]:
    return bearer(await token_for(app, "auditor", "audit:read"))


async def test_audit_api_requires_the_auditor(client, app) -> None:
    assert_problem(await client.get("/api/v1/audit/events"), 401, "unauthorized")
    assert_problem(await client.get("/api/v1/audit/verify", headers={"Authorization": "Bearer nope"}), 401)
    # The right role without the scope, and the scope without the role, are both refused.
    officer = await token_for(app, "officer.market", "audit:read")
    assert_problem(await client.get("/api/v1/audit/events", headers=bearer(officer)), 403, "forbidden")
    no_scope = await token_for(app, "auditor", "openid")
    assert_problem(await client.get("/api/v1/audit/events", headers=bearer(no_scope)), 403, "insufficient-scope")


async def test_audit_api_lists_filters_and_pages(client, db: Database, auditor) -> None:
    AUDITOR = auditor
    base = await head(db)
    await append(db, 7, prefix="auth.login.succeeded")
    await append(db, 3, prefix="catalogue.service.published")
    page = (await client.get("/api/v1/audit/events", params={"limit": 4}, headers=AUDITOR)).json()
    assert [item["seq"] for item in page["items"]] == [base + 10, base + 9, base + 8, base + 7]
    rest = (
        await client.get("/api/v1/audit/events", params={"limit": 4, "cursor": page["next_cursor"]}, headers=AUDITOR)
    ).json()
    assert [item["seq"] for item in rest["items"]] == [base + 6, base + 5, base + 4, base + 3]
    logins = (
        await client.get("/api/v1/audit/events", params={"action_prefix": "auth.", "limit": 100}, headers=AUDITOR)
    ).json()
    assert {item["action"] for item in logins["items"]} == {"auth.login.succeeded"}
    assert len(logins["items"]) == 7
    assert logins["next_cursor"] is None
    one = (await client.get("/api/v1/audit/events", params={"object_id": "2"}, headers=AUDITOR)).json()
    assert {item["seq"] for item in one["items"]} == {base + 3, base + 10}
    assert_problem(await client.get("/api/v1/audit/events", params={"limit": 1000}, headers=AUDITOR), 422)
    # Time filters take an instant with its offset; one without (or a bare number) is a 422, not a 500.
    latest = page["items"][0]["occurred_at"]
    since = (await client.get("/api/v1/audit/events", params={"occurred_after": latest}, headers=AUDITOR)).json()
    assert [item["seq"] for item in since["items"]] == [base + 10]
    for vague in (latest.removesuffix("Z").split("+")[0], "1700000000"):
        refused = await client.get("/api/v1/audit/events", params={"occurred_after": vague}, headers=AUDITOR)
        assert assert_problem(refused, 422)["errors"][0]["field"] == "occurred_after"


async def test_audit_api_verifies_and_reports_tampering(client, db: Database, auditor) -> None:
    base = await chain_with_checkpoints(db)
    good = (await client.get("/api/v1/audit/verify", headers=auditor)).json()
    assert good["ok"] is True
    assert good["checked"] == base + 30
    assert good["checkpoints_checked"] == 4
    await tamper(db, "UPDATE audit_event SET outcome = 'failure' WHERE seq = :seq", seq=base + 3)
    bad = (await client.get("/api/v1/audit/verify", headers=auditor)).json()
    assert (bad["ok"], bad["broken_at"]) == (False, base + 3)


async def test_exported_checkpoints_verify_with_the_published_key_alone(client, db: Database, auditor) -> None:
    base = await chain_with_checkpoints(db)
    export = (await client.get("/api/v1/audit/checkpoints", headers=auditor)).json()
    keys = {
        key["kid"]: Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(key["x"] + "=="))
        for key in export["keys"]
    }
    assert [item["seq"] for item in export["items"]] == [base, base + 10, base + 20, base + 30]
    entries = await rows(db)
    for item in export["items"]:
        signature = base64.urlsafe_b64decode(item["signature"] + "==")
        keys[item["key_id"]].verify(signature, item["message"].encode())  # raises if invalid
        assert item["hash"] == entries[item["seq"] - 1]["hash"]


async def test_audit_api_lists_only_chained_entries(client, db: Database, auditor, backend: str) -> None:
    base = await head(db)
    async with db.transaction() as session:
        audit.record(session, action="test.unchained")
    page = await client.get("/api/v1/audit/events", params={"action": "test.unchained"}, headers=auditor)
    assert page.status_code == 200
    # PostgreSQL chains in the background: until then the entry is written but not yet in the trail.
    assert len(page.json()["items"]) == (0 if backend == "postgresql" else 1)
    await chain(db)
    page = await client.get("/api/v1/audit/events", params={"action": "test.unchained"}, headers=auditor)
    assert [item["seq"] for item in page.json()["items"]] == [base + 1]


async def test_a_chain_rewritten_once_its_checkpoints_were_removed_shows_as_unsealed(db: Database) -> None:
    """Past the triggers, a forger removes the checkpoints, changes an entry and recomputes every hash; the next
    signing then covers the forgery and every link holds. What still shows is that the entries went unsigned far
    longer than the policy allows: the report names them (an auditor's exported checkpoints then tell which)."""
    base = await chain_with_checkpoints(db)
    assert not [span for span in (await verify(db)).unsealed if span.to_seq > base]
    two_hours_ago = utcnow() - timedelta(hours=2)
    entries = [entry for entry in await rows(db) if entry["seq"] > base]
    prev = (await rows(db))[base - 1]["hash"] if base else GENESIS_HASH
    async with db.write_engine.begin() as connection:
        if not db.is_sqlite:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        table = AuditEvent.__table__
        await connection.execute(AuditCheckpoint.__table__.delete())
        for entry in entries:
            changed = {**entry, "occurred_at": two_hours_ago}
            if entry["seq"] == base + 5:
                changed["detail"] = {"i": "forged"}
            changed["prev_hash"], changed["hash"] = prev, chain_hash(prev, entry["seq"], entry_body(changed))
            prev = changed["hash"]
            await connection.execute(
                table.update()
                .where(table.c.id == entry["id"])
                .values(
                    occurred_at=changed["occurred_at"],
                    detail=changed["detail"],
                    prev_hash=changed["prev_hash"],
                    hash=prev,
                )
            )
        await connection.execute(AuditHead.__table__.update().values(hash=prev, checkpoint_seq=0, checkpoint_at=None))
    async with db.transaction() as session:
        await audit.checkpoint_now(session)  # the next signing covers the rewritten chain
    report = await verify(db)
    assert report.ok  # every link holds
    [span] = [span for span in report.unsealed if span.from_seq <= base + 5 <= span.to_seq]
    assert (span.to_seq, span.signed_at is not None) == (base + 30, True)
    assert span.signed_at - span.oldest_at > timedelta(hours=1)
