"""Money: integer minor units of an ISO 4217 currency, and exact splitting.

Hand-computed expectations for domain/money.py.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import Collector
from domain.money import (
    MAX_AMOUNT,
    CurrencyMismatch,
    InvalidMoney,
    Money,
    check_amount,
    is_currency,
    minor_unit_exponent,
    split_by_largest_remainder,
)

# --- currencies ------------------------------------------------------------------------


@pytest.mark.parametrize(("currency", "exponent"), [("EUR", 2), ("JPY", 0), ("KWD", 3)])
def test_minor_unit_exponent_of_common_currencies(currency: str, exponent: int) -> None:
    assert minor_unit_exponent(currency) == exponent
    assert is_currency(currency)


@pytest.mark.parametrize("code", ["XYZ", "ABC", "", "EURO", "eur"])
def test_unknown_currency_codes_are_refused(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(InvalidMoney):
        Money.parse("1", code)


@pytest.mark.parametrize("code", ["XAU", "XXX", "XTS"])
def test_metals_and_non_currency_codes_are_refused(code: str) -> None:
    # gold, "no currency" and the testing code have no minor unit: not for selling goods
    assert not is_currency(code)
    with pytest.raises(InvalidMoney):
        Money.parse("1", code)


def test_invalid_money_carries_its_error_code() -> None:
    with pytest.raises(InvalidMoney) as caught:
        Money.parse("1", "XYZ")
    assert caught.value.code == "INVALID_MONEY"


# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("24.90", "EUR", 2490),
        ("24.9", "EUR", 2490),
        ("24", "EUR", 2400),
        ("0.01", "EUR", 1),
        ("0", "EUR", 0),
        ("-3.50", "EUR", -350),
        ("24.900", "EUR", 2490),  # trailing zeros are not extra precision
        ("1500", "JPY", 1500),
        ("1500.0", "JPY", 1500),
        ("1.234", "KWD", 1234),
        ("0.001", "KWD", 1),
        ("12", "KWD", 12000),
    ],
)
def test_parse_scales_to_minor_units(amount: str, currency: str, minor: int) -> None:
    assert Money.parse(amount, currency) == Money(minor, currency)


def test_parse_accepts_a_decimal() -> None:
    assert Money.parse(Decimal("19.99"), "EUR") == Money(1999, "EUR")


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("24.901", "EUR"),
        ("0.001", "EUR"),
        ("1.5", "JPY"),
        ("0.1", "JPY"),
        ("1.2345", "KWD"),
    ],
)
def test_parse_refuses_more_decimals_than_the_currency_has(amount: str, currency: str) -> None:
    with pytest.raises(InvalidMoney):
        Money.parse(amount, currency)


@pytest.mark.parametrize("amount", ["", "abc", "1,50", "12.3.4", "NaN", "Infinity", "-Infinity"])
def test_parse_refuses_what_is_not_a_finite_decimal(amount: str) -> None:
    with pytest.raises(InvalidMoney):
        Money.parse(amount, "EUR")


@pytest.mark.parametrize(
    "amount", ["1000000000000", "-1000000000000", "1e999999", "-1E+999999", "9" * 1000]
)
def test_parse_refuses_amounts_of_a_trillion_and_more_without_overflowing(amount: str) -> None:
    with pytest.raises(InvalidMoney) as refused:
        Money.parse(amount, "EUR")
    assert refused.value.code == "OUT_OF_RANGE"
    assert refused.value.message == "amounts must be below 1,000,000,000,000 EUR"


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("999999999999.99", "EUR", 99_999_999_999_999), ("-999999999999.999", "KWD", -(10**15 - 1))],
)
def test_parse_accepts_amounts_just_below_a_trillion(
    amount: str, currency: str, minor: int
) -> None:
    assert Money.parse(amount, currency).minor == minor
    assert Money.max_minor(currency) == abs(minor)


def test_parse_of_a_vanishingly_small_amount_is_too_precise_not_a_fault() -> None:
    with pytest.raises(InvalidMoney) as refused:
        Money.parse("1E-999999", "EUR")
    assert refused.value.code == "INVALID_MONEY"


def test_a_computed_amount_beyond_the_range_is_a_user_error() -> None:
    errors = Collector()
    check_amount(errors, Money.max_minor("EUR"), "EUR", ["input", "lines"], "the total")
    assert not errors
    check_amount(errors, MAX_AMOUNT * 100, "EUR", ["input", "lines"], "the total")
    [error] = errors.errors
    assert (error.code, error.field) == ("OUT_OF_RANGE", ["input", "lines"])


def test_amount_is_the_decimal_value() -> None:
    assert Money(2490, "EUR").amount == Decimal("24.90")
    assert Money(1500, "JPY").amount == Decimal("1500")
    assert Money(1234, "KWD").amount == Decimal("1.234")


# --- formatting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(2490, "EUR"), "24.90"),
        (Money(5, "EUR"), "0.05"),
        (Money(0, "EUR"), "0.00"),
        (Money(-350, "EUR"), "-3.50"),
        (Money(123456789, "EUR"), "1234567.89"),
        (Money(1500, "JPY"), "1500"),
        (Money(0, "JPY"), "0"),
        (Money(1234, "KWD"), "1.234"),
        (Money(1, "KWD"), "0.001"),
        (Money(0, "KWD"), "0.000"),
    ],
)
def test_str_formats_with_the_currencys_decimal_places(money: Money, text: str) -> None:
    assert str(money) == text


@pytest.mark.parametrize(
    ("amount", "currency"), [("24.90", "EUR"), ("1500", "JPY"), ("1.234", "KWD"), ("-0.05", "EUR")]
)
def test_str_and_parse_round_trip(amount: str, currency: str) -> None:
    money = Money.parse(amount, currency)
    assert str(money) == amount
    assert Money.parse(str(money), currency) == money


# --- arithmetic ------------------------------------------------------------------------


def test_addition_and_subtraction_in_one_currency() -> None:
    assert Money(2490, "EUR") + Money(510, "EUR") == Money(3000, "EUR")
    assert Money(2490, "EUR") - Money(2500, "EUR") == Money(-10, "EUR")


def test_addition_refuses_mixed_currencies() -> None:
    with pytest.raises(CurrencyMismatch):
        Money(100, "EUR") + Money(100, "USD")


def test_subtraction_refuses_mixed_currencies() -> None:
    with pytest.raises(CurrencyMismatch):
        Money(100, "EUR") - Money(100, "JPY")


def test_multiplication_by_a_quantity() -> None:
    assert Money(1999, "EUR") * 3 == Money(5997, "EUR")


def test_zero() -> None:
    assert Money.zero("JPY") == Money(0, "JPY")


def test_scale_rounds_half_to_even() -> None:
    # 0.5 -> 0, 1.5 -> 2, 2.5 -> 2 minor units
    assert Money(1, "EUR").scale(Decimal("0.5")) == Money(0, "EUR")
    assert Money(3, "EUR").scale(Decimal("0.5")) == Money(2, "EUR")
    assert Money(5, "EUR").scale(Decimal("0.5")) == Money(2, "EUR")
    # 20% VAT on 24.99 = 4.998 -> 5.00
    assert Money(2499, "EUR").scale(Decimal("0.2")) == Money(500, "EUR")


# --- split by largest remainder --------------------------------------------------------


def test_split_one_hundred_in_three_equal_parts_gives_the_extra_unit_to_the_first() -> None:
    assert split_by_largest_remainder(100, [1, 1, 1]) == [34, 33, 33]


def test_split_goes_to_the_largest_remainders() -> None:
    # 10 by 1:2:2 -> exact 2, 4, 4: no remainder
    assert split_by_largest_remainder(10, [1, 2, 2]) == [2, 4, 4]
    # 100 by 1:2:3 -> exact 16.67, 33.33, 50 -> floors 16, 33, 50 (99); +1 to the first
    assert split_by_largest_remainder(100, [1, 2, 3]) == [17, 33, 50]
    # 7 by 1:1:1:1 -> 1.75 each -> floors 4; three extra units to the first three
    assert split_by_largest_remainder(7, [1, 1, 1, 1]) == [2, 2, 2, 1]


def test_split_of_a_negative_total_mirrors_the_positive_split() -> None:
    assert split_by_largest_remainder(-100, [1, 1, 1]) == [-34, -33, -33]
    assert split_by_largest_remainder(-100, [1, 2, 3]) == [-17, -33, -50]


def test_split_of_zero_is_all_zeros() -> None:
    assert split_by_largest_remainder(0, [3, 1, 2]) == [0, 0, 0]


def test_split_with_a_zero_weight_gives_that_part_nothing() -> None:
    assert split_by_largest_remainder(101, [0, 1, 1]) == [0, 51, 50]


def test_split_with_all_weights_zero_gives_everything_to_the_first_part() -> None:
    assert split_by_largest_remainder(100, [0, 0, 0]) == [100, 0, 0]
    assert split_by_largest_remainder(-7, [0, 0]) == [-7, 0]


def test_split_into_one_part_is_the_total() -> None:
    assert split_by_largest_remainder(999, [5]) == [999]


def test_split_without_weights_is_empty() -> None:
    assert split_by_largest_remainder(0, []) == []


def test_split_refuses_negative_weights() -> None:
    with pytest.raises(ValueError):
        split_by_largest_remainder(100, [1, -1])


@given(
    total=st.integers(-10_000_000, 10_000_000),
    weights=st.lists(st.integers(0, 1_000_000), min_size=1, max_size=12),
)
def test_split_parts_always_sum_to_the_total(total: int, weights: list[int]) -> None:
    parts = split_by_largest_remainder(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total


@given(
    total=st.integers(-10_000_000, 10_000_000),
    weights=st.lists(st.integers(0, 1_000_000), min_size=1, max_size=12).filter(
        lambda ws: sum(ws) > 0
    ),
)
def test_split_each_part_is_within_one_unit_of_its_exact_share(
    total: int, weights: list[int]
) -> None:
    parts = split_by_largest_remainder(total, weights)
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total * weight, weight_sum)
        assert abs(part - exact) < 1
        if weight == 0:
            assert part == 0
