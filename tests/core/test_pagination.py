"""Keyset pages over a real table: complete, disjoint, stable, and a forged cursor is a clean 422."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Uuid, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from core.errors import ValidationFailed
from core.models import new_id
from core.pagination import decode_cursor, encode_cursor, keyset, page_of

scratch = MetaData()
things = Table(
    "things",
    scratch,
    Column("id", Uuid, primary_key=True),
    Column("created_at", DateTime(timezone=True)),
    Column("rank", Integer),
    Column("name", String),
)


@pytest.fixture
async def engine():
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    async with engine.begin() as connection:
        await connection.run_sync(scratch.create_all)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        rows = [
            {"id": new_id(), "created_at": start + timedelta(minutes=i // 3), "rank": i % 4, "name": f"n{i}"}
            for i in range(47)
        ]
        await connection.execute(insert(things), rows)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize("descending", [False, True])
async def test_pages_cover_every_row_once_in_order(engine, descending: bool) -> None:
    order = [things.c.rank, things.c.id]
    seen: list[tuple] = []
    cursor = None
    async with engine.connect() as connection:
        while True:
            stmt = keyset(select(things), order_by=order, cursor=cursor, limit=10, descending=descending)
            rows = (await connection.execute(stmt)).all()
            items, cursor = page_of(rows, limit=10, key=lambda row: (row.rank, row.id))
            seen.extend((row.rank, row.id) for row in items)
            assert len(items) <= 10
            if cursor is None:
                break
    assert len(seen) == 47
    assert len(set(seen)) == 47
    assert seen == sorted(seen, reverse=descending)


async def test_the_last_full_page_has_no_cursor(engine) -> None:
    async with engine.connect() as connection:
        rows = (await connection.execute(keyset(select(things), order_by=[things.c.id], cursor=None, limit=47))).all()
    items, cursor = page_of(rows, limit=47, key=lambda row: (row.id,))
    assert len(items) == 47
    assert cursor is None


def test_cursor_round_trips_uuid_and_datetime() -> None:
    values = (datetime(2026, 11, 24, 8, 30, tzinfo=UTC), uuid.uuid4())
    assert decode_cursor(encode_cursor(values), [things.c.created_at, things.c.id]) == values


@pytest.mark.parametrize("forged", ["", "not-base64!!", "bnVsbA", encode_cursor(["x"]), encode_cursor([1, 2, 3])])
def test_forged_cursor_is_a_validation_error(forged: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(forged or "e30", [things.c.rank, things.c.id])
    assert caught.value.errors[0].location == "query"
    assert caught.value.errors[0].field == "cursor"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("created_at", "2026-01-01T00:00:00"),  # naive: cannot be compared with stored instants
        ("created_at", 1),
        ("id", 1),
        ("id", [1]),
        ("rank", 10**30),  # past the column's range
        ("rank", True),
        ("rank", "1"),
        ("rank", 1.5),
        ("name", 5),
        ("name", None),
        ("name", []),
        ("name", "a\x00b"),  # PostgreSQL stores no NUL
    ],
)
def test_a_tampered_value_of_each_column_type_is_a_validation_error(column: str, value: object) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(encode_cursor([value]), [things.c[column]])


def test_values_of_each_column_type_come_back() -> None:
    columns = [things.c.rank, things.c.name]
    assert decode_cursor(encode_cursor([-3, "n1"]), columns) == (-3, "n1")


def test_uuid7_ids_are_time_ordered_and_version_7() -> None:
    ids = [new_id() for _ in range(200)]
    assert all(value.version == 7 for value in ids)
    assert len(set(ids)) == 200
    # Milliseconds lead, so ids made in different milliseconds sort by time.
    first, *_, last = ids
    assert first.int >> 80 <= last.int >> 80


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("/api/v1/catalogue/services", [[]]),
        ("/api/v1/catalogue/services", [{}]),
        ("/api/v1/catalogue/services", [5]),
        ("/api/v1/catalogue/services", ["a\u0000b"]),
        ("/api/v1/catalogue/services", [10**30]),
        ("/api/v1/talent/rule-sets", ["a", 10**30]),
        ("/api/v1/permits/register?holder=江门", [5]),
    ],
)
async def test_a_tampered_cursor_is_a_422_on_the_apps_lists(client, path: str, values: list) -> None:
    from tests.helpers import assert_problem

    separator = "&" if "?" in path else "?"
    answer = await client.get(f"{path}{separator}cursor={encode_cursor(values)}")
    assert assert_problem(answer, 422)["errors"][0]["field"] == "cursor"
