"""Money: integer minor units plus an ISO 4217 currency code.

Amounts are stored and computed as integers of the currency's minor unit (cents for
EUR, yen for JPY, fils for KWD), so sums are exact. The API speaks decimal strings.
Amounts, given or computed (an order's total), stay below 10^12 units of the currency
(MAX_AMOUNT): a trillion is more than any order or price this service deals in, and
in minor units it still fits a BIGINT with room for sums.
Rounding mode, where one is needed (tax, shares), is ROUND_HALF_EVEN (banker's
rounding), the usual choice of accounting systems. Amounts that are split (discounts,
refunds) use `split_by_largest_remainder`, so the parts always add up to the whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, DecimalException
from functools import lru_cache

import iso4217

from domain.errors import Collector, DomainError

MAX_AMOUNT = 10**12  # units of the currency, exclusive


class InvalidMoney(DomainError):
    code = "INVALID_MONEY"


class CurrencyMismatch(DomainError):
    code = "CURRENCY_MISMATCH"


@lru_cache(maxsize=512)  # every amount shown asks; unknown codes raise, and are not kept
def minor_unit_exponent(currency: str) -> int:
    """Decimal places of a currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    try:
        exponent = iso4217.Currency(currency).exponent
    except ValueError as exc:
        raise InvalidMoney(f"{currency!r} is not an ISO 4217 currency code") from exc
    if exponent is None:  # funds, metals, testing codes: not for selling goods
        raise InvalidMoney(f"{currency!r} is not a currency goods can be sold in")
    return int(exponent)


def is_currency(code: str) -> bool:
    try:
        minor_unit_exponent(code)
    except InvalidMoney:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    @classmethod
    def parse(cls, amount: str | Decimal, currency: str) -> Money:
        """From a decimal amount; refuses more decimals than the currency has."""
        exponent = minor_unit_exponent(currency)
        try:
            value = Decimal(str(amount))
        except (DecimalException, ValueError) as exc:
            raise InvalidMoney(f"{str(amount)[:40]!r} is not a decimal amount") from exc
        if not value.is_finite():
            raise InvalidMoney(f"{amount!r} is not a finite amount")
        # Checked before scaling: 1E+999999 scaled to minor units overflows.
        if value.copy_abs() >= MAX_AMOUNT:
            raise InvalidMoney(
                f"amounts must be below {MAX_AMOUNT:,} {currency}", code="OUT_OF_RANGE"
            )
        scaled = value.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise InvalidMoney(f"{currency} has {exponent} decimal places; {amount} has more")
        return cls(int(scaled), currency)

    @staticmethod
    def max_minor(currency: str) -> int:
        """The largest amount in minor units (MAX_AMOUNT exclusive)."""
        return MAX_AMOUNT * 10 ** minor_unit_exponent(currency) - 1

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @property
    def amount(self) -> Decimal:
        return Decimal(self.minor).scaleb(-minor_unit_exponent(self.currency))

    def __str__(self) -> str:
        exponent = minor_unit_exponent(self.currency)
        return f"{Decimal(self.minor).scaleb(-exponent):.{exponent}f}"

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __mul__(self, quantity: int) -> Money:
        return Money(self.minor * quantity, self.currency)

    def scale(self, factor: Decimal) -> Money:
        """Multiply by a decimal factor, rounding half to even to the minor unit."""
        value = (Decimal(self.minor) * factor).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
        return Money(int(value), self.currency)


def split_by_largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` minor units in proportion to `weights`, parts adding up exactly.

    Each part gets the floor of its exact share; the units left over go one each to
    the parts with the largest remainders (ties to the earliest part), so the result
    is deterministic and sums to `total`.
    """
    if not weights:
        return []
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        shares = [0] * len(weights)
        shares[0] = total
        return shares
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    floors = [magnitude * w // weight_sum for w in weights]
    remainders = [magnitude * w % weight_sum for w in weights]
    left = magnitude - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return [sign * f for f in floors]


def share_of_first_units(total: int, quantity: int, units: int) -> int:
    """What the first `units` of `quantity` units carry of `total` minor units, the total
    spread over the units by largest remainder with equal weights (the first
    `total mod quantity` units carry one extra minor unit). Shares of consecutive units
    add up exactly, so however a line's units are counted (refunded in several
    refunds, or some cancelled and the rest kept) the parts make the whole."""
    if not 0 <= units <= quantity:
        raise ValueError("units must be between 0 and the quantity")
    if quantity == 0:
        return 0
    base, extra = divmod(total, quantity)
    return base * units + min(units, extra)


def check_amount(
    errors: Collector, minor: int, currency: str, at: list[str | int], what: str
) -> None:
    """A computed amount (a line's, an order's) within MAX_AMOUNT, as a userError."""
    if abs(minor) > Money.max_minor(currency):
        errors.add("OUT_OF_RANGE", f"{what} must be below {MAX_AMOUNT:,} {currency}", at)
