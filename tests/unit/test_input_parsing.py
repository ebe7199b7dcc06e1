"""What the API refuses before anything runs: Decimal and DateTime outside sane bounds,
text PostgreSQL cannot store, coordinates off the globe (schema/scalars.py,
schema/input_guard.py, domain/geo.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from graphql import GraphQLError, parse

from domain.catalog.service import check_coordinates
from domain.errors import Collector
from schema.input_guard import bad_text_in_variables, text_problem
from schema.scalars import parse_datetime, parse_decimal

DOCUMENT = parse("query($a: [String!]) { products(skuPrefix: $a) { totalCount } }")


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        ("24.90", Decimal("24.90")),
        ("-0.01", Decimal("-0.01")),
        ("1e5", Decimal("1E+5")),
        (12, Decimal(12)),
        (2.5, Decimal("2.5")),
        ("999999999999999999.999999999999999999", Decimal("999999999999999999.999999999999999999")),
    ],
)
def test_a_sane_decimal_is_parsed(given: Any, parsed: Decimal) -> None:
    assert parse_decimal(given) == parsed


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("1e999999", "below 10^18"),
        ("-1e999999", "below 10^18"),
        ("0E+999999", "below 10^18"),
        ("1000000000000000000", "below 10^18"),
        (10**40, "below 10^18"),
        (1e308, "below 10^18"),
        ("1E-999999", "at most 18 decimal places"),
        ("0.0000000000000000001", "at most 18 decimal places"),
        ("NaN", "finite"),
        ("-sNaN", "finite"),
        ("Infinity", "finite"),
        (float("inf"), "finite"),
        ("9" * 1000, "at most 64 characters"),
        ("abc", "a number written as a string"),
        (True, "a number written as a string"),
        ({"amount": 1}, "a number written as a string"),
    ],
)
def test_an_insane_decimal_is_a_bad_user_input(given: Any, why: str) -> None:
    with pytest.raises(GraphQLError) as refused:
        parse_decimal(given)
    assert why in refused.value.message
    assert refused.value.extensions == {"code": "BAD_USER_INPUT"}


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        ("2026-11-23T09:00:00+01:00", dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)),
        ("2026-11-23T09:00:00", dt.datetime(2026, 11, 23, 9)),  # naive, as strawberry's
        ("1900-01-01T00:00:00Z", dt.datetime(1900, 1, 1, tzinfo=dt.UTC)),
    ],
)
def test_a_datetime_is_parsed_as_strawberry_parses_it(given: str, parsed: dt.datetime) -> None:
    assert parse_datetime(given) == parsed


@pytest.mark.parametrize(
    "given",
    [
        "0001-01-01T00:00:00+14:00",  # valid in Python, but not in UTC
        "9999-12-31T23:59:59-14:00",
        "1899-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
        "not a date",
        "2026-11-23T09:00:00+01:00" + " " * 100,
        20261123,
    ],
)
def test_a_datetime_out_of_range_or_malformed_is_a_bad_user_input(given: Any) -> None:
    with pytest.raises(GraphQLError) as refused:
        parse_datetime(given)
    assert refused.value.extensions == {"code": "BAD_USER_INPUT"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("fine é 日本 😀", None),
        ("a\x00b", "NUL"),
        ("a\ud800b", "surrogates"),
        ("\udfff", "surrogates"),
        ("tab\tand\nnewline", None),
    ],
)
def test_text_problems(text: str, problem: str | None) -> None:
    found = text_problem(text)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_clean_variables_are_passed_in_one_go() -> None:
    variables = {"a": [f"SKU-{i}" for i in range(1000)], "b": {"k": [1, 2.5, None, True]}}
    assert bad_text_in_variables(variables, DOCUMENT, None) == []
    # JSON text that merely spells an escape is not a NUL
    assert bad_text_in_variables({"a": ["\\u0000"]}, DOCUMENT, None) == []


def test_every_bad_string_is_reported_with_its_path_in_order() -> None:
    variables = {"a": ["ok", "x\x00", "ok", "\ud800"], "b": {"deep": [{"k\x00": "v"}]}}
    errors = bad_text_in_variables(variables, DOCUMENT, None)
    assert [e.extensions["field"] for e in errors] == [  # type: ignore[index]
        ["a", 1],
        ["a", 3],
        ["b", "deep", 0, "k\N{REPLACEMENT CHARACTER}"],
    ]
    assert errors[0].locations is not None  # the variable's definition in the document
    assert errors[2].message.startswith("Variable '$b' has invalid value at .deep[0].k")


def test_variables_nested_deeper_than_the_interpreter_recurses_are_walked() -> None:
    value: Any = "\x00"
    for _ in range(5000):
        value = [value]
    [error] = bad_text_in_variables({"a": value}, DOCUMENT, None)
    assert len(error.extensions["field"]) == 5001  # type: ignore[index]


def test_the_number_of_errors_reported_is_bounded() -> None:
    errors = bad_text_in_variables({"a": ["\x00"] * 1000}, DOCUMENT, None)
    assert len(errors) == 20


@pytest.mark.parametrize(
    ("latitude", "longitude", "refused"),
    [
        (48.85, 2.38, []),
        (90.0, -180.0, []),
        (None, None, []),
        (1e308, 2.38, ["latitude"]),
        (48.85, -1e308, ["longitude"]),
        (float("nan"), float("inf"), ["latitude", "longitude"]),
    ],
)
def test_coordinates_off_the_globe_are_refused(
    latitude: float | None, longitude: float | None, refused: list[str]
) -> None:
    errors = Collector()
    check_coordinates(errors, latitude, longitude, ["input", "address"])
    assert [e.field for e in errors.errors] == [["input", "address", f] for f in refused]
    assert {e.code for e in errors.errors} <= {"INVALID_COORDINATES"}
