"""Scalars whose input the API bounds itself (strawberry's own accept any Decimal and
any DateTime Python can hold).

`Decimal` is parsed from a string (or a JSON number) and refused, as a request error
with code BAD_USER_INPUT, when it is not finite (NaN, Infinity), too large or too
precise for any amount this service deals in: `Decimal("1e999999")` is a valid
Python value, but scaling it to minor units overflows, and a thousand-digit number
reaches PostgreSQL as an integer it cannot store. Money has its own, tighter range
(domain/money.py); these bounds keep arithmetic on any Decimal input exact and cheap.

`DateTime` is parsed as strawberry parses it (ISO 8601; without an offset it stays
naive, which each field refuses or reads as UTC) and refused outside 1900-3000 UTC: year 1 with a
+14:00 offset is a valid Python value that no conversion to UTC survives, and a
deadline in year 9999 overflows as soon as a day is added to it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

import dateutil.parser
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

from domain.availability.calendar import iso
from schema.base import PathSegment

MAX_DECIMAL_CHARS = 64
MAX_DECIMAL_INTEGER_DIGITS = 18
MAX_DECIMAL_PLACES = 18


def _refuse(message: str) -> GraphQLError:
    return GraphQLError(f"Decimal {message}", extensions={"code": "BAD_USER_INPUT"})


def parse_decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _refuse('must be a number written as a string, e.g. "24.90"')
    if isinstance(value, int) and abs(value) >= 10**MAX_DECIMAL_INTEGER_DIGITS:
        raise _refuse(f"must be below 10^{MAX_DECIMAL_INTEGER_DIGITS} in magnitude")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_DECIMAL_CHARS:
        raise _refuse(f"must be at most {MAX_DECIMAL_CHARS} characters long")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _refuse('must be a number written as a string, e.g. "24.90"') from None
    if not number.is_finite():
        raise _refuse("must be a finite number, not NaN or Infinity")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    # (a zero's exponent counts too: "0E+999999" scaled to minor units overflows)
    if number.adjusted() >= MAX_DECIMAL_INTEGER_DIGITS or exponent >= MAX_DECIMAL_INTEGER_DIGITS:
        raise _refuse(f"must be below 10^{MAX_DECIMAL_INTEGER_DIGITS} in magnitude")
    if exponent < -MAX_DECIMAL_PLACES:
        raise _refuse(f"must have at most {MAX_DECIMAL_PLACES} decimal places")
    return number


EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
MAX_DATETIME_CHARS = 64
_DATETIME_EXAMPLE = 'an ISO 8601 date and time, e.g. "2026-11-23T09:00:00+01:00"'


def _refuse_datetime(message: str) -> GraphQLError:
    return GraphQLError(f"DateTime {message}", extensions={"code": "BAD_USER_INPUT"})


def parse_datetime(value: object) -> dt.datetime:
    if not isinstance(value, str) or len(value) > MAX_DATETIME_CHARS:
        raise _refuse_datetime(f"must be {_DATETIME_EXAMPLE}")
    try:
        parsed = dateutil.parser.isoparse(value)
        utc = (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise _refuse_datetime(f"must be {_DATETIME_EXAMPLE}, between 1900 and 3000") from None
    if not EARLIEST <= utc < LATEST:
        raise _refuse_datetime("must be between 1900-01-01 and 3000-01-01 (UTC)")
    return parsed


def _utc(value: dt.datetime) -> str:
    return str(iso(value))


# Every DateTime the API answers is one convention: the instant in UTC with a Z. Inputs
# may carry any offset (ISO 8601). Local times (opening hours) come with their zone.
DATETIME = ScalarDefinition(
    name="DateTime",
    description=(
        "An instant, ISO 8601. Answers are always in UTC with a Z (2026-11-26T19:00:00Z); "
        'inputs may carry any offset ("2026-11-23T09:00:00+01:00") and lie between '
        "1900-01-01 and 3000-01-01 UTC."
    ),
    specified_by_url=None,
    serialize=_utc,
    parse_value=parse_datetime,
    parse_literal=None,
    origin=dt.datetime,
)

DECIMAL = ScalarDefinition(
    name="Decimal",
    description=(
        'A decimal number as a string, e.g. "24.90": finite, below 10^18 in magnitude, '
        "with at most 18 decimal places."
    ),
    specified_by_url=None,
    serialize=str,
    parse_value=parse_decimal,
    parse_literal=None,
    origin=Decimal,
)


def _path_segment(value: object) -> int | str:
    return value if isinstance(value, int) and not isinstance(value, bool) else str(value)


PATH_SEGMENT = ScalarDefinition(
    name="PathSegment",
    description=(
        "One step of a path into an input: a field name (String) or a list index (Int), "
        "as in GraphQL error paths."
    ),
    specified_by_url=None,
    serialize=_path_segment,
    parse_value=_path_segment,
    parse_literal=None,
)

SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {
    Decimal: DECIMAL,
    dt.datetime: DATETIME,
    PathSegment: PATH_SEGMENT,
}
