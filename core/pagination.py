"""Keyset (cursor) pagination: stable under concurrent inserts, and as fast on page 10,000 as on page 1."""

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field
from sqlalchemy import BigInteger, DateTime, Integer, Select, String, literal, tuple_
from sqlalchemy.sql.elements import ColumnElement

from core.errors import ValidationFailed, field_error

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT}).")]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="Opaque cursor from the previous page's `next_cursor`."),
]


def _not_a_number(value: Any) -> Any:
    # Pydantic would read "1700000000" or "0.5" as seconds since 1970: a filter that says so is a mistake, not a date.
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("an ISO 8601 date-time with its offset, e.g. 2026-11-25T09:00:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    # As it is stored and compared. 0001-01-01T00:00+14:00 is a valid date-time whose UTC is not (year 0): it answered
    # 500 where the database driver converted it.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("a date-time between the years 1 and 9999 in UTC") from None


# A list filter's instant: RFC 3339 as the document says, with its offset (a naive one could not be compared with
# the stored instants; it answered 500).
Instant = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_in_utc)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page; null at the end.")


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, columns: Sequence[ColumnElement[Any]]) -> tuple[Any, ...]:
    """The cursor's values converted to the columns' Python types; a bad cursor is a 422, never a 500."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("wrong arity")
        return tuple(_convert(value, column) for value, column in zip(values, columns, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "The cursor is not valid; start again without one.",
            errors=[field_error("cursor", "not a cursor issued by this list", location="query")],
        ) from exc


def _convert(value: Any, column: ColumnElement[Any]) -> Any:
    """The value as the column's type, or ValueError/TypeError: a cursor is the client's to tamper with, and what
    passes here reaches the database (a list, a naive instant, an integer past the column's range or a NUL each
    answered 500)."""
    stored = getattr(column.type, "impl", column.type)  # SQLModel's types are TypeDecorators (AutoString, UTCDateTime)
    if isinstance(stored, DateTime) or column.type.python_type is datetime:
        instant = datetime.fromisoformat(_text(value))
        if instant.tzinfo is None:
            raise ValueError("a naive instant")
        return instant
    if column.type.python_type is uuid.UUID:
        return uuid.UUID(_text(value))
    if isinstance(stored, Integer):
        bits = 64 if isinstance(stored, BigInteger) else 32
        if isinstance(value, bool) or not isinstance(value, int) or not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise ValueError("not an integer of the column's range")
        return value
    if isinstance(stored, String):
        return _text(value)
    raise TypeError(f"no cursor converts to {column.type}")


def _text(value: Any) -> str:
    if not isinstance(value, str) or "\x00" in value or len(value) > 1000:
        raise TypeError("not a text a cursor holds")
    return value


def keyset(
    stmt: Select[Any],
    *,
    order_by: Sequence[ColumnElement[Any]],
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> Select[Any]:
    """`stmt` restricted to the rows after `cursor`, ordered by `order_by` (unique as a whole), one extra row."""
    if cursor:
        # Typed like their columns: asyncpg will not compare a timestamp with an untyped (text) parameter.
        after = tuple_(
            *(
                literal(value, column.type)
                for value, column in zip(decode_cursor(cursor, order_by), order_by, strict=True)
            )
        )
        key = tuple_(*order_by)
        stmt = stmt.where(key < after if descending else key > after)
    ordering = [column.desc() if descending else column.asc() for column in order_by]
    return stmt.order_by(*ordering).limit(limit + 1)


def page_of(rows: Sequence[T], *, limit: int, key: Callable[[T], Sequence[Any]]) -> tuple[list[T], str | None]:
    """Split the `limit + 1` rows from `keyset` into the page and the cursor for the next one."""
    items = list(rows[:limit])
    next_cursor = encode_cursor(key(items[-1])) if len(rows) > limit and items else None
    return items, next_cursor


MAX_OFFSET = 1000


def encode_offset(offset: int) -> str:
    """For ranked results (search), which have no stable key to page by: the cursor is the rank offset."""
    return encode_cursor([offset])


def decode_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        (offset,) = json.loads(raw)
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
            raise ValueError("offset out of range")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "The cursor is not valid; start again without one.",
            errors=[field_error("cursor", "not a cursor issued by this list", location="query")],
        ) from exc
    return offset


def _fingerprint(query: Any) -> str:
    canonical = json.dumps(query, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(hashlib.blake2b(canonical.encode(), digest_size=9).digest()).decode()


def bind_cursor(cursor: str | None, query: Any) -> str | None:
    """`cursor` marked with the query it pages through (its search and filters, as JSON), for `unbind_cursor`.

    A cursor is a position in one query's results: read as a position in another's, it skipped rows without a word.
    The mark is not a secret (a client can forge a cursor it could also have asked for); it catches a mix-up."""
    return f"{cursor}.{_fingerprint(query)}" if cursor else None


def unbind_cursor(cursor: str | None, query: Any) -> str | None:
    """The cursor `bind_cursor` marked for this `query`; a 422 naming the cursor if it came from another one."""
    if not cursor:
        return None
    inner, dot, mark = cursor.rpartition(".")  # base64url has no ".": the mark is what follows the last one
    if not dot or not inner or not hmac.compare_digest(mark.encode(), _fingerprint(query).encode()):
        raise ValidationFailed(
            "The cursor belongs to another query (other search words or filters) or is damaged; start again "
            "without one.",
            errors=[field_error("cursor", "not a cursor issued for this query", location="query")],
        )
    return inner
